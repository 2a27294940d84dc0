// A constant packet delay for kernels without the netem qdisc (CONFIG_NET_SCH_NETEM unset):
// iptables sends packets to an NFQUEUE, this program holds each verdict for the delay, then
// accepts. Used by `scripts/cluster.sh netem NODE --delay D` inside the node's namespace:
//
//   node dist/test/harness/netem-delay.js --queue 0 --delay 50ms
//
// The rule that feeds it uses --queue-bypass, so if this program is gone packets pass undelayed
// rather than being dropped. Packets keep their order: verdicts are given in arrival order with
// one NFQNL_MSG_VERDICT_BATCH ("accept every id up to N") per timer tick.
// Protocol: include/uapi/linux/netfilter/nfnetlink_queue.h (message types, attributes, structs).
import { RawNetlinkSocket } from 'netlink';
import { nlattr, parseAttrs } from '../../lib/netlink-attr.js';
import { errorMessage } from '../../lib/errors.js';

const NETLINK_NETFILTER = 12;
const NFNL_SUBSYS_QUEUE = 3;
const NFQNL_MSG_PACKET = 0;
const NFQNL_MSG_CONFIG = 2;
const NFQNL_MSG_VERDICT_BATCH = 3;
const NFQA_PACKET_HDR = 1;
const NFQA_VERDICT_HDR = 2;
const NFQA_CFG_CMD = 1;
const NFQA_CFG_PARAMS = 2;
const NFQA_CFG_QUEUE_MAXLEN = 3;
const NFQA_CFG_MASK = 4;
const NFQA_CFG_FLAGS = 5;
const NFQNL_CFG_CMD_BIND = 1;
const NFQNL_COPY_META = 1;
const NFQA_CFG_F_FAIL_OPEN = 1;
const NF_ACCEPT = 1;
const NLM_F_REQUEST = 1;
const NLMSG_ERROR = 2;
const AF_INET = 2;

function message(type: number, queue: number, attrs: Buffer[], seq: number): Buffer {
  const nfgen = Buffer.alloc(4);
  nfgen.writeUInt8(AF_INET, 0);
  nfgen.writeUInt8(0, 1); // NFNETLINK_V0
  nfgen.writeUInt16BE(queue, 2);
  const body = Buffer.concat([nfgen, ...attrs]);
  const hdr = Buffer.alloc(16);
  hdr.writeUInt32LE(16 + body.length, 0);
  hdr.writeUInt16LE((NFNL_SUBSYS_QUEUE << 8) | type, 4);
  hdr.writeUInt16LE(NLM_F_REQUEST, 6);
  hdr.writeUInt32LE(seq, 8);
  hdr.writeUInt32LE(0, 12);
  return Buffer.concat([hdr, body]);
}

/** Packet ids out of a datagram of NFQNL_MSG_PACKET messages (errors are thrown). */
export function packetIds(buf: Buffer): number[] {
  const ids: number[] = [];
  let off = 0;
  while (off + 16 <= buf.length) {
    const len = buf.readUInt32LE(off);
    const type = buf.readUInt16LE(off + 4);
    if (len < 16 || off + len > buf.length) break;
    if (type === NLMSG_ERROR) {
      const errno = -buf.readInt32LE(off + 16);
      if (errno !== 0) throw new Error(`nfnetlink_queue refused a request: errno ${errno}`);
    } else if (type === ((NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET)) {
      // After the netlink header (16 bytes) and struct nfgenmsg (4).
      const hdr = parseAttrs(buf.subarray(off + 20, off + len)).get(NFQA_PACKET_HDR);
      if (hdr && hdr.length >= 4) ids.push(hdr.readUInt32BE(0));
    }
    off += (len + 3) & ~3;
  }
  return ids;
}

export function parseDelay(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(us|ms|s)$/.exec(v);
  if (!m) throw new Error(`--delay: "${v}" is not a duration like 50ms`);
  return Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 'ms' ? 1 : 1000);
}

function main(): void {
  let queue = 0;
  let delayMs = NaN;
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--queue') queue = Number(argv[++i]);
    else if (argv[i] === '--delay') delayMs = parseDelay(argv[++i] ?? '');
    else throw new Error(`unknown flag ${argv[i]}`);
  }
  if (!Number.isInteger(queue) || queue < 0 || queue > 65535) throw new Error('--queue must be 0-65535');
  if (!(delayMs >= 0)) throw new Error('--delay is required, e.g. --delay 50ms');

  const sock = new RawNetlinkSocket(NETLINK_NETFILTER, { recvBufferSize: 4 << 20, sendBufferSize: 1 << 20 });
  let seq = 1;
  const send = (type: number, attrs: Buffer[], then?: () => void) =>
    sock.send(message(type, queue, attrs, seq++), {}, (err) => {
      if (err) {
        process.stderr.write(`netem-delay: send failed: ${err.message}\n`);
        process.exit(1);
      }
      then?.();
    });
  const cmd = Buffer.from([NFQNL_CFG_CMD_BIND, 0, 0, AF_INET]);
  const params = Buffer.alloc(5);
  params.writeUInt32BE(0, 0);
  params.writeUInt8(NFQNL_COPY_META, 4);
  const be32 = (v: number) => {
    const b = Buffer.alloc(4);
    b.writeUInt32BE(v);
    return b;
  };
  send(NFQNL_MSG_CONFIG, [nlattr(NFQA_CFG_CMD, cmd)]);
  // Metadata only (no payload copied), a long queue, and fail-open: when the queue is full the
  // kernel accepts rather than drops, so this tool never adds loss of its own.
  send(
    NFQNL_MSG_CONFIG,
    [
      nlattr(NFQA_CFG_PARAMS, params),
      nlattr(NFQA_CFG_QUEUE_MAXLEN, be32(8192)),
      nlattr(NFQA_CFG_MASK, be32(NFQA_CFG_F_FAIL_OPEN)),
      nlattr(NFQA_CFG_FLAGS, be32(NFQA_CFG_F_FAIL_OPEN)),
    ],
    () => {
      // Netlink requests are handled within sendmsg: the queue is bound now. cluster.sh waits for
      // this line before sending packets our way.
      process.stderr.write(`netem-delay: ready: queue ${queue}, delay ${delayMs} ms\n`);
    },
  );

  const pending: { id: number; due: number }[] = [];
  let head = 0;
  let timer: NodeJS.Timeout | undefined;
  const release = () => {
    timer = undefined;
    const now = performance.now();
    let last = -1;
    while (head < pending.length && pending[head]!.due <= now + 0.5) last = pending[head++]!.id;
    if (last >= 0) {
      const v = Buffer.alloc(8);
      v.writeUInt32BE(NF_ACCEPT, 0);
      v.writeUInt32BE(last, 4);
      send(NFQNL_MSG_VERDICT_BATCH, [nlattr(NFQA_VERDICT_HDR, v)]);
    }
    if (head > 4096) {
      pending.splice(0, head);
      head = 0;
    }
    arm();
  };
  const arm = () => {
    if (timer || head >= pending.length) return;
    timer = setTimeout(release, Math.max(0, pending[head]!.due - performance.now()));
  };
  sock.on('message', (buf: Buffer) => {
    let ids: number[];
    try {
      ids = packetIds(buf);
    } catch (e) {
      process.stderr.write(`netem-delay: ${errorMessage(e)}\n`);
      process.exit(1);
    }
    const due = performance.now() + delayMs;
    for (const id of ids) pending.push({ id, due });
    arm();
  });
  sock.on('error', (e) => {
    process.stderr.write(`netem-delay: ${e.message}\n`);
  });
  const stop = () => {
    sock.close();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  try {
    main();
  } catch (e) {
    process.stderr.write(`netem-delay: ${errorMessage(e)}\n`);
    process.exit(2);
  }
}
