// Which virtual servers are ours (pure). IPVS is one table per network namespace shared with
// anyone else who uses it, so kubenode-proxy changes and deletes only virtual servers on
// addresses it manages: the Service addresses on kube-ipvs0 (what the kernel holds there now and
// what this sync wants there), and node addresses on a port listed in our NodePort ipsets (which
// live in the kernel, so ownership survives a restart of the proxy).
import type { Protocol } from '../model/types.js';
import { nodePortSet } from './ipsets.js';

export interface AddressInfo {
  ifname: string;
  address: string;
}

export interface LinkAddresses {
  links: Set<string>;
  addresses: AddressInfo[];
}

/** Interface names and IPv4 addresses from `ip -j addr show` (pure). */
export function parseAddresses(json: string): LinkAddresses {
  const parsed = JSON.parse(json || '[]') as Array<{
    ifname?: string;
    addr_info?: Array<{ family?: string; local?: string }>;
  }>;
  const out: LinkAddresses = { links: new Set(), addresses: [] };
  for (const l of parsed) {
    if (!l.ifname) continue;
    out.links.add(l.ifname);
    for (const a of l.addr_info ?? [])
      if (a.family === 'inet' && a.local) out.addresses.push({ ifname: l.ifname, address: a.local });
  }
  return out;
}

export interface OwnershipInput {
  /** Addresses on kube-ipvs0 now, and those this sync binds there. */
  serviceAddresses: Iterable<string>;
  /** This node's own addresses (not kube-ipvs0's). */
  nodeAddresses: Iterable<string>;
  /** NodePort ipsets (KUBE-NODE-PORT-TCP...) as the kernel has them and as this sync wants them. */
  nodePortSets: ReadonlyArray<ReadonlyMap<string, ReadonlySet<string>>>;
}

export function ownership(
  input: OwnershipInput,
): (vs: { protocol: Protocol; address: string; port: number }) => boolean {
  const services = new Set(input.serviceAddresses);
  const nodes = new Set(input.nodeAddresses);
  const ports = new Map<Protocol, Set<string>>();
  for (const p of ['TCP', 'UDP', 'SCTP'] as const) {
    const s = new Set<string>();
    for (const sets of input.nodePortSets) for (const e of sets.get(nodePortSet(p)) ?? []) s.add(e);
    ports.set(p, s);
  }
  return (vs) => services.has(vs.address) || (nodes.has(vs.address) && ports.get(vs.protocol)!.has(String(vs.port)));
}
