// The pure planner for one Service: its ServicePorts and endpoints in, every iptables rule it
// needs out, following upstream kube-proxy's iptables design (pkg/proxy/iptables/proxier.go,
// syncProxyRules): KUBE-SERVICES captures the Service's IPs and jumps to KUBE-SVC (or KUBE-SVL
// for internalTrafficPolicy Local), NodePorts/externalIPs/LB IPs go through KUBE-EXT, the
// KUBE-SVC chain picks an endpoint with the statistic match, and KUBE-SEP DNATs to it. Services
// without usable endpoints get REJECT (or DROP, when only remote endpoints exist) in the filter
// table, so clients are refused at once instead of timing out.
import { categorizeEndpoints } from '../model/categorize.js';
import { type Endpoint, endpointsKey, endpointString, externallyAccessible, type ServicePort } from '../model/types.js';
import { cidrContains, parseCidr } from '../model/validation.js';
import { portProtoHash, sepChain } from './names.js';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_MARK_MASQ,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  type Table,
} from './static-rules.js';
import type { PlanConfig } from './types.js';

// The configuration is shared with static-rules.ts and restore.ts; it lives in types.ts.
export type { PlanConfig };

/**
 * Upstream's largeClusterEndpointsThreshold: above it, per-endpoint comments are a third of the
 * restore input (their text is the longest part of those rules) for little reading value, since
 * the chain names and DNAT targets say the same.
 */
export const LARGE_CLUSTER_ENDPOINTS = 1000;

/** Upstream's largeClusterMode: endpoints of every Service port, counted, above the threshold. */
export function largeClusterMode(
  services: ReadonlyMap<string, readonly ServicePort[]>,
  endpoints: ReadonlyMap<string, readonly Endpoint[]>,
): boolean {
  let n = 0;
  for (const ports of services.values())
    for (const sp of ports) n += endpoints.get(endpointsKey(sp.name, sp.protocol))?.length ?? 0;
  return n > LARGE_CLUSTER_ENDPOINTS;
}

/** A rule this Service contributes to one of the shared chains (KUBE-SERVICES, KUBE-NODEPORTS...). */
export interface SharedRule {
  table: Table;
  /** The whole rule as restore input: "-A CHAIN ...". */
  line: string;
  /**
   * Add it with -I (top of chain) instead of -A in a partial sync: nat KUBE-SERVICES must keep
   * its NodePort rule last, and an external or load balancer IP may be a local address.
   */
  insert: boolean;
}

/** A nat chain owned by this Service, and its whole content. */
export interface ChainBody {
  name: string;
  /** Restore lines, "-A NAME ..." each ending in "\n". */
  body: string;
  rules: number;
}

export interface ServiceRules {
  service: string;
  shared: SharedRule[];
  chains: ChainBody[];
  natRules: number;
  filterRules: number;
}

const comment = (text: string) => `-m comment --comment "${text}"`;
/** A per-endpoint comment and its trailing space, or nothing in a large cluster. */
const endpointComment = (cfg: PlanConfig, text: string) => (cfg.largeCluster ? '' : `${comment(text)} `);
const proto = (sp: ServicePort) => sp.protocol.toLowerCase();
/** "-p tcp ... -m tcp --dport N" pieces, in the order iptables-save prints them. */
const dport = (sp: ServicePort, port: number) => `-m ${proto(sp)} --dport ${port}`;

/** The probability for the i-th of n remaining endpoints, formatted as upstream does (%0.10f). */
export function probability(remaining: number): string {
  return (1 / remaining).toFixed(10);
}

export function planService(
  service: string,
  ports: readonly ServicePort[],
  endpoints: ReadonlyMap<string, readonly Endpoint[]>,
  cfg: PlanConfig,
): ServiceRules {
  const out: ServiceRules = { service, shared: [], chains: [], natRules: 0, filterRules: 0 };
  for (const sp of ports) planPort(sp, endpoints.get(endpointsKey(sp.name, sp.protocol)) ?? [], cfg, out);
  for (const r of out.shared) {
    if (r.table === 'nat') out.natRules++;
    else out.filterRules++;
  }
  for (const c of out.chains) out.natRules += c.rules;
  return out;
}

class ChainWriter {
  private lines: string[] = [];
  constructor(readonly name: string) {}
  add(spec: string): void {
    this.lines.push(`-A ${this.name} ${spec}\n`);
  }
  done(): ChainBody {
    return { name: this.name, body: this.lines.join(''), rules: this.lines.length };
  }
}

/** One Service port's chains, which of them it uses, and what its filter rules say. */
interface PortPlan {
  sp: ServicePort;
  /** The ServicePortName: every comment starts with it. */
  name: string;
  /** The protocol as iptables spells it ("tcp"). */
  p: string;
  cluster: readonly Endpoint[];
  local: readonly Endpoint[];
  reachable: readonly Endpoint[];
  hasEndpoints: boolean;
  clusterPolicyChain: string;
  localPolicyChain: string;
  sepNames: ReadonlyMap<Endpoint, string>;
  usesClusterChain: boolean;
  usesLocalChain: boolean;
  internalChain: string;
  hasInternal: boolean;
  externalPolicyChain: string;
  hasExternal: boolean;
  externalChain: string;
  usesExternalChain: boolean;
  firewallChain: string;
  usesFirewall: boolean;
  lbTarget: string;
  /** "-d CLUSTERIP/32 -p tcp". */
  clusterMatch: string;
  /** The comment and target of the filter rules for traffic we cannot deliver. */
  internalFilter: { text: string; target: string };
  externalFilter: { text: string; target: string };
}

function planPort(sp: ServicePort, eps: readonly Endpoint[], cfg: PlanConfig, out: ServiceRules): void {
  const pp = portPlan(sp, eps, cfg);
  addSharedRules(pp, out);
  if (pp.usesExternalChain) out.chains.push(externalChainBody(pp, cfg));
  if (pp.usesFirewall) out.chains.push(firewallChainBody(pp, cfg));
  if (pp.usesClusterChain) out.chains.push(clusterPolicyChainBody(pp, cfg));
  if (pp.usesLocalChain) {
    const svl = new ChainWriter(pp.localPolicyChain);
    writeLoadBalancing(svl, sp, pp.local, pp.sepNames, cfg);
    out.chains.push(svl.done());
  }
  for (const ep of pp.reachable) out.chains.push(endpointChainBody(pp, ep, cfg));
}

function portPlan(sp: ServicePort, eps: readonly Endpoint[], cfg: PlanConfig): PortPlan {
  const name = sp.name;
  const { cluster, local, reachable, hasAny } = categorizeEndpoints(sp, eps, cfg.nodeName);
  const hasEndpoints = reachable.length > 0;

  // One hash names all four per-port chains (as upstream's portProtoHash).
  const hash = portProtoHash(name, sp.protocol);
  const clusterPolicyChain = `KUBE-SVC-${hash}`;
  const localPolicyChain = `KUBE-SVL-${hash}`;
  const usesClusterChain = cluster.length > 0;
  const usesLocalChain = local.length > 0;
  const externalChain = `KUBE-EXT-${hash}`;
  const firewallChain = `KUBE-FW-${hash}`;
  const usesFirewall = hasEndpoints && sp.loadBalancerIPs.length > 0 && sp.loadBalancerSourceRanges.length > 0;

  // What the filter table does with traffic we cannot deliver.
  const noEndpoints = !hasEndpoints && !hasAny;
  const rejectTarget = '-j REJECT --reject-with icmp-port-unreachable';
  const internalFilter = noEndpoints
    ? { text: `${name} has no endpoints`, target: rejectTarget }
    : { text: `${name} has no local endpoints`, target: '-j DROP' };

  return {
    sp,
    name,
    p: proto(sp),
    cluster,
    local,
    reachable,
    hasEndpoints,
    clusterPolicyChain,
    localPolicyChain,
    sepNames: new Map(reachable.map((ep) => [ep, sepChain(name, sp.protocol, endpointString(ep))])),
    usesClusterChain,
    usesLocalChain,
    internalChain: sp.internalPolicyLocal ? localPolicyChain : clusterPolicyChain,
    hasInternal: sp.internalPolicyLocal ? usesLocalChain : usesClusterChain,
    externalPolicyChain: sp.externalPolicyLocal ? localPolicyChain : clusterPolicyChain,
    hasExternal: sp.externalPolicyLocal ? usesLocalChain : usesClusterChain,
    externalChain,
    // The EXT chain exists whenever there are endpoints at all: even with ETP Local and no local
    // endpoint, pods and the node itself are still sent to the cluster-wide endpoints.
    usesExternalChain: hasEndpoints && externallyAccessible(sp),
    firewallChain,
    usesFirewall,
    lbTarget: usesFirewall ? firewallChain : externalChain,
    clusterMatch: `-d ${sp.clusterIP}/32 -p ${proto(sp)}`,
    internalFilter,
    externalFilter: internalFilter,
  };
}

/** The port's rules in the shared chains: its cluster IP, external IPs, load balancer IPs and NodePort. */
function addSharedRules(pp: PortPlan, out: ServiceRules): void {
  const { sp, name, p, hasEndpoints, hasExternal, externalChain, internalFilter, externalFilter } = pp;
  const shared = (table: Table, line: string, insert = false) => out.shared.push({ table, line, insert });

  // Cluster IP.
  if (pp.hasInternal) {
    shared(
      'nat',
      `-A ${KUBE_SERVICES} ${pp.clusterMatch} ${comment(`${name} cluster IP`)} ${dport(sp, sp.port)} -j ${pp.internalChain}`,
    );
  } else {
    shared(
      'filter',
      `-A ${KUBE_SERVICES} ${pp.clusterMatch} ${comment(internalFilter.text)} ${dport(sp, sp.port)} ${internalFilter.target}`,
    );
  }

  // External IPs.
  for (const ip of sp.externalIPs) {
    if (hasEndpoints)
      shared(
        'nat',
        `-A ${KUBE_SERVICES} -d ${ip}/32 -p ${p} ${comment(`${name} external IP`)} ${dport(sp, sp.port)} -j ${externalChain}`,
        true,
      );
    if (!hasExternal)
      shared(
        'filter',
        `-A ${KUBE_EXTERNAL_SERVICES} -d ${ip}/32 -p ${p} ${comment(externalFilter.text)} ${dport(sp, sp.port)} ${externalFilter.target}`,
      );
  }

  // Load balancer ingress IPs.
  for (const ip of sp.loadBalancerIPs) {
    if (hasEndpoints)
      shared(
        'nat',
        `-A ${KUBE_SERVICES} -d ${ip}/32 -p ${p} ${comment(`${name} loadbalancer IP`)} ${dport(sp, sp.port)} -j ${pp.lbTarget}`,
        true,
      );
    if (pp.usesFirewall)
      shared(
        'filter',
        `-A ${KUBE_PROXY_FIREWALL} -d ${ip}/32 -p ${p} ${comment(`${name} traffic not accepted by ${pp.firewallChain}`)} ${dport(sp, sp.port)} -j DROP`,
      );
    if (!hasExternal)
      shared(
        'filter',
        `-A ${KUBE_EXTERNAL_SERVICES} -d ${ip}/32 -p ${p} ${comment(externalFilter.text)} ${dport(sp, sp.port)} ${externalFilter.target}`,
      );
  }

  // NodePort.
  if (sp.nodePort > 0) {
    if (hasEndpoints)
      shared('nat', `-A ${KUBE_NODEPORTS} -p ${p} ${comment(name)} ${dport(sp, sp.nodePort)} -j ${externalChain}`);
    if (!hasExternal)
      shared(
        'filter',
        `-A ${KUBE_EXTERNAL_SERVICES} -p ${p} ${comment(externalFilter.text)} -m addrtype --dst-type LOCAL ${dport(sp, sp.nodePort)} ${externalFilter.target}`,
      );
  }

  // The health check node port must be reachable even when everything else is dropped.
  if (sp.healthCheckNodePort > 0) {
    shared(
      'filter',
      `-A ${KUBE_NODEPORTS} -p tcp ${comment(`${name} health check node port`)} -m tcp --dport ${sp.healthCheckNodePort} -j ACCEPT`,
    );
  }
}

/** KUBE-EXT: masquerading for traffic from outside, then the external traffic policy's chain. */
function externalChainBody(pp: PortPlan, cfg: PlanConfig): ChainBody {
  const { name, clusterPolicyChain } = pp;
  const ext = new ChainWriter(pp.externalChain);
  if (!pp.sp.externalPolicyLocal) {
    // Endpoints may be on other nodes: masquerade so replies come back through this node.
    ext.add(`${comment(`masquerade traffic for ${name} external destinations`)} -j ${KUBE_MARK_MASQ}`);
  } else {
    // Pods going out to an external IP and back in are not subject to either policy
    // (as if they had gone through a real load balancer).
    if (cfg.clusterCIDR)
      ext.add(
        `-s ${cfg.clusterCIDR} ${comment(`pod traffic for ${name} external destinations`)} -j ${clusterPolicyChain}`,
      );
    // The node itself uses a local address as source, which endpoints elsewhere cannot answer.
    ext.add(
      `${comment(`masquerade LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${KUBE_MARK_MASQ}`,
    );
    ext.add(
      `${comment(`route LOCAL traffic for ${name} external destinations`)} -m addrtype --src-type LOCAL -j ${clusterPolicyChain}`,
    );
  }
  if (pp.hasExternal) ext.add(`${comment(name)} -j ${pp.externalPolicyChain}`);
  return ext.done();
}

/** KUBE-FW: loadBalancerSourceRanges let through to KUBE-EXT; KUBE-PROXY-FIREWALL drops the rest. */
function firewallChainBody(pp: PortPlan, cfg: PlanConfig): ChainBody {
  const { sp, name, externalChain } = pp;
  const fw = new ChainWriter(pp.firewallChain);
  const c = comment(`${name} loadbalancer IP`);
  let allowFromNode = false;
  for (const src of sp.loadBalancerSourceRanges) {
    fw.add(`-s ${src} ${c} -j ${externalChain}`);
    const cidr = parseCidr(src);
    if (cidr && cfg.nodeIPs.some((ip) => cidrContains(cidr, ip))) allowFromNode = true;
  }
  // Requests from the node to a VIP it holds loop back with the VIP as source.
  if (allowFromNode) for (const ip of sp.loadBalancerIPs) fw.add(`-s ${ip}/32 ${c} -j ${externalChain}`);
  fw.add(`${comment(`other traffic to ${name} will be dropped by ${KUBE_PROXY_FIREWALL}`)}`);
  return fw.done();
}

/** KUBE-SVC: masquerading for off-cluster sources, then the spread over every ready endpoint. */
function clusterPolicyChainBody(pp: PortPlan, cfg: PlanConfig): ChainBody {
  const { sp, name, clusterMatch } = pp;
  const svc = new ChainWriter(pp.clusterPolicyChain);
  if (cfg.masqueradeAll) {
    svc.add(`${clusterMatch} ${comment(`${name} cluster IP`)} ${dport(sp, sp.port)} -j ${KUBE_MARK_MASQ}`);
  } else if (cfg.clusterCIDR) {
    // Off-cluster sources reaching a ClusterIP (e.g. a route to the Service range via this
    // node) may be sent to another node: masquerade them so replies return here.
    svc.add(
      `! -s ${cfg.clusterCIDR} ${clusterMatch} ${comment(`${name} cluster IP`)} ${dport(sp, sp.port)} -j ${KUBE_MARK_MASQ}`,
    );
  }
  writeLoadBalancing(svc, sp, pp.cluster, pp.sepNames, cfg);
  return svc.done();
}

/** KUBE-SEP: the hairpin masquerade and the DNAT to one endpoint. */
function endpointChainBody(pp: PortPlan, ep: Endpoint, cfg: PlanConfig): ChainBody {
  const { sp, p } = pp;
  const sep = new ChainWriter(pp.sepNames.get(ep)!);
  const c = endpointComment(cfg, pp.name);
  // Hairpin: a pod reaching itself through the Service must be masqueraded, or it would
  // answer itself directly and the connection would never match.
  sep.add(`-s ${ep.ip}/32 ${c}-j ${KUBE_MARK_MASQ}`);
  const recent =
    sp.affinityTimeoutSeconds > 0 ? `-m recent --set --name ${sep.name} --mask 255.255.255.255 --rsource ` : '';
  sep.add(`-p ${p} ${c}${recent}-m ${p} -j DNAT --to-destination ${endpointString(ep)}`);
  return sep.done();
}

/** Affinity rules first (a known client goes back to its endpoint), then the random spread. */
function writeLoadBalancing(
  w: ChainWriter,
  sp: ServicePort,
  eps: readonly Endpoint[],
  sepNames: ReadonlyMap<Endpoint, string>,
  cfg: PlanConfig,
): void {
  const target = (ep: Endpoint) => sepNames.get(ep)!;
  const c = (ep: Endpoint) => endpointComment(cfg, `${sp.name} -> ${endpointString(ep)}`);
  if (sp.affinityTimeoutSeconds > 0) {
    for (const ep of eps) {
      const sep = target(ep);
      w.add(
        `${c(ep)}-m recent --rcheck --seconds ${sp.affinityTimeoutSeconds} --reap --name ${sep} --mask 255.255.255.255 --rsource -j ${sep}`,
      );
    }
  }
  eps.forEach((ep, i) => {
    const remaining = eps.length - i;
    // Each rule takes 1/remaining of what reaches it, which makes the choice uniform; the last
    // one takes everything left.
    const stat = remaining > 1 ? `-m statistic --mode random --probability ${probability(remaining)} ` : '';
    w.add(`${c(ep)}${stat}-j ${target(ep)}`);
  });
}
