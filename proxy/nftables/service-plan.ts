// The pure planner for one Service in nftables mode: its ServicePorts and endpoints in, its own
// chains, its elements in the shared verdict maps, and its affinity sets out. The design is
// upstream kube-proxy's nftables mode (pkg/proxy/nftables): one lookup in @service-ips
// (address . protocol . port) or @service-nodeports sends a packet to the Service port's
// chain, where a random pick (`numgen random mod N`) sends it to an endpoint chain that DNATs. Services without
// usable endpoints are elements of @no-endpoint-services / @no-endpoint-nodeports (reject, or
// drop for traffic policy Local), loadBalancerSourceRanges elements of @firewall-ips. The
// decisions (which endpoints, which chain, reject or drop) are the iptables planner's, taken
// from the same categorizeEndpoints, so both modes steer every packet alike.
import { categorizeEndpoints } from '../model/categorize.js';
import { type Endpoint, endpointsKey, externallyAccessible, type ServicePort } from '../model/types.js';
import { cidrContains, parseCidr } from '../model/validation.js';
import {
  affinitySet,
  CLUSTER_IPS,
  type ElementMap,
  endpointBase,
  endpointChain,
  FIREWALL_IPS,
  MARK_MASQ,
  NO_ENDPOINT_NODEPORTS,
  NO_ENDPOINT_SERVICES,
  portChains,
  REJECT_CHAIN,
  SERVICE_IPS,
  SERVICE_NODEPORTS,
} from './names.js';

export interface NftPlanConfig {
  /** Endpoints with this nodeName are local. */
  nodeName: string;
  /** --cluster-cidr (normalised): decides which sources are pods. */
  clusterCIDR?: string;
  /** --masquerade-all */
  masqueradeAll: boolean;
  /** This node's addresses (a loadBalancerSourceRange containing one also admits the LB IPs). */
  nodeIPs: readonly string[];
}

/** A chain owned by one Service: its whole content, one rule per entry (nft syntax). */
export interface NftChain {
  name: string;
  rules: string[];
}

/** One element of a shared map or set; `value` is the verdict (absent for a set). */
export interface NftElement {
  map: ElementMap;
  key: string;
  value?: string;
}

/** A per-endpoint set of client addresses for sessionAffinity ClientIP. */
export interface AffinitySet {
  name: string;
  timeoutSeconds: number;
}

export interface ServicePlan {
  service: string;
  chains: NftChain[];
  elements: NftElement[];
  sets: AffinitySet[];
}

export function planNftService(
  service: string,
  ports: readonly ServicePort[],
  endpoints: ReadonlyMap<string, readonly Endpoint[]>,
  cfg: NftPlanConfig,
): ServicePlan {
  const out: ServicePlan = { service, chains: [], elements: [], sets: [] };
  for (const sp of ports) planPort(sp, endpoints.get(endpointsKey(sp.name, sp.protocol)) ?? [], cfg, out);
  // A ClusterIP is one element however many ports the Service has: traffic to a port it does
  // not serve is rejected (upstream's @cluster-ips).
  const ips = new Set(ports.map((p) => p.clusterIP));
  for (const ip of ips) out.elements.push({ map: CLUSTER_IPS, key: ip });
  return out;
}

function planPort(sp: ServicePort, eps: readonly Endpoint[], cfg: NftPlanConfig, out: ServicePlan): void {
  const p = sp.protocol.toLowerCase();
  const { cluster, local, reachable, hasAny } = categorizeEndpoints(sp, eps, cfg.nodeName);
  const hasEndpoints = reachable.length > 0;
  const chains = portChains(sp);
  const bases = new Map(reachable.map((ep) => [ep, endpointBase(sp, ep)]));
  const usesClusterChain = cluster.length > 0;
  const usesLocalChain = local.length > 0;
  const internalChain = sp.internalPolicyLocal ? chains.local : chains.cluster;
  const hasInternal = sp.internalPolicyLocal ? usesLocalChain : usesClusterChain;
  const externalPolicyChain = sp.externalPolicyLocal ? chains.local : chains.cluster;
  const hasExternal = sp.externalPolicyLocal ? usesLocalChain : usesClusterChain;
  // Even with externalTrafficPolicy Local and no local endpoint, pods and the node itself are
  // still sent to the cluster-wide endpoints: the external chain exists whenever any endpoint does.
  const usesExternalChain = hasEndpoints && externallyAccessible(sp);
  const usesFirewall = sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  // No usable endpoint anywhere: refuse at once; endpoints only elsewhere (policy Local): drop.
  const filterVerdict = !hasEndpoints && !hasAny ? `goto ${REJECT_CHAIN}` : 'drop';
  const el = (map: ElementMap, key: string, value: string) => out.elements.push({ map, key, value });
  const vip = (ip: string) => `${ip} . ${p} . ${sp.port}`;

  if (hasInternal) el(SERVICE_IPS, vip(sp.clusterIP), `goto ${internalChain}`);
  else el(NO_ENDPOINT_SERVICES, vip(sp.clusterIP), filterVerdict);
  for (const ip of [...sp.externalIPs, ...sp.loadBalancerIPs]) {
    if (hasEndpoints) el(SERVICE_IPS, vip(ip), `goto ${chains.external}`);
    if (!hasExternal) el(NO_ENDPOINT_SERVICES, vip(ip), filterVerdict);
  }
  if (usesFirewall) for (const ip of sp.loadBalancerIPs) el(FIREWALL_IPS, vip(ip), `goto ${chains.firewall}`);
  if (sp.nodePort > 0) {
    if (hasEndpoints) el(SERVICE_NODEPORTS, `${p} . ${sp.nodePort}`, `goto ${chains.external}`);
    if (!hasExternal) el(NO_ENDPOINT_NODEPORTS, `${p} . ${sp.nodePort}`, filterVerdict);
  }

  if (usesFirewall) {
    const sources = [...sp.loadBalancerSourceRanges];
    // Requests from the node to a VIP it holds loop back with the VIP as source.
    const fromNode = sp.loadBalancerSourceRanges.some((r) => {
      const c = parseCidr(r);
      return c !== undefined && cfg.nodeIPs.some((ip) => cidrContains(c, ip));
    });
    if (fromNode) sources.push(...sp.loadBalancerIPs);
    out.chains.push({ name: chains.firewall, rules: [`ip saddr != { ${sources.join(', ')} } drop`] });
  }

  if (usesExternalChain) {
    const rules: string[] = [];
    if (!sp.externalPolicyLocal) {
      // Endpoints may be on other nodes: masquerade so replies come back through this node.
      rules.push(`jump ${MARK_MASQ}`);
    } else {
      // Pods going out to an external IP and back in are subject to neither policy (as if
      // through a real load balancer); the node itself uses a local source address, which
      // endpoints elsewhere cannot answer, so it is masqueraded.
      if (cfg.clusterCIDR)
        rules.push(`ip saddr ${cfg.clusterCIDR} goto ${chains.cluster} comment "short-circuit pod traffic"`);
      rules.push(`fib saddr type local jump ${MARK_MASQ} comment "masquerade local traffic"`);
      rules.push(`fib saddr type local goto ${chains.cluster} comment "short-circuit local traffic"`);
    }
    if (hasExternal) rules.push(`goto ${externalPolicyChain}`);
    out.chains.push({ name: chains.external, rules });
  }

  if (usesClusterChain)
    out.chains.push({
      name: chains.cluster,
      rules: [...masqueradeRule(sp, cfg), ...loadBalancing(sp, cluster, bases)],
    });
  if (usesLocalChain) out.chains.push({ name: chains.local, rules: loadBalancing(sp, local, bases) });

  for (const ep of reachable) {
    const base = bases.get(ep)!;
    // Hairpin: a pod reaching itself through the Service must be masqueraded, or it would
    // answer itself directly and the connection would never match.
    const rules = [`ip saddr ${ep.ip} jump ${MARK_MASQ}`];
    if (sp.affinityTimeoutSeconds > 0) {
      out.sets.push({ name: affinitySet(base), timeoutSeconds: sp.affinityTimeoutSeconds });
      rules.push(`update @${affinitySet(base)} { ip saddr }`);
    }
    rules.push(`meta l4proto ${p} dnat to ${ep.ip}:${ep.port}`);
    out.chains.push({ name: endpointChain(base), rules });
  }
}

/** Off-cluster sources reaching a ClusterIP may be sent to another node: masquerade them. */
function masqueradeRule(sp: ServicePort, cfg: NftPlanConfig): string[] {
  const match = `ip daddr ${sp.clusterIP} ${sp.protocol.toLowerCase()} dport ${sp.port}`;
  if (cfg.masqueradeAll) return [`${match} jump ${MARK_MASQ}`];
  if (cfg.clusterCIDR) return [`${match} ip saddr != ${cfg.clusterCIDR} jump ${MARK_MASQ}`];
  return [];
}

/**
 * Affinity first (a known client goes back to its endpoint), then a uniform random pick: the
 * i-th of n rules takes 1/(n-i) of what reaches it, the last takes the rest, as the iptables
 * mode's statistic rules do. Upstream writes one `numgen random mod n vmap { ... }` instead;
 * each such rule is an anonymous set, and the kernel finds sets by walking a list (and sets
 * new in a transaction by walking the whole transaction), so 10,000 of them make a cold start
 * quadratic: minutes. Plain rules cost nothing of the kind, and run only for a connection's
 * first packet.
 */
function loadBalancing(sp: ServicePort, eps: readonly Endpoint[], bases: ReadonlyMap<Endpoint, string>): string[] {
  const rules: string[] = [];
  if (sp.affinityTimeoutSeconds > 0)
    for (const ep of eps) rules.push(`ip saddr @${affinitySet(bases.get(ep)!)} goto ${endpointChain(bases.get(ep)!)}`);
  eps.forEach((ep, i) => {
    const remaining = eps.length - i;
    rules.push(`${remaining > 1 ? `numgen random mod ${remaining} 0 ` : ''}goto ${endpointChain(bases.get(ep)!)}`);
  });
  return rules;
}
