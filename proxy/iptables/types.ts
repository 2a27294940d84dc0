// Types shared by the iptables planner's files (service-rules.ts, service-chains.ts, static-rules.ts,
// restore.ts), kept apart so that those files import each other in one direction only.

export interface PlanConfig {
  /** This node's name: endpoints with this nodeName are local. */
  nodeName: string;
  /** --cluster-cidr (IPv4 part, normalised), or undefined: decides which sources are pods. */
  clusterCIDR?: string;
  /** --masquerade-all: SNAT every Service packet, not only those from outside the cluster CIDR. */
  masqueradeAll: boolean;
  /** The fwmark bit that asks KUBE-POSTROUTING to masquerade, e.g. "0x4000". */
  masqueradeMark: string;
  /** 'all': NodePorts answer on every local address; else only on these node IPs (--nodeport-addresses). */
  nodePortIPs: 'all' | readonly string[];
  /** This node's IPs (for loadBalancerSourceRanges that include the node itself). */
  nodeIPs: readonly string[];
  /** --iptables-localhost-nodeports, in effect (IPv4 loopback within --nodeport-addresses). */
  localhostNodePorts: boolean;
  /**
   * More than LARGE_CLUSTER_ENDPOINTS endpoints in all: the KUBE-SVC/SVL -> KUBE-SEP rules and
   * the KUBE-SEP rules go without comments (upstream's largeClusterMode).
   */
  largeCluster: boolean;
}

/** A nat chain owned by this Service, and its whole content. */
export interface ChainBody {
  name: string;
  /** Restore lines, "-A NAME ..." each ending in "\n". */
  body: string;
  rules: number;
}
