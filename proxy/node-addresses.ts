// This node's IPv4 addresses, for --nodeport-addresses: one `ip -j addr` process.
import { run } from '../lib/exec.js';
import { isLoopbackAddress, containsAddress, type IPv4Network, isIPv4 } from '../lib/ip.js';

interface IpAddrJson {
  ifname?: string;
  addr_info?: Array<{ family?: string; local?: string }>;
}

/** Parse `ip -j addr show` output into IPv4 addresses (pure). */
export function parseIpAddrJson(json: string): string[] {
  const links = JSON.parse(json) as IpAddrJson[];
  const out: string[] = [];
  for (const l of links)
    for (const a of l.addr_info ?? [])
      if (a.family === 'inet' && isIPv4(a.local) && !out.includes(a.local)) out.push(a.local);
  return out;
}

export async function nodeIPv4Addresses(): Promise<string[]> {
  return parseIpAddrJson((await run('ip', ['-j', 'addr', 'show'], { timeoutMs: 10_000 })).stdout);
}

/**
 * Addresses inside any of the CIDRs (pure). Loopback addresses only when asked: NodePorts on them
 * need route_localnet (iptables mode's --iptables-localhost-nodeports).
 */
export function addressesInCidrs(addrs: readonly string[], cidrs: readonly IPv4Network[], loopback = false): string[] {
  return addrs.filter((ip) => (loopback || !isLoopbackAddress(ip)) && cidrs.some((c) => containsAddress(c, ip)));
}
