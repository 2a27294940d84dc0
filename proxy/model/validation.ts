// Small validators for what ends up inside iptables-restore input. Everything interpolated into
// a rule (names in comments, addresses, ports) passes through here first, so a hostile or
// mistyped manifest can never inject a line into the restore input. Addresses and CIDRs are
// checked by lib/ip.ts.

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
  return (
    typeof s === 'string' &&
    s.length <= 15 &&
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(s) &&
    /[a-z]/.test(s) &&
    !s.includes('--')
  );
}
