// The IPVS generic netlink family's messages, encoded and decoded (pure). Attribute numbers
// and layouts are those of <linux/ip_vs.h>; this is what ipvsadm's libipvs sends, without
// opening a new socket and resolving the family again for every single command, which makes
// ipvsadm cost milliseconds per virtual server.
import { formatIP, ipFromBytes, ipToBytes, parseIPv4 } from '../../lib/ip.js';
import { nlattr, parseAttrs } from '../../lib/netlink-attr.js';
import type { Protocol } from '../model/types.js';
import type { ForwardMethod, KernelRealServer, KernelVirtualServer } from './ipvsadm.js';
import type { RealServer, VirtualServer } from './types.js';

export const IPVS_GENL_NAME = 'IPVS';
export const IPVS_GENL_VERSION = 1;

export const Cmd = {
  NEW_SERVICE: 1,
  SET_SERVICE: 2,
  DEL_SERVICE: 3,
  GET_SERVICE: 4,
  NEW_DEST: 5,
  SET_DEST: 6,
  DEL_DEST: 7,
  GET_DEST: 8,
  GET_INFO: 15,
} as const;

const CMD_ATTR_SERVICE = 1;
const CMD_ATTR_DEST = 2;
const SVC = {
  AF: 1,
  PROTOCOL: 2,
  ADDR: 3,
  PORT: 4,
  FWMARK: 5,
  SCHED_NAME: 6,
  FLAGS: 7,
  TIMEOUT: 8,
  NETMASK: 9,
  PE_NAME: 11,
} as const;
const DEST = {
  ADDR: 1,
  PORT: 2,
  FWD_METHOD: 3,
  WEIGHT: 4,
  U_THRESH: 5,
  L_THRESH: 6,
  ACTIVE_CONNS: 7,
  INACT_CONNS: 8,
} as const;
const AF_INET = 2;
const IPPROTO: Record<Protocol, number> = { TCP: 6, UDP: 17, SCTP: 132 };
const PROTO_BY_NUMBER: Record<number, Protocol> = { 6: 'TCP', 17: 'UDP', 132: 'SCTP' };
/** IP_VS_SVC_F_PERSISTENT */
const F_PERSISTENT = 0x1;
/** IP_VS_CONN_F_FWD_MASK values */
const FWD: Record<number, ForwardMethod> = { 0: 'masq', 2: 'ipip', 3: 'gate' };
const IP_VS_CONN_F_MASQ = 0;

// --- netlink attributes -------------------------------------------------------------------

const u16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(v);
  return b;
};
const u32 = (v: number) => {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v >>> 0);
  return b;
};
const be16 = (v: number) => {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
};
/** union nf_inet_addr: 16 bytes, an IPv4 address in the first 4. */
const inetAddr = (ip: string) => {
  const v4 = parseIPv4(ip);
  if (!v4) throw new Error(`ipvs: ${JSON.stringify(ip)} is not an IPv4 address`);
  return Buffer.concat([ipToBytes(v4), Buffer.alloc(12)]);
};
const cstring = (s: string) => Buffer.concat([Buffer.from(s), Buffer.alloc(1)]);

export { parseAttrs };

// --- requests -----------------------------------------------------------------------------

type ServiceId = { protocol: Protocol; address: string; port: number };

function serviceId(vs: ServiceId): Buffer[] {
  return [
    nlattr(SVC.AF, u16(AF_INET)),
    nlattr(SVC.PROTOCOL, u16(IPPROTO[vs.protocol])),
    nlattr(SVC.ADDR, inetAddr(vs.address)),
    nlattr(SVC.PORT, be16(vs.port)),
  ];
}

/** The nested service attribute: identity only (lookups, deletes) or everything (add, edit). */
export function serviceAttr(vs: ServiceId | VirtualServer, full: boolean): Buffer {
  const parts = serviceId(vs);
  if (full) {
    const v = vs as VirtualServer;
    const flags = Buffer.alloc(8);
    flags.writeUInt32LE(v.persistenceSeconds > 0 ? F_PERSISTENT : 0, 0);
    flags.writeUInt32LE(0xffffffff, 4); // mask: every flag is as given
    parts.push(
      nlattr(SVC.SCHED_NAME, cstring(v.scheduler)),
      nlattr(SVC.FLAGS, flags),
      nlattr(SVC.TIMEOUT, u32(v.persistenceSeconds)),
      nlattr(SVC.NETMASK, u32(0xffffffff)),
    );
  }
  return nlattr(CMD_ATTR_SERVICE, Buffer.concat(parts));
}

export function destAttr(rs: { address: string; port: number; weight?: number }, full: boolean): Buffer {
  const parts = [nlattr(DEST.ADDR, inetAddr(rs.address)), nlattr(DEST.PORT, be16(rs.port))];
  if (full)
    parts.push(
      nlattr(DEST.FWD_METHOD, u32(IP_VS_CONN_F_MASQ)),
      nlattr(DEST.WEIGHT, u32(rs.weight ?? 1)),
      nlattr(DEST.U_THRESH, u32(0)),
      nlattr(DEST.L_THRESH, u32(0)),
    );
  return nlattr(CMD_ATTR_DEST, Buffer.concat(parts));
}

// --- replies --------------------------------------------------------------------------------

const ipOf = (b: Buffer) => formatIP(ipFromBytes(b.subarray(0, 4)));

/** One GET_SERVICE reply; undefined for services kubenode-proxy never creates (fwmark, IPv6). */
export function parseService(data: Buffer): Omit<KernelVirtualServer, 'realServers'> | undefined {
  const svc = parseAttrs(data).get(CMD_ATTR_SERVICE);
  if (!svc) return undefined;
  const a = parseAttrs(svc);
  if (a.get(SVC.AF)?.readUInt16LE(0) !== AF_INET || !a.has(SVC.ADDR) || (a.has(SVC.FWMARK) && !a.has(SVC.PORT)))
    return undefined;
  const protocol = PROTO_BY_NUMBER[a.get(SVC.PROTOCOL)?.readUInt16LE(0) ?? -1];
  if (!protocol) return undefined;
  const flags = a.get(SVC.FLAGS)?.readUInt32LE(0) ?? 0;
  const timeout = a.get(SVC.TIMEOUT)?.readUInt32LE(0) ?? 0;
  const netmask = a.get(SVC.NETMASK)?.readUInt32LE(0) ?? 0xffffffff;
  const pe = a.get(SVC.PE_NAME)?.toString().replace(/\0.*$/s, '');
  const extra = [netmask !== 0xffffffff ? `-M ${netmask}` : '', pe ? `--pe ${pe}` : ''].filter(Boolean).join(' ');
  return {
    protocol,
    address: ipOf(a.get(SVC.ADDR)!),
    port: a.get(SVC.PORT)!.readUInt16BE(0),
    scheduler: a.get(SVC.SCHED_NAME)?.toString().replace(/\0.*$/s, '') ?? '',
    persistenceSeconds: flags & F_PERSISTENT ? timeout : 0,
    extra,
  };
}

export interface KernelDest extends KernelRealServer {
  active: number;
  inactive: number;
}

/** One GET_DEST reply. */
export function parseDest(data: Buffer): KernelDest | undefined {
  const d = parseAttrs(data).get(CMD_ATTR_DEST);
  if (!d) return undefined;
  const a = parseAttrs(d);
  if (!a.has(DEST.ADDR) || !a.has(DEST.PORT)) return undefined;
  return {
    address: ipOf(a.get(DEST.ADDR)!),
    port: a.get(DEST.PORT)!.readUInt16BE(0),
    weight: a.get(DEST.WEIGHT)?.readUInt32LE(0) ?? 0,
    method: FWD[(a.get(DEST.FWD_METHOD)?.readUInt32LE(0) ?? 0) & 7] ?? 'gate',
    active: a.get(DEST.ACTIVE_CONNS)?.readUInt32LE(0) ?? 0,
    inactive: a.get(DEST.INACT_CONNS)?.readUInt32LE(0) ?? 0,
  };
}

export type { RealServer };

/** NLM_F_REQUEST */
export const NLM_F_REQUEST = 0x1;

/** One complete generic netlink message: nlmsghdr, genlmsghdr, attributes. */
export function genlMessage(family: number, cmd: number, flags: number, seq: number, attrs: readonly Buffer[]): Buffer {
  const payload = Buffer.concat(attrs as Buffer[]);
  const hdr = Buffer.alloc(20);
  hdr.writeUInt32LE(20 + payload.length, 0);
  hdr.writeUInt16LE(family, 4);
  hdr.writeUInt16LE(flags, 6);
  hdr.writeUInt32LE(seq >>> 0, 8);
  hdr.writeUInt32LE(0, 12); // the kernel knows who sent it
  hdr.writeUInt8(cmd, 16);
  hdr.writeUInt8(IPVS_GENL_VERSION, 17);
  return Buffer.concat([hdr, payload]);
}
