// Address ranges in host-local's model: a range is a subnet with an optional start, end and
// gateway; a range set is a list of ranges of one family from which ONE address is taken; an
// IPAM configuration has one range set per address the pod gets (e.g. one IPv4, one IPv6).
// Pure: validation and defaults only.
import {
  addOffset,
  bitsOf,
  compareIP,
  contains,
  formatCIDR,
  formatIP,
  hasHostBits,
  lastOf,
  networkOf,
  overlaps,
  parseCIDR,
  parseIP,
  type CIDR,
  type IP,
} from '../../lib/ip.js';
import { invalidConfig } from '../spec/errors.js';

export interface Range {
  subnet: CIDR;
  start: IP;
  end: IP;
  gateway?: IP;
}

export type RangeSet = Range[];

export interface RawRange {
  subnet?: unknown;
  rangeStart?: unknown;
  rangeEnd?: unknown;
  gateway?: unknown;
}

function ipField(v: unknown, field: string): IP | undefined {
  if (v === undefined || v === null || v === '') return undefined;
  const ip = typeof v === 'string' ? parseIP(v) : undefined;
  if (!ip) throw invalidConfig(field, `${JSON.stringify(v)} is not an IP address`);
  return ip;
}

/** Validate one range and fill in host-local's defaults (start after the network address, end
 * before the IPv4 broadcast address, gateway = first address). */
export function canonicalRange(raw: RawRange, field: string): Range {
  if (typeof raw !== 'object' || raw === null) throw invalidConfig(field, 'must be an object with a "subnet"');
  const subnet = typeof raw.subnet === 'string' ? parseCIDR(raw.subnet) : undefined;
  if (!subnet) throw invalidConfig(`${field}.subnet`, `${JSON.stringify(raw.subnet)} is not a subnet in CIDR notation`);
  if (hasHostBits(subnet)) {
    throw invalidConfig(
      `${field}.subnet`,
      `${raw.subnet} has host bits set (did you mean ${formatCIDR({ ip: networkOf(subnet), prefix: subnet.prefix })}?)`,
    );
  }
  const bits = bitsOf(subnet.ip.family);
  if (subnet.prefix > bits - 2) throw invalidConfig(`${field}.subnet`, `${raw.subnet} is too small to allocate from`);
  const net = networkOf(subnet);
  const first = addOffset(net, 1n);
  const last = subnet.ip.family === 4 ? addOffset(lastOf(subnet), -1n) : lastOf(subnet);
  const inSubnet = (ip: IP | undefined, f: string) => {
    if (ip && !contains(subnet, ip)) throw invalidConfig(f, `${formatIP(ip)} is not in subnet ${raw.subnet}`);
    return ip;
  };
  const start = inSubnet(ipField(raw.rangeStart, `${field}.rangeStart`), `${field}.rangeStart`) ?? first;
  const end = inSubnet(ipField(raw.rangeEnd, `${field}.rangeEnd`), `${field}.rangeEnd`) ?? last;
  if (compareIP(start, end) > 0)
    throw invalidConfig(`${field}.rangeStart`, `${formatIP(start)} is after rangeEnd ${formatIP(end)}`);
  const gateway = inSubnet(ipField(raw.gateway, `${field}.gateway`), `${field}.gateway`) ?? first;
  return { subnet, start, end, gateway };
}

export function canonicalRangeSet(raw: unknown, field: string): RangeSet {
  if (!Array.isArray(raw) || raw.length === 0) throw invalidConfig(field, 'must be a non-empty list of ranges');
  const set = raw.map((r, i) => canonicalRange(r as RawRange, `${field}[${i}]`));
  const fam = set[0]!.subnet.ip.family;
  set.forEach((r, i) => {
    if (r.subnet.ip.family !== fam)
      throw invalidConfig(`${field}[${i}].subnet`, 'every range in a range set must be of the same IP family');
    for (let j = 0; j < i; j++) {
      if (rangesOverlap(r, set[j]!)) throw invalidConfig(`${field}[${i}]`, `overlaps ${field}[${j}]`);
    }
  });
  return set;
}

export function rangesOverlap(a: Range, b: Range): boolean {
  if (a.subnet.ip.family !== b.subnet.ip.family) return false;
  return compareIP(a.start, b.end) <= 0 && compareIP(b.start, a.end) <= 0;
}

export function validateRangeSets(sets: RangeSet[], field: string): void {
  for (let i = 0; i < sets.length; i++) {
    for (let j = 0; j < i; j++) {
      for (const a of sets[i]!)
        for (const b of sets[j]!) {
          if (overlaps(a.subnet, b.subnet) && rangesOverlap(a, b))
            throw invalidConfig(`${field}[${i}]`, `overlaps range set ${field}[${j}]`);
        }
    }
  }
}

export function rangeFor(set: RangeSet, ip: IP): Range | undefined {
  return set.find((r) => ip.family === r.start.family && compareIP(ip, r.start) >= 0 && compareIP(ip, r.end) <= 0);
}

/** How many addresses a range set can hand out (gateways excluded). */
export function capacity(set: RangeSet): bigint {
  let n = 0n;
  for (const r of set) {
    n += r.end.value - r.start.value + 1n;
    if (r.gateway && compareIP(r.gateway, r.start) >= 0 && compareIP(r.gateway, r.end) <= 0) n -= 1n;
  }
  return n;
}

export const describeRangeSet = (set: RangeSet): string =>
  set.map((r) => `${formatCIDR(r.subnet)} (${formatIP(r.start)}-${formatIP(r.end)})`).join(', ');
