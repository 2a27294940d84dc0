// How a cluster or local chain picks an endpoint and DNATs to it (pure). The i-th of n rules
// takes 1/(n-i) of what reaches it, the last the rest, as the iptables mode's statistic rules do.
//
// Without session affinity the rules DNAT themselves (`numgen random mod 3 0 meta l4proto tcp
// dnat to a:p`; a dnat ends the chain): no chain per endpoint, no map, no set. Two costs of the
// kernel's make this the fast layout at 10,000 Services (proxy/nftables/MEASUREMENTS.md): a
// transaction that adds a rule with a dnat or a verdict re-validates every chain reachable from
// the base chains, so 10,000 chains instead of 60,000 make each endpoint change cheaper; and the
// kernel finds a named set or map by walking the table's list of them, so a map per Service
// (measured: 10,000 of them made a cold start 4x slower) or upstream's anonymous
// `numgen random mod n vmap { ... }` per Service makes a cold start quadratic. An endpoint change
// rewrites the one chain.
//
// With sessionAffinity ClientIP: upstream's layout, a chain per endpoint, because the client
// must be recorded in that endpoint's affinity set before the DNAT; a known client goes back to
// its endpoint first.
import type { Endpoint, ServicePort } from '../model/types.js';
import { affinitySet, endpointBase, endpointChain, MARK_MASQ } from './names.js';

/** A per-endpoint set of client addresses for sessionAffinity ClientIP. */
export interface AffinitySet {
  name: string;
  timeoutSeconds: number;
}

/** Where the chains and sets the rules refer to are collected. */
interface PlanOut {
  chains: Array<{ name: string; rules: string[] }>;
  sets: AffinitySet[];
}

/** A uniform pick: the i-th of n actions is taken with 1/(n-i) of what reaches it. */
const cascade = (actions: readonly string[]) =>
  actions.map((a, i) => `${actions.length - i > 1 ? `numgen random mod ${actions.length - i} 0 ` : ''}${a}`);

/** The rules of a cluster or local chain that send a packet to one of `eps`. */
export function loadBalancing(sp: ServicePort, eps: readonly Endpoint[], out: PlanOut): string[] {
  // nft wants the protocol known before a dnat to a port.
  if (sp.affinityTimeoutSeconds <= 0)
    return cascade(eps.map((ep) => `meta l4proto ${sp.protocol.toLowerCase()} dnat to ${ep.ip}:${ep.port}`));
  const bases = eps.map((ep) => endpointBase(sp, ep));
  for (const [i, ep] of eps.entries()) addEndpointChain(sp, ep, bases[i]!, out);
  return [
    ...bases.map((b) => `ip saddr @${affinitySet(b)} goto ${endpointChain(b)}`),
    ...cascade(bases.map((b) => `goto ${endpointChain(b)}`)),
  ];
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
