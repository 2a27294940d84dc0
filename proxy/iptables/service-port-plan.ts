// One Service port's plan for the iptables planner (service-rules.ts, service-chains.ts): its
// endpoints sorted by where they may go, the names of its per-port chains (as upstream's
// servicePortInfo in pkg/proxy/iptables/proxier.go), which of them it uses, and what the filter
// table does with traffic it cannot deliver. Also the rule-text pieces both files write with.
import { categorizeEndpoints } from '../model/categorize.js';
import { type Endpoint, endpointString, externallyAccessible, type ServicePort } from '../model/types.js';
import { portProtoHash, sepChain } from './names.js';
import type { PlanConfig } from './types.js';

export const comment = (text: string) => `-m comment --comment "${text}"`;
/** A per-endpoint comment and its trailing space, or nothing in a large cluster. */
export const endpointComment = (cfg: PlanConfig, text: string) => (cfg.largeCluster ? '' : `${comment(text)} `);
export const proto = (sp: ServicePort) => sp.protocol.toLowerCase();
/** "-p tcp ... -m tcp --dport N" pieces, in the order iptables-save prints them. */
export const dport = (sp: ServicePort, port: number) => `-m ${proto(sp)} --dport ${port}`;

/** One Service port's chains, which of them it uses, and what its filter rules say. */
export interface PortPlan {
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

export function portPlan(sp: ServicePort, eps: readonly Endpoint[], cfg: PlanConfig): PortPlan {
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
