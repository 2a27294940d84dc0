// IPVS through generic netlink, on one socket held for the proxy's lifetime. A sync's changes
// are written as a few datagrams packed with messages (the kernel handles every message of a
// datagram in turn, inside the send call) and no acknowledgement is asked for except on the
// last request, so only failures come back. The table is read with one dump of the services and
// one read of /proc/net/ip_vs, which lists every real server with its connection counts. This is the thin,
// effectful side; message layouts are in genl-codec.ts.
import { readFile } from 'node:fs/promises';
import {
  createGenericNetlink,
  FlagsGet,
  type GenericNetlinkSocket,
  MessageType,
  type NetlinkMessage,
  parseError,
} from 'netlink';
import {
  Cmd,
  destAttr,
  genlMessage,
  IPVS_GENL_NAME,
  IPVS_GENL_VERSION,
  NLM_F_REQUEST,
  parseService,
  serviceAttr,
} from './genl-codec.js';
import { vsKey } from './types.js';
import type { IpvsOp } from './types.js';
import { type ConnectionCounts, type KernelVirtualServer, parseIpvsadmSave, parseProcIpVs } from './ipvsadm.js';
import { ipvsSave } from './kernel.js';

/** Bytes of messages per datagram: well under the socket's send buffer. */
const DATAGRAM_BYTES = 128 * 1024;

export interface KernelIpvs {
  services: Map<string, KernelVirtualServer>;
  /** "vsKey rsKey" -> connections, for every real server. */
  counts: Map<string, ConnectionCounts>;
}

export class IpvsOpError extends Error {
  constructor(
    readonly failures: ReadonlyArray<{ op: string; error: string }>,
    total: number,
  ) {
    super(
      `${failures.length} of ${total} IPVS changes failed: ${failures
        .slice(0, 3)
        .map((f) => `${f.op}: ${f.error}`)
        .join('; ')}`,
    );
    this.name = 'IpvsOpError';
  }
}

export class IpvsNetlink {
  /** Sequence numbers of batched messages, apart from those the socket's requests use. */
  private seq = 0x40000000;

  private constructor(
    private readonly sock: GenericNetlinkSocket,
    private readonly family: number,
  ) {}

  /** Open a socket and find the IPVS family; undefined when the kernel has no IPVS loaded. */
  static async open(): Promise<IpvsNetlink | undefined> {
    const sock = createGenericNetlink();
    try {
      const [fam] = await sock.ctrlRequest(
        3 /* CTRL_CMD_GETFAMILY */,
        { familyName: IPVS_GENL_NAME },
        { timeout: 10_000 },
      );
      if (fam?.familyId === undefined) throw new Error('no family id');
      // An idle socket must not keep the process alive.
      sock.socket.unref();
      return new IpvsNetlink(sock, fam.familyId);
    } catch {
      sock.socket.close();
      return undefined;
    }
  }

  close(): void {
    this.sock.socket.close();
  }

  /** The whole IPVS table (IPv4, non-fwmark services), with connection counts. */
  async read(): Promise<KernelIpvs> {
    // Services from one netlink dump (/proc shows persistence timeouts in jiffies); their real
    // servers and connection counts from /proc/net/ip_vs, instead of one dump per service.
    const proc = parseProcIpVs(await readFile('/proc/net/ip_vs', 'utf8'));
    let settings: Array<ReturnType<typeof parseService>>;
    try {
      const [msgs] = await this.sock.request(this.family, Cmd.GET_SERVICE, IPVS_GENL_VERSION, [], {
        flags: FlagsGet.DUMP,
        timeout: 5_000,
      });
      settings = msgs.map((m) => parseService(m.data));
    } catch {
      // A dump that never answers must not stall the sync: ipvsadm reads the same settings.
      settings = [...parseIpvsadmSave(await ipvsSave()).values()];
    }
    const services = new Map<string, KernelVirtualServer>();
    for (const s of settings) {
      if (s) services.set(vsKey(s), { ...s, realServers: proc.services.get(vsKey(s))?.realServers ?? [] });
    }
    return { services, counts: proc.counts };
  }

  /** Connection counts of every real server: one read of /proc/net/ip_vs. */
  async readCounts(): Promise<KernelIpvs['counts']> {
    return parseProcIpVs(await readFile('/proc/net/ip_vs', 'utf8')).counts;
  }

  /** Send every change: deletes, then services, then real servers, each phase one batch. */
  async apply(ops: readonly IpvsOp[]): Promise<void> {
    const failures: Array<{ op: string; error: string }> = [];
    const phases: IpvsOp['kind'][][] = [
      ['deleteServer', 'deleteService'],
      ['addService', 'editService'],
      ['addServer', 'editServer'],
    ];
    for (const kinds of phases) {
      const batch = ops.filter((o) => kinds.includes(o.kind));
      if (batch.length) failures.push(...(await this.batch(batch)));
    }
    if (failures.length) throw new IpvsOpError(failures, ops.length);
  }

  private async batch(ops: readonly IpvsOp[]): Promise<Array<{ op: string; error: string }>> {
    const bySeq = new Map<number, IpvsOp>();
    const failures: Array<{ op: string; error: string }> = [];
    // Replies nobody requested: the errors of batched messages.
    const onMessage = (msg: NetlinkMessage | NetlinkMessage[]) => {
      for (const m of Array.isArray(msg) ? msg : [msg]) {
        const op = bySeq.get(m.seq);
        if (m.type !== MessageType.ERROR || !op) continue;
        const { errno } = parseError(m.data, m.flags);
        if (errno !== 0) failures.push({ op: describe(op), error: errnoName(errno) });
      }
    };
    this.sock.socket.on('message', onMessage);
    try {
      // Every datagram is handed to the socket at once: sending the next one from the previous
      // one's completion callback re-enters the native binding, which it does not survive.
      const datagrams: Buffer[] = [];
      let chunk: Buffer[] = [];
      let size = 0;
      for (const op of ops) {
        const seq = (this.seq = (this.seq + 1) & 0x7fffffff || 0x40000000);
        bySeq.set(seq, op);
        const [cmd, attrs] = message(op);
        const m = genlMessage(this.family, cmd, NLM_F_REQUEST, seq, attrs);
        if (size + m.length > DATAGRAM_BYTES && chunk.length) {
          datagrams.push(Buffer.concat(chunk));
          chunk = [];
          size = 0;
        }
        chunk.push(m);
        size += m.length;
      }
      if (chunk.length) datagrams.push(Buffer.concat(chunk));
      await Promise.all(
        datagrams.map(
          (d) =>
            new Promise<void>((resolve, reject) =>
              this.sock.socket.socket.send([d], {}, (e) => (e ? reject(e) : resolve())),
            ),
        ),
      );
      // A request that is acknowledged: its answer comes after every error of the batch.
      await this.sock.request(this.family, Cmd.GET_INFO, IPVS_GENL_VERSION, [], { timeout: 20_000 });
    } finally {
      this.sock.socket.off('message', onMessage);
    }
    return failures;
  }
}

function message(op: IpvsOp): [number, Buffer[]] {
  switch (op.kind) {
    case 'addService':
      return [Cmd.NEW_SERVICE, [serviceAttr(op.vs, true)]];
    case 'editService':
      return [Cmd.SET_SERVICE, [serviceAttr(op.vs, true)]];
    case 'deleteService':
      return [Cmd.DEL_SERVICE, [serviceAttr(op.vs, false)]];
    case 'addServer':
      return [Cmd.NEW_DEST, [serviceAttr(op.vs, false), destAttr(op.rs, true)]];
    case 'editServer':
      return [Cmd.SET_DEST, [serviceAttr(op.vs, false), destAttr(op.rs, true)]];
    case 'deleteServer':
      return [Cmd.DEL_DEST, [serviceAttr(op.vs, false), destAttr(op.rs, false)]];
  }
}

function errnoName(errno: number): string {
  const names: Record<number, string> = {
    2: 'ENOENT',
    3: 'ESRCH',
    17: 'EEXIST',
    22: 'EINVAL',
    1: 'EPERM',
    12: 'ENOMEM',
  };
  return names[Math.abs(errno)] ?? `errno ${Math.abs(errno)}`;
}

function describe(op: IpvsOp): string {
  const vs = `${op.vs.protocol} ${op.vs.address}:${op.vs.port}`;
  return 'rs' in op ? `${op.kind} ${vs} -> ${op.rs.address}:${op.rs.port}` : `${op.kind} ${vs}`;
}
