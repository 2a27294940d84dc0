// resolv.conf text -> the result's "dns" section, as host-local's resolvConf option does. Pure.
import type { CniDNS } from '../spec/result.js';

export function parseResolvConf(text: string): CniDNS | undefined {
  const dns: CniDNS = {};
  for (const line of text.split('\n')) {
    const f = line
      .replace(/[#;].*/, '')
      .trim()
      .split(/\s+/)
      .filter(Boolean);
    if (f.length < 2) continue;
    const [key, ...vals] = f;
    if (key === 'nameserver') (dns.nameservers ??= []).push(vals[0]!);
    else if (key === 'domain') dns.domain = vals[0]!;
    else if (key === 'search') dns.search = vals;
    else if (key === 'options') (dns.options ??= []).push(...vals);
  }
  return Object.keys(dns).length ? dns : undefined;
}
