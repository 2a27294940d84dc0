// The pure planner for one Service in nftables mode: its ServicePorts and endpoints in, its own
// chains, endpoint maps, elements in the shared verdict maps, and affinity sets out. The
// dispatch is upstream kube-proxy's nftables mode (pkg/proxy/nftables): one lookup in @service-ips
// (address . protocol . port) or @service-nodeports sends a packet to the Service port's
// chain. Unlike upstream there is no chain per endpoint (but with session affinity): the Service
// chain's rules pick an endpoint and DNAT themselves, see endpoints.ts. Services without
// usable endpoints are elements of @no-endpoint-services / @no-endpoint-nodeports (reject, or
// drop for traffic policy Local), loadBalancerSourceRanges elements of @firewall-ips. The
// decisions (which endpoints, which chain, reject or drop) are the iptables planner's, taken
// from the same categorizeEndpoints, so both modes steer every packet alike.
import { containsAddress, parseIPv4Network } from '../../lib/ip.js';
import { categorizeEndpoints } from '../model/categorize.js';
import { type Endpoint, endpointsKey, externallyAccessible, type ServicePort } from '../model/types.js';
import { type AffinitySet, loadBalancing } from './endpoints.js';
import {
  CLUSTER_IPS,
  type ElementMap,
  FIREWALL_IPS,
  MARK_MASQ,
  NO_ENDPOINT_NODEPORTS,
  NO_ENDPOINT_SERVICES,
  type PortChains,
  portChains,
  REJECT_CHAIN,
  SERVICE_IPS,
  SERVICE_NODEPORTS,
} from './names.js';

export type { AffinitySet } from './endpoints.js';

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

export interface ServicePlan {
  service: string;
  chains: NftChain[];
  elements: NftElement[];
  sets: AffinitySet[];
  /** `a . a` elements of @endpoint-hairpins, one per endpoint address. */
  hairpins: string[];
}

export function planNftService(
  service: string,
  ports: readonly ServicePort[],
  endpoints: ReadonlyMap<string, readonly Endpoint[]>,
  cfg: NftPlanConfig,
): ServicePlan {
  const out: ServicePlan = { service, chains: [], elements: [], sets: [], hairpins: [] };
  for (const sp of ports) planPort(sp, endpoints.get(endpointsKey(sp.name, sp.protocol)) ?? [], cfg, out);
  // A ClusterIP is one element however many ports the Service has: traffic to a port it does
  // not serve is rejected (upstream's @cluster-ips).
  const ips = new Set(ports.map((p) => p.clusterIP));
  for (const ip of ips) out.elements.push({ map: CLUSTER_IPS, key: ip });
  return out;
}

/** What the parts of one Service port's plan share. */
interface PortContext {
  sp: ServicePort;
  p: string;
  chains: PortChains;
  cfg: NftPlanConfig;
  out: ServicePlan;
}

function planPort(sp: ServicePort, eps: readonly Endpoint[], cfg: NftPlanConfig, out: ServicePlan): void {
  const ctx: PortContext = { sp, p: sp.protocol.toLowerCase(), chains: portChains(sp), cfg, out };
  const { cluster, local, reachable, hasAny } = categorizeEndpoints(sp, eps, cfg.nodeName);
  const hasEndpoints = reachable.length > 0;
  const { chains } = ctx;
  const usesClusterChain = cluster.length > 0;
  const usesLocalChain = local.length > 0;
  const hasInternal = sp.internalPolicyLocal ? usesLocalChain : usesClusterChain;
  const hasExternal = sp.externalPolicyLocal ? usesLocalChain : usesClusterChain;
  planElements(ctx, { hasEndpoints, hasAny, hasInternal, hasExternal });
  // Even with externalTrafficPolicy Local and no local endpoint, pods and the node itself are
  // still sent to the cluster-wide endpoints: the external chain exists whenever any endpoint does.
  if (hasEndpoints && externallyAccessible(sp)) planExternalChain(ctx, hasExternal);
  if (usesClusterChain)
    out.chains.push({ name: chains.cluster, rules: [...masqueradeRule(sp, cfg), ...loadBalancing(sp, cluster, out)] });
  if (usesLocalChain) out.chains.push({ name: chains.local, rules: loadBalancing(sp, local, out) });
  for (const ip of new Set(reachable.map((ep) => ep.ip)))
    if (!out.hairpins.includes(`${ip} . ${ip}`)) out.hairpins.push(`${ip} . ${ip}`);
}

interface Reach {
  hasEndpoints: boolean;
  hasAny: boolean;
  hasInternal: boolean;
  hasExternal: boolean;
}

/** The Service port's elements in the shared verdict maps, and its firewall chain. */
function planElements({ sp, p, chains, cfg, out }: PortContext, r: Reach): void {
  const internalChain = sp.internalPolicyLocal ? chains.local : chains.cluster;
  const usesFirewall = sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;
  // No usable endpoint anywhere: refuse at once; endpoints only elsewhere (policy Local): drop.
  const filterVerdict = !r.hasEndpoints && !r.hasAny ? `goto ${REJECT_CHAIN}` : 'drop';
  const el = (map: ElementMap, key: string, value: string) => out.elements.push({ map, key, value });
  const vip = (ip: string) => `${ip} . ${p} . ${sp.port}`;

  if (r.hasInternal) el(SERVICE_IPS, vip(sp.clusterIP), `goto ${internalChain}`);
  else el(NO_ENDPOINT_SERVICES, vip(sp.clusterIP), filterVerdict);
  for (const ip of [...sp.externalIPs, ...sp.loadBalancerIPs]) {
    if (r.hasEndpoints) el(SERVICE_IPS, vip(ip), `goto ${chains.external}`);
    if (!r.hasExternal) el(NO_ENDPOINT_SERVICES, vip(ip), filterVerdict);
  }
  if (usesFirewall) for (const ip of sp.loadBalancerIPs) el(FIREWALL_IPS, vip(ip), `goto ${chains.firewall}`);
  if (sp.nodePort > 0) {
    if (r.hasEndpoints) el(SERVICE_NODEPORTS, `${p} . ${sp.nodePort}`, `goto ${chains.external}`);
    if (!r.hasExternal) el(NO_ENDPOINT_NODEPORTS, `${p} . ${sp.nodePort}`, filterVerdict);
  }
  if (!usesFirewall) return;
  const sources = [...sp.loadBalancerSourceRanges];
  // Requests from the node to a VIP it holds loop back with the VIP as source.
  const fromNode = sp.loadBalancerSourceRanges.some((range) => {
    const c = parseIPv4Network(range);
    return c !== undefined && cfg.nodeIPs.some((ip) => containsAddress(c, ip));
  });
  if (fromNode) sources.push(...sp.loadBalancerIPs);
  out.chains.push({ name: chains.firewall, rules: [`ip saddr != { ${sources.join(', ')} } drop`] });
}

/** NodePort, externalIP and LoadBalancer traffic: masquerade as the policy asks, then the cluster or local chain. */
function planExternalChain({ sp, chains, cfg, out }: PortContext, hasExternal: boolean): void {
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
  if (hasExternal) rules.push(`goto ${sp.externalPolicyLocal ? chains.local : chains.cluster}`);
  out.chains.push({ name: chains.external, rules });
}

/** Off-cluster sources reaching a ClusterIP may be sent to another node: masquerade them. */
function masqueradeRule(sp: ServicePort, cfg: NftPlanConfig): string[] {
  const match = `ip daddr ${sp.clusterIP} ${sp.protocol.toLowerCase()} dport ${sp.port}`;
  if (cfg.masqueradeAll) return [`${match} jump ${MARK_MASQ}`];
  if (cfg.clusterCIDR) return [`${match} ip saddr != ${cfg.clusterCIDR} jump ${MARK_MASQ}`];
  return [];
}
