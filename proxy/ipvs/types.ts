// What IPVS mode programs, as plain data: virtual servers with their real servers, the addresses
// bound to the kube-ipvs0 dummy interface, ipset contents and the iptables restore input. The
// planner produces it (pure), the applier diffs it against the kernel and writes the difference.
import type { Protocol } from '../model/types.js';

export interface RealServer {
  readonly address: string;
  readonly port: number;
  /** 1 for a ready endpoint; 0 while a removed endpoint drains (only the applier writes 0). */
  readonly weight: number;
}

export interface VirtualServer {
  readonly protocol: Protocol;
  readonly address: string;
  readonly port: number;
  /** IPVS scheduler name (--ipvs-scheduler): rr, wrr, lc, sh... */
  readonly scheduler: string;
  /** sessionAffinity ClientIP timeout in seconds, as IPVS persistence; 0: not persistent. */
  readonly persistenceSeconds: number;
  readonly realServers: readonly RealServer[];
  /** The Service port this virtual server belongs to ("namespace/name:port"), for logs. */
  readonly servicePort: string;
}

/** One virtual server's identity, as ipvsadm names it: "TCP/10.96.0.10:80". */
export function vsKey(vs: { protocol: Protocol; address: string; port: number }): string {
  return `${vs.protocol}/${vs.address}:${vs.port}`;
}

export function rsKey(rs: { address: string; port: number }): string {
  return `${rs.address}:${rs.port}`;
}

export interface IpvsPlanConfig {
  /** This node's name: endpoints on it are local (traffic policy Local). */
  nodeName: string;
  /** --ipvs-scheduler */
  scheduler: string;
  /** Node addresses that get a virtual server for every NodePort (no loopback, no kube-ipvs0 address). */
  nodePortIPs: readonly string[];
  /** --cluster-cidr (normalised text), when given: sources outside it are masqueraded. */
  clusterCIDR?: string;
  masqueradeAll: boolean;
  /** The fwmark bit asking KUBE-POSTROUTING to masquerade, e.g. "0x4000". */
  masqueradeMark: string;
}

export interface IpvsPlan {
  /** vsKey -> virtual server. */
  readonly virtualServers: ReadonlyMap<string, VirtualServer>;
  /** Service addresses (ClusterIPs, externalIPs, load balancer IPs) for kube-ipvs0, sorted. */
  readonly boundAddresses: readonly string[];
  /** Set name -> entries as `ipset save` prints them. Every set of ours is present, maybe empty. */
  readonly ipsets: ReadonlyMap<string, ReadonlySet<string>>;
  /** Two Service ports claiming the same address, port and protocol: the first one wins. */
  readonly conflicts: ReadonlyArray<{ virtualServer: string; kept: string; dropped: string }>;
}

export type ServiceId = Pick<VirtualServer, 'protocol' | 'address' | 'port'>;

/** One change to the kernel's IPVS table; written by netlink.ts, or as ipvsadm -R lines. */
export type IpvsOp =
  | { kind: 'addService' | 'editService'; vs: VirtualServer }
  | { kind: 'deleteService'; vs: ServiceId }
  | { kind: 'addServer' | 'editServer'; vs: ServiceId; rs: RealServer }
  | { kind: 'deleteServer'; vs: ServiceId; rs: Pick<RealServer, 'address' | 'port'> };
