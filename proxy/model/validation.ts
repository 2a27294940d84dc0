// Small validators for what ends up inside iptables-restore input. Everything interpolated into
// a rule (names in comments, addresses, ports) passes through here first, so a hostile or
// mistyped manifest can never inject a line into the restore input.

/** A dotted-quad IPv4 address without leading zeros (what the apiserver accepts). */
export function isIPv4(s: unknown): s is string {
  if (typeof s !== 'string') return false;
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  return parts.every((p) => /^(0|[1-9]\d{0,2})$/.test(p) && Number(p) <= 255);
}

export function isIPv6(s: unknown): boolean {
  return typeof s === 'string' && s.includes(':') && /^[0-9a-fA-F:.]+$/.test(s);
}

export function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, p) => acc * 256 + Number(p), 0);
}

export interface Cidr {
  readonly base: number;
  readonly bits: number;
  /** Normalised "a.b.c.d/n". */
  readonly text: string;
}

export function parseCidr(s: string): Cidr | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || !isIPv4(m[1])) return undefined;
  const bits = Number(m[2]);
  if (bits > 32) return undefined;
  const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
  const base = (ipv4ToInt(m[1]!) & mask) >>> 0;
  const text = `${[24, 16, 8, 0].map((sh) => (base >>> sh) & 255).join('.')}/${bits}`;
  return { base, bits, text };
}

export function cidrContains(c: Cidr, ip: string): boolean {
  const mask = c.bits === 0 ? 0 : (~0 << (32 - c.bits)) >>> 0;
  return ((ipv4ToInt(ip) & mask) >>> 0) === c.base;
}

export function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isDNS1123Label(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 63 && dns1123Label.test(s);
}

export function isDNS1123Subdomain(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 253 && dns1123Subdomain.test(s);
}

/** IANA_SVC_NAME, what a Service or EndpointSlice port name must be. */
export function isPortName(s: unknown): s is string {
  return typeof s === 'string' && s.length <= 15 && /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) && /[a-z]/.test(s) && !s.includes('--');
}
