// IPv4 and IPv6 addresses as numbers (bigint), so that range arithmetic is the same for both
// families. The one place that parses IP addresses: the CNI plugins, the proxy and host-gw all
// read addresses through here. Pure: no I/O. Strings are written the way Go's net.IP.String() writes them (dotted
// quad; RFC 5952 for IPv6), because host-local names its allocation files that way and we share
// its on-disk format.

export type Family = 4 | 6;

export interface IP {
  family: Family;
  value: bigint;
}

/** An address with a prefix length; `ip` may carry host bits (as in "10.1.0.5/24"). */
export interface CIDR {
  ip: IP;
  prefix: number;
}

export const bitsOf = (f: Family): number => (f === 4 ? 32 : 128);

function parseV4(s: string): bigint | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0n;
  for (const p of parts) {
    // Leading zeros are rejected, as Go does since 1.17: "010" could mean octal to some readers.
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = (v << 8n) | BigInt(n);
  }
  return v;
}

function parseV6(s: string): bigint | undefined {
  if (!/^[0-9a-fA-F:.]+$/.test(s)) return undefined;
  let tail4: bigint | undefined;
  // An embedded IPv4 tail ("::ffff:10.0.0.1") stands for the last two groups.
  const lastColon = s.lastIndexOf(':');
  if (s.includes('.')) {
    tail4 = parseV4(s.slice(lastColon + 1));
    if (tail4 === undefined) return undefined;
    s = s.slice(0, lastColon + 1) + '0:0';
  }
  const halves = s.split('::');
  if (halves.length > 2) return undefined;
  const groups = (h: string): string[] | undefined => (h === '' ? [] : h.split(':'));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  if (!head || !rest) return undefined;
  const total = head.length + rest.length;
  if (halves.length === 1 ? total !== 8 : total > 7) return undefined;
  const all = [...head, ...Array<string>(8 - total).fill('0'), ...rest];
  let v = 0n;
  for (const g of all) {
    if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
    v = (v << 16n) | BigInt(parseInt(g, 16));
  }
  if (tail4 !== undefined) v = (v & ~0xffffffffn) | tail4;
  return v;
}

export function parseIP(s: string): IP | undefined {
  if (typeof s !== 'string') return undefined;
  if (s.includes(':')) {
    const v = parseV6(s);
    return v === undefined ? undefined : { family: 6, value: v };
  }
  const v = parseV4(s);
  return v === undefined ? undefined : { family: 4, value: v };
}

export function formatIP(ip: IP): string {
  if (ip.family === 4) {
    const v = Number(ip.value);
    return `${(v >>> 24) & 255}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const g: number[] = [];
  for (let i = 7; i >= 0; i--) g.push(Number((ip.value >> BigInt(i * 16)) & 0xffffn));
  // RFC 5952: compress the longest run (of two or more) of zero groups, the first one on a tie.
  let best = -1,
    bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]) => a.map((n) => n.toString(16)).join(':');
  if (best < 0) return hex(g);
  return `${hex(g.slice(0, best))}::${hex(g.slice(best + bestLen))}`;
}

export function parseCIDR(s: string): CIDR | undefined {
  if (typeof s !== 'string') return undefined;
  const slash = s.indexOf('/');
  if (slash < 0) return undefined;
  const ip = parseIP(s.slice(0, slash));
  const p = s.slice(slash + 1);
  if (!ip || !/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
  const prefix = Number(p);
  if (prefix > bitsOf(ip.family)) return undefined;
  return { ip, prefix };
}

export const formatCIDR = (c: CIDR): string => `${formatIP(c.ip)}/${c.prefix}`;

function hostMask(c: CIDR): bigint {
  return (1n << BigInt(bitsOf(c.ip.family) - c.prefix)) - 1n;
}

/** The network address of a CIDR (host bits cleared). */
export function networkOf(c: CIDR): IP {
  return { family: c.ip.family, value: c.ip.value & ~hostMask(c) };
}

/** The last address of a CIDR (the IPv4 broadcast address). */
export function lastOf(c: CIDR): IP {
  return { family: c.ip.family, value: c.ip.value | hostMask(c) };
}

export function hasHostBits(c: CIDR): boolean {
  return (c.ip.value & hostMask(c)) !== 0n;
}

export function contains(c: CIDR, ip: IP): boolean {
  return ip.family === c.ip.family && (ip.value & ~hostMask(c)) === networkOf(c).value;
}

export function overlaps(a: CIDR, b: CIDR): boolean {
  return contains(a, networkOf(b)) || contains(b, networkOf(a));
}

export function addOffset(ip: IP, n: bigint): IP {
  return { family: ip.family, value: ip.value + n };
}

export function compareIP(a: IP, b: IP): number {
  if (a.family !== b.family) return a.family - b.family;
  return a.value < b.value ? -1 : a.value > b.value ? 1 : 0;
}

export const sameIP = (a: IP, b: IP): boolean => a.family === b.family && a.value === b.value;

/** "10.1.0.5/24" -> "10.1.0.0/24": the canonical network form of any CIDR. */
export function canonicalNetwork(c: CIDR): string {
  return formatCIDR({ ip: networkOf(c), prefix: c.prefix });
}

/** The default route's destination for a family. */
export const defaultDst = (f: Family): string => (f === 4 ? '0.0.0.0/0' : '::/0');

/** True if every address of inner is also in outer. */
export function covers(outer: CIDR, inner: CIDR): boolean {
  return inner.prefix >= outer.prefix && contains(outer, networkOf(inner));
}

/** The address in network byte order: 4 bytes for IPv4, 16 for IPv6 (netlink, DER, ipvs). */
export function ipToBytes(ip: IP): Buffer {
  const n = ip.family === 4 ? 4 : 16;
  const b = Buffer.alloc(n);
  let v = ip.value;
  for (let i = n - 1; i >= 0; i--) {
    b[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return b;
}

/** The address these bytes hold in network order: 4 bytes are IPv4, 16 IPv6. */
export function ipFromBytes(b: Uint8Array): IP {
  if (b.length !== 4 && b.length !== 16) throw new Error(`an IP address is 4 or 16 bytes, not ${b.length}`);
  let value = 0n;
  for (const byte of b) value = (value << 8n) | BigInt(byte);
  return { family: b.length === 4 ? 4 : 6, value };
}

// The proxy and host-gw handle IPv4 only and keep addresses as strings; these helpers give them
// that view of the same parser.

/** An IPv4 address: a dotted quad without leading zeros, as the apiserver accepts. */
export function parseIPv4(s: string): IP | undefined {
  const ip = parseIP(s);
  return ip?.family === 4 ? ip : undefined;
}

export const isIPv4 = (s: unknown): s is string => typeof s === 'string' && parseIPv4(s) !== undefined;

/** An IPv4 or IPv6 address literal. */
export const isIP = (s: unknown): s is string => typeof s === 'string' && parseIP(s) !== undefined;

/** 127.0.0.0/8 or ::1: an address that never leaves this machine. */
export function isLoopbackAddress(s: string): boolean {
  const ip = parseIP(s);
  if (!ip) return false;
  return ip.family === 4 ? ip.value >> 24n === 127n : ip.value === 1n;
}

/**
 * Written like an IPv6 address (a colon; only hex digits, colons and dots), valid or not. Enough
 * to answer "IPv6 is not supported" rather than "not an IPv4 address" to an IPv6 value.
 */
export const looksLikeIPv6 = (s: unknown): boolean =>
  typeof s === 'string' && s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s);

/** An IPv4 CIDR reduced to its network (host bits cleared), with that network written out. */
export interface IPv4Network extends CIDR {
  /** Canonical "a.b.c.d/n". */
  readonly text: string;
}

/** "192.168.56.11/24" -> 192.168.56.0/24; undefined for anything but an IPv4 CIDR. */
export function parseIPv4Network(s: string): IPv4Network | undefined {
  const c = parseCIDR(s);
  if (c?.ip.family !== 4) return undefined;
  return { ip: networkOf(c), prefix: c.prefix, text: canonicalNetwork(c) };
}

/** True if the address written as `s` is in c; false for a string that is not an address. */
export function containsAddress(c: CIDR, s: string): boolean {
  const ip = parseIP(s);
  return ip !== undefined && contains(c, ip);
}

/** Orders address strings numerically (IPv4 before IPv6); strings that are not addresses go last, in text order. */
export function compareAddresses(a: string, b: string): number {
  const pa = parseIP(a),
    pb = parseIP(b);
  if (pa && pb) return compareIP(pa, pb);
  if (pa || pb) return pa ? -1 : 1;
  return a < b ? -1 : a > b ? 1 : 0;
}
