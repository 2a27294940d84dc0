// ipvsadm's text formats, both ways (pure): `ipvsadm -Sn` (the kernel's IPVS table as commands,
// which is also the language of `ipvsadm -R`), `ipvsadm -Ln` (for connection counts of real
// servers being drained), and the command lines one sync feeds to a single `ipvsadm -R`.
import { formatIP, ipFromBytes } from '../../lib/ip.js';
import type { Protocol } from '../model/types.js';
import type { IpvsOp } from './types.js';
import { type RealServer, type VirtualServer, vsKey } from './types.js';

/** Forwarding method of a real server: masquerading (NAT) is the only one kube-proxy uses. */
export type ForwardMethod = 'masq' | 'gate' | 'ipip';

export interface KernelRealServer extends RealServer {
  readonly method: ForwardMethod;
}

/** A virtual server as the kernel holds it (someone else's may have fields we never set). */
export interface KernelVirtualServer {
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;
  readonly scheduler: string;
  readonly persistenceSeconds: number;
  readonly realServers: readonly KernelRealServer[];
  /** Options we do not manage (-M netmask, -b flags, -pe): any makes the virtual server differ from ours. */
  readonly extra: string;
}

const PROTO_FLAG: Record<Protocol, string> = { TCP: '-t', UDP: '-u', SCTP: '--sctp-service' };
const FLAG_PROTO: Record<string, Protocol> = {
  '-t': 'TCP',
  '--tcp-service': 'TCP',
  '-u': 'UDP',
  '--udp-service': 'UDP',
  '--sctp-service': 'SCTP',
};
const METHOD: Record<string, ForwardMethod> = { '-m': 'masq', '-g': 'gate', '-i': 'ipip' };

function splitHostPort(s: string): { address: string; port: number } | undefined {
  const i = s.lastIndexOf(':');
  if (i < 0) return undefined;
  const port = Number(s.slice(i + 1));
  const address = s.slice(0, i);
  if (!Number.isInteger(port) || address.startsWith('[')) return undefined; // IPv6: not ours
  return { address, port };
}

/**
 * Parse `ipvsadm -Sn`. Firewall-mark and IPv6 services are skipped: kubenode-proxy creates
 * neither, so they are never ours.
 */
export function parseIpvsadmSave(text: string): Map<string, KernelVirtualServer> {
  const out = new Map<string, { vs: KernelVirtualServer; rs: KernelRealServer[] }>();
  for (const raw of text.split('\n')) {
    const tok = raw.trim().split(/\s+/);
    if (tok[0] !== '-A' && tok[0] !== '-a') continue;
    const protocol = FLAG_PROTO[tok[1] ?? ''];
    const hp = splitHostPort(tok[2] ?? '');
    if (!protocol || !hp) continue;
    const key = vsKey({ protocol, ...hp });
    if (tok[0] === '-A') {
      let scheduler = '';
      let persistenceSeconds = 0;
      const extra: string[] = [];
      for (let i = 3; i < tok.length; i++) {
        if (tok[i] === '-s') scheduler = tok[++i] ?? '';
        else if (tok[i] === '-p') persistenceSeconds = Number(tok[++i]);
        else extra.push(tok[i]!);
      }
      const rs: KernelRealServer[] = [];
      out.set(key, {
        vs: { protocol, ...hp, scheduler, persistenceSeconds, realServers: rs, extra: extra.join(' ') },
        rs,
      });
    } else {
      const entry = out.get(key);
      let real: { address: string; port: number } | undefined;
      let weight = 1;
      let method: ForwardMethod = 'gate';
      for (let i = 3; i < tok.length; i++) {
        if (tok[i] === '-r') real = splitHostPort(tok[++i] ?? '');
        else if (tok[i] === '-w') weight = Number(tok[++i]);
        else if (METHOD[tok[i]!]) method = METHOD[tok[i]!]!;
      }
      if (entry && real) entry.rs.push({ ...real, weight, method });
    }
  }
  return new Map([...out].map(([k, v]) => [k, v.vs]));
}

export interface ConnectionCounts {
  active: number;
  inactive: number;
}

/** Parse `ipvsadm -Ln`: "vsKey rsKey" -> active and inactive connection counts. */
export function parseIpvsadmList(text: string): Map<string, ConnectionCounts> {
  const out = new Map<string, ConnectionCounts>();
  let current: string | undefined;
  for (const line of text.split('\n')) {
    const vs = /^(TCP|UDP|SCTP)\s+(\S+)/.exec(line);
    if (vs) {
      const hp = splitHostPort(vs[2]!);
      current = hp ? vsKey({ protocol: vs[1] as Protocol, ...hp }) : undefined;
      continue;
    }
    if (/^\S/.test(line)) current = undefined; // FWM or a header
    const rs = /^\s+->\s+(\S+)\s+\S+\s+\d+\s+(\d+)\s+(\d+)/.exec(line);
    if (rs && current) out.set(`${current} ${rs[1]}`, { active: Number(rs[2]), inactive: Number(rs[3]) });
  }
  return out;
}

const target = (vs: { protocol: Protocol; address: string; port: number }) =>
  `${PROTO_FLAG[vs.protocol]} ${vs.address}:${vs.port}`;
const serviceOptions = (vs: VirtualServer) =>
  `-s ${vs.scheduler}${vs.persistenceSeconds > 0 ? ` -p ${vs.persistenceSeconds}` : ''}`;

/** The `ipvsadm -R` lines, one per change. */
export const ipvsCommand = {
  addService: (vs: VirtualServer) => `-A ${target(vs)} ${serviceOptions(vs)}`,
  editService: (vs: VirtualServer) => `-E ${target(vs)} ${serviceOptions(vs)}`,
  deleteService: (vs: { protocol: Protocol; address: string; port: number }) => `-D ${target(vs)}`,
  addServer: (vs: { protocol: Protocol; address: string; port: number }, rs: RealServer) =>
    `-a ${target(vs)} -r ${rs.address}:${rs.port} -m -w ${rs.weight}`,
  editServer: (vs: { protocol: Protocol; address: string; port: number }, rs: RealServer) =>
    `-e ${target(vs)} -r ${rs.address}:${rs.port} -m -w ${rs.weight}`,
  deleteServer: (vs: { protocol: Protocol; address: string; port: number }, rs: { address: string; port: number }) =>
    `-d ${target(vs)} -r ${rs.address}:${rs.port}`,
};

/** A sync's changes as `ipvsadm -R` input lines. */
export function renderIpvsadm(ops: readonly IpvsOp[]): string[] {
  return ops.map((op) => {
    switch (op.kind) {
      case 'addService':
        return ipvsCommand.addService(op.vs);
      case 'editService':
        return ipvsCommand.editService(op.vs);
      case 'deleteService':
        return ipvsCommand.deleteService(op.vs);
      case 'addServer':
        return ipvsCommand.addServer(op.vs as VirtualServer, op.rs);
      case 'editServer':
        return ipvsCommand.editServer(op.vs, op.rs);
      case 'deleteServer':
        return ipvsCommand.deleteServer(op.vs, op.rs);
      default:
        // Unreachable while every IpvsOp kind has a case: TypeScript checks that here.
        throw new Error(`unknown IPVS operation ${(op satisfies never as { kind: string }).kind}`);
    }
  });
}

const hexIp = (h: string) => formatIP(ipFromBytes(Buffer.from(h, 'hex')));
const PROC_METHOD: Record<string, ForwardMethod> = { Masq: 'masq', Route: 'gate', Tunnel: 'ipip', Local: 'gate' };

/**
 * Parse /proc/net/ip_vs: the whole table, real servers and their connection counts, in one read
 * of a file (addresses in hex). Firewall-mark and IPv6 services are skipped. Persistence
 * timeouts there are in kernel ticks, not seconds: take services' settings from netlink.
 */
export function parseProcIpVs(text: string): {
  services: Map<string, KernelVirtualServer>;
  counts: Map<string, ConnectionCounts>;
} {
  const services = new Map<string, KernelVirtualServer>();
  const counts = new Map<string, ConnectionCounts>();
  let current: { key: string; rs: KernelRealServer[] } | undefined;
  for (const line of text.split('\n')) {
    const vs = /^(TCP|UDP|SCTP)\s+([0-9A-F]{8}):([0-9A-F]{4}) (\S+)(?: persistent (\d+) ([0-9A-F]{8}))?/.exec(line);
    if (vs) {
      const rs: KernelRealServer[] = [];
      const svc = {
        protocol: vs[1] as Protocol,
        address: hexIp(vs[2]!),
        port: parseInt(vs[3]!, 16),
        scheduler: vs[4]!,
        persistenceSeconds: vs[5] ? Number(vs[5]) : 0,
        realServers: rs,
        extra: vs[6] && vs[6] !== 'FFFFFFFF' ? `-M ${hexIp(vs[6])}` : '',
      };
      current = { key: vsKey(svc), rs };
      services.set(current.key, svc);
      continue;
    }
    if (/^\S/.test(line)) current = undefined; // FWM, IPv6 or a header
    const d = /^\s+->\s+([0-9A-F]{8}):([0-9A-F]{4})\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)/.exec(line);
    if (d && current) {
      const address = hexIp(d[1]!);
      const port = parseInt(d[2]!, 16);
      current.rs.push({ address, port, weight: Number(d[4]), method: PROC_METHOD[d[3]!] ?? 'gate' });
      counts.set(`${current.key} ${address}:${port}`, { active: Number(d[5]), inactive: Number(d[6]) });
    }
  }
  return { services, counts };
}
