// The pure planner for one Service: its ServicePorts and endpoints in, every iptables rule it
// needs out, following upstream kube-proxy's iptables design (pkg/proxy/iptables/proxier.go,
// syncProxyRules): KUBE-SERVICES captures the Service's IPs and jumps to KUBE-SVC (or KUBE-SVL
// for internalTrafficPolicy Local), NodePorts/externalIPs/LB IPs go through KUBE-EXT, the
// KUBE-SVC chain picks an endpoint with the statistic match, and KUBE-SEP DNATs to it. Services
// without usable endpoints get REJECT (or DROP, when only remote endpoints exist) in the filter
// table, so clients are refused at once instead of timing out.
import { type Endpoint, endpointsKey, type ServicePort } from '../model/types.js';
import { portChainBodies } from './service-chains.js';
import { comment, dport, type PortPlan, portPlan } from './service-port-plan.js';
import {
  KUBE_EXTERNAL_SERVICES,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  type Table,
} from './static-rules.js';
import type { ChainBody, PlanConfig } from './types.js';

// The configuration is shared with static-rules.ts and restore.ts; it lives in types.ts.

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

export interface ServiceRules {
  service: string;
  shared: SharedRule[];
  chains: ChainBody[];
  natRules: number;
  filterRules: number;
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

function planPort(sp: ServicePort, eps: readonly Endpoint[], cfg: PlanConfig, out: ServiceRules): void {
  const pp = portPlan(sp, eps, cfg);
  addSharedRules(pp, out);
  out.chains.push(...portChainBodies(pp, cfg));
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
