// The nat chains one Service port owns (pure): KUBE-EXT, KUBE-FW, KUBE-SVC, KUBE-SVL and one
// KUBE-SEP per endpoint, each as its whole restore text (upstream: the per-port part of
// syncProxyRules in pkg/proxy/iptables/proxier.go).
import { containsAddress, parseIPv4Network } from '../../lib/ip.js';
import { type Endpoint, endpointString, type ServicePort } from '../model/types.js';
import { comment, dport, endpointComment, type PortPlan } from './service-port-plan.js';
import { KUBE_MARK_MASQ, KUBE_PROXY_FIREWALL } from './static-rules.js';
import type { ChainBody, PlanConfig } from './types.js';

/** The probability for the i-th of n remaining endpoints, formatted as upstream does (%0.10f). */
export function probability(remaining: number): string {
  return (1 / remaining).toFixed(10);
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

/** Every nat chain the port uses, in the order they are written. */
export function portChainBodies(pp: PortPlan, cfg: PlanConfig): ChainBody[] {
  const chains: ChainBody[] = [];
  if (pp.usesExternalChain) chains.push(externalChainBody(pp, cfg));
  if (pp.usesFirewall) chains.push(firewallChainBody(pp, cfg));
  if (pp.usesClusterChain) chains.push(clusterPolicyChainBody(pp, cfg));
  if (pp.usesLocalChain) {
    const svl = new ChainWriter(pp.localPolicyChain);
    writeLoadBalancing(svl, pp.sp, pp.local, pp.sepNames, cfg);
    chains.push(svl.done());
  }
  for (const ep of pp.reachable) chains.push(endpointChainBody(pp, ep, cfg));
  return chains;
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
    const cidr = parseIPv4Network(src);
    if (cidr && cfg.nodeIPs.some((ip) => containsAddress(cidr, ip))) allowFromNode = true;
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
