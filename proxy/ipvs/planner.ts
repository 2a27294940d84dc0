// The pure IPVS planner: Service ports and endpoints in, the virtual servers, kube-ipvs0
// addresses and ipset contents they need out (upstream: pkg/proxy/ipvs/proxier.go
// syncProxyRules). One virtual server per Service address and port: the ClusterIP, each
// externalIP and load balancer IP, and each node address for a NodePort. Real servers are the
// endpoints the traffic policy allows (internalTrafficPolicy for the ClusterIP, external for the
// rest); a virtual server without real servers stays, so IPVS refuses connections to it at once.
import { compareAddresses } from '../../lib/ip.js';
import { categorizeEndpoints } from '../model/categorize.js';
import { type Endpoint, endpointsKey, type ProxyState, type ServicePort } from '../model/types.js';
import {
  IPSETS,
  ipPort,
  KUBE_CLUSTER_IP,
  KUBE_EXTERNAL_IP,
  KUBE_EXTERNAL_IP_LOCAL,
  KUBE_HEALTH_CHECK_NODE_PORT,
  KUBE_IPVS_IPS,
  KUBE_LOAD_BALANCER,
  KUBE_LOAD_BALANCER_FW,
  KUBE_LOAD_BALANCER_LOCAL,
  KUBE_LOAD_BALANCER_SOURCE_CIDR,
  KUBE_LOOP_BACK,
  nodePortSet,
} from './ipsets.js';
import { type IpvsPlan, type IpvsPlanConfig, type RealServer, type VirtualServer, vsKey } from './types.js';

/** Every endpoint gets the same weight: Kubernetes has no notion of endpoint weights. */
const WEIGHT = 1;

export function planIpvs(state: Pick<ProxyState, 'services' | 'endpoints'>, cfg: IpvsPlanConfig): IpvsPlan {
  const virtualServers = new Map<string, VirtualServer>();
  const bound = new Set<string>();
  const sets = new Map<string, Set<string>>(IPSETS.map((s) => [s.name, new Set<string>()]));
  const add = (set: string, entry: string) => sets.get(set)!.add(entry);
  const conflicts: Array<{ virtualServer: string; kept: string; dropped: string }> = [];

  const addVS = (sp: ServicePort, address: string, port: number, eps: readonly Endpoint[]) => {
    const vs: VirtualServer = {
      protocol: sp.protocol,
      address,
      port,
      scheduler: cfg.scheduler,
      persistenceSeconds: sp.affinityTimeoutSeconds,
      realServers: realServers(eps),
      servicePort: sp.name,
    };
    const key = vsKey(vs);
    const existing = virtualServers.get(key);
    if (existing) {
      conflicts.push({ virtualServer: key, kept: existing.servicePort, dropped: sp.name });
      return;
    }
    virtualServers.set(key, vs);
    // Hairpin: an endpoint reaching its own Service may be sent to itself; it must see the
    // node's address as source, or it would answer itself directly and the reply would be lost.
    for (const rs of vs.realServers)
      add(KUBE_LOOP_BACK, `${rs.address},${sp.protocol.toLowerCase()}:${rs.port},${rs.address}`);
  };

  // Sorted so that the plan, and what is written from it, does not depend on event order.
  const services = [...state.services.keys()].sort();
  for (const svc of services) {
    for (const sp of state.services.get(svc)!) {
      const eps = state.endpoints.get(endpointsKey(sp.name, sp.protocol)) ?? [];
      const { cluster, local } = categorizeEndpoints(sp, eps, cfg.nodeName);
      const internal = sp.internalPolicyLocal ? local : cluster;
      const external = sp.externalPolicyLocal ? local : cluster;

      addVS(sp, sp.clusterIP, sp.port, internal);
      bound.add(sp.clusterIP);
      add(KUBE_CLUSTER_IP, ipPort(sp.clusterIP, sp.protocol, sp.port));

      for (const ip of sp.externalIPs) {
        addVS(sp, ip, sp.port, external);
        bound.add(ip);
        add(sp.externalPolicyLocal ? KUBE_EXTERNAL_IP_LOCAL : KUBE_EXTERNAL_IP, ipPort(ip, sp.protocol, sp.port));
      }

      for (const ip of sp.loadBalancerIPs) {
        addVS(sp, ip, sp.port, external);
        bound.add(ip);
        const entry = ipPort(ip, sp.protocol, sp.port);
        add(KUBE_LOAD_BALANCER, entry);
        if (sp.externalPolicyLocal) add(KUBE_LOAD_BALANCER_LOCAL, entry);
        if (sp.loadBalancerSourceRanges.length > 0) {
          add(KUBE_LOAD_BALANCER_FW, entry);
          for (const range of sp.loadBalancerSourceRanges) add(KUBE_LOAD_BALANCER_SOURCE_CIDR, `${entry},${range}`);
        }
      }

      if (sp.nodePort > 0) {
        for (const ip of cfg.nodePortIPs) addVS(sp, ip, sp.nodePort, external);
        add(nodePortSet(sp.protocol), String(sp.nodePort));
        if (sp.externalPolicyLocal) add(nodePortSet(sp.protocol, true), String(sp.nodePort));
      }
      if (sp.healthCheckNodePort > 0) add(KUBE_HEALTH_CHECK_NODE_PORT, String(sp.healthCheckNodePort));
    }
  }
  const boundAddresses = [...bound].sort(compareAddresses);
  for (const ip of boundAddresses) add(KUBE_IPVS_IPS, ip);
  return { virtualServers, boundAddresses, ipsets: sets, conflicts };
}

function realServers(eps: readonly Endpoint[]): RealServer[] {
  const seen = new Set<string>();
  const out: RealServer[] = [];
  for (const e of eps) {
    const k = `${e.ip}:${e.port}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push({ address: e.ip, port: e.port, weight: WEIGHT });
  }
  return out;
}
