// How a cluster or local chain picks an endpoint and DNATs to it (pure).
//
// Without session affinity: one rule, `dnat ip to numgen random mod N map @endpoints-…`, through
// a map of the Service port's own (index -> address . port), and no chain per endpoint. Two
// costs of the kernel's make this the fast layout at 10,000 Services (proxy/nftables/
// MEASUREMENTS.md): a transaction that adds a rule with a dnat or a verdict re-validates every
// chain reachable from the base chains, so 10,000 chains instead of 60,000 make each endpoint
// change cheaper; and adding a map with its elements costs no more than starting nft. An
// endpoint change therefore writes a new generation of the map and rewrites the one chain to
// point at it; the old generation is deleted later, in a batch (transactions.ts).
//
// With sessionAffinity ClientIP: upstream's layout, a chain per endpoint, because the client
// must be recorded in that endpoint's affinity set before the DNAT, and a map cannot do that.
// A known client goes back to its endpoint first; then the i-th of n rules takes 1/(n-i) of what
// reaches it, the last the rest, as the iptables mode's statistic rules do. (Upstream writes one
// `numgen random mod n vmap { ... }` instead: an anonymous set per rule, and the kernel finds
// sets by walking a list, so 10,000 of them make a cold start quadratic.)
import type { Endpoint, ServicePort } from '../model/types.js';
import { affinitySet, endpointBase, endpointChain, endpointsMap, MARK_MASQ } from './names.js';

/** A per-endpoint set of client addresses for sessionAffinity ClientIP. */
export interface AffinitySet {
  name: string;
  timeoutSeconds: number;
}

/** One generation of a Service port's endpoint map: index -> address . port. */
export interface EndpointMap {
  name: string;
  /** The map's `typeof`, e.g. "numgen random mod 1 : ip daddr . tcp dport". */
  type: string;
  /** "0 : 10.244.1.11 . 8080", ... */
  elements: string[];
}

/** Where the chains, maps and sets the rules refer to are collected. */
interface PlanOut {
  chains: Array<{ name: string; rules: string[] }>;
  sets: AffinitySet[];
  maps: EndpointMap[];
}

/** The rules of a cluster or local chain that send a packet to one of `eps`. */
export function loadBalancing(sp: ServicePort, chain: string, eps: readonly Endpoint[], out: PlanOut): string[] {
  const p = sp.protocol.toLowerCase();
  if (sp.affinityTimeoutSeconds <= 0) {
    const elements = eps.map((ep, i) => `${i} : ${ep.ip} . ${ep.port}`);
    const name = endpointsMap(chain, elements);
    if (!out.maps.some((m) => m.name === name)) out.maps.push({ name, type: `numgen random mod 1 : ip daddr . ${p} dport`, elements });
    // nft 1.0.6 wants the protocol known before a dnat to a port.
    return [`meta l4proto ${p} dnat ip to numgen random mod ${eps.length} map @${name}`];
  }
  const bases = eps.map((ep) => endpointBase(sp, ep));
  for (const [i, ep] of eps.entries()) addEndpointChain(sp, ep, bases[i]!, out);
  const rules = bases.map((b) => `ip saddr @${affinitySet(b)} goto ${endpointChain(b)}`);
  bases.forEach((b, i) => {
    const remaining = eps.length - i;
    rules.push(`${remaining > 1 ? `numgen random mod ${remaining} 0 ` : ''}goto ${endpointChain(b)}`);
  });
  return rules;
}

/** An endpoint chain of an affinity Service (once, though the cluster and local chains both use it). */
function addEndpointChain(sp: ServicePort, ep: Endpoint, base: string, out: PlanOut): void {
  const name = endpointChain(base);
  if (out.chains.some((c) => c.name === name)) return;
  out.sets.push({ name: affinitySet(base), timeoutSeconds: sp.affinityTimeoutSeconds });
  out.chains.push({
    name,
    rules: [
      // Hairpin: a pod reaching itself through the Service must be masqueraded, or it would
      // answer itself directly and the connection would never match.
      `ip saddr ${ep.ip} jump ${MARK_MASQ}`,
      `update @${affinitySet(base)} { ip saddr }`,
      `meta l4proto ${sp.protocol.toLowerCase()} dnat to ${ep.ip}:${ep.port}`,
    ],
  });
}
