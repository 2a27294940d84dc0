// IPv4 prefixes as 32-bit numbers: just enough arithmetic for host-gw routing (containment and
// overlap). host-gw is IPv4 only here; IPv6 pod CIDRs are reported as skipped, not routed.

export interface Prefix4 {
  /** The network address (host bits cleared), as an unsigned 32-bit number. */
  network: number;
  bits: number;
}

export function parseIPv4(s: string): number | undefined {
  const parts = s.split('.');
  if (parts.length !== 4) return undefined;
  let v = 0;
  for (const p of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(p)) return undefined;
    const n = Number(p);
    if (n > 255) return undefined;
    v = v * 256 + n;
  }
  return v;
}

export function formatIPv4(v: number): string {
  return [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255].join('.');
}

const mask = (bits: number): number => (bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0);

/** "10.244.1.0/24" -> prefix; host bits are allowed ("192.168.56.11/24") and cleared. */
export function parsePrefix4(s: string): Prefix4 | undefined {
  const m = /^([0-9.]+)\/([0-9]{1,2})$/.exec(s);
  if (!m) return undefined;
  const ip = parseIPv4(m[1]!);
  const bits = Number(m[2]);
  if (ip === undefined || bits > 32) return undefined;
  return { network: (ip & mask(bits)) >>> 0, bits };
}

export function formatPrefix4(p: Prefix4): string {
  return `${formatIPv4(p.network)}/${p.bits}`;
}

export function prefixContains(p: Prefix4, ip: number): boolean {
  return ((ip & mask(p.bits)) >>> 0) === p.network;
}

/** True if every address of inner is in outer. */
export function prefixCovers(outer: Prefix4, inner: Prefix4): boolean {
  return inner.bits >= outer.bits && prefixContains(outer, inner.network);
}

export function prefixesOverlap(a: Prefix4, b: Prefix4): boolean {
  return prefixCovers(a, b) || prefixCovers(b, a);
}
