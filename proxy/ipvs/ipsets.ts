// The ipsets IPVS mode keeps (names as upstream kube-proxy's IPVS mode has them, see
// pkg/proxy/ipvs/proxier.go ipsetInfo). They let a handful of constant iptables rules in
// iptables.ts match every Service at once: iptables work stays the same size at 10 or 10,000
// Services, which is the point of IPVS mode.
import type { Protocol } from '../model/types.js';

export interface IpsetSpec {
  readonly name: string;
  /** `ipset create` type and options. */
  readonly type: string;
  /** What it holds, and what for. */
  readonly purpose: string;
}

const hash = (t: string) => `${t} family inet hashsize 1024 maxelem 1048576`;
const ports = 'bitmap:port range 0-65535';

export const KUBE_LOOP_BACK = 'KUBE-LOOP-BACK';
export const KUBE_CLUSTER_IP = 'KUBE-CLUSTER-IP';
export const KUBE_EXTERNAL_IP = 'KUBE-EXTERNAL-IP';
export const KUBE_EXTERNAL_IP_LOCAL = 'KUBE-EXTERNAL-IP-LOCAL';
export const KUBE_LOAD_BALANCER = 'KUBE-LOAD-BALANCER';
export const KUBE_LOAD_BALANCER_LOCAL = 'KUBE-LOAD-BALANCER-LOCAL';
export const KUBE_LOAD_BALANCER_FW = 'KUBE-LOAD-BALANCER-FW';
export const KUBE_LOAD_BALANCER_SOURCE_CIDR = 'KUBE-LOAD-BALANCER-SOURCE-CIDR';
export const KUBE_HEALTH_CHECK_NODE_PORT = 'KUBE-HEALTH-CHECK-NODE-PORT';
export const KUBE_IPVS_IPS = 'KUBE-IPVS-IPS';

export function nodePortSet(p: Protocol, local = false): string {
  return `KUBE-NODE-PORT-${local ? 'LOCAL-' : ''}${p}`;
}

export const IPSETS: readonly IpsetSpec[] = [
  {
    name: KUBE_LOOP_BACK,
    type: hash('hash:ip,port,ip'),
    purpose: 'endpoint ip,proto:port,endpoint ip: a pod reaching itself through its Service (hairpin) is masqueraded',
  },
  {
    name: KUBE_CLUSTER_IP,
    type: hash('hash:ip,port'),
    purpose: 'Service cluster ip,proto:port: masquerade off-cluster sources, accept',
  },
  {
    name: KUBE_EXTERNAL_IP,
    type: hash('hash:ip,port'),
    purpose: 'external ip,proto:port with externalTrafficPolicy Cluster: masquerade',
  },
  {
    name: KUBE_EXTERNAL_IP_LOCAL,
    type: hash('hash:ip,port'),
    purpose: 'external ip,proto:port with externalTrafficPolicy Local: keep the client address',
  },
  { name: KUBE_LOAD_BALANCER, type: hash('hash:ip,port'), purpose: 'load balancer ingress ip,proto:port' },
  {
    name: KUBE_LOAD_BALANCER_LOCAL,
    type: hash('hash:ip,port'),
    purpose: 'load balancer ip,proto:port with externalTrafficPolicy Local: no masquerade',
  },
  {
    name: KUBE_LOAD_BALANCER_FW,
    type: hash('hash:ip,port'),
    purpose: 'load balancer ip,proto:port restricted by loadBalancerSourceRanges',
  },
  {
    name: KUBE_LOAD_BALANCER_SOURCE_CIDR,
    type: hash('hash:ip,port,net'),
    purpose: 'load balancer ip,proto:port,allowed source range',
  },
  ...(['TCP', 'UDP', 'SCTP'] as const).flatMap((p) => [
    { name: nodePortSet(p), type: ports, purpose: `${p} NodePorts: masquerade (externalTrafficPolicy Cluster)` },
    {
      name: nodePortSet(p, true),
      type: ports,
      purpose: `${p} NodePorts with externalTrafficPolicy Local: keep the client address`,
    },
  ]),
  { name: KUBE_HEALTH_CHECK_NODE_PORT, type: ports, purpose: 'health check node ports: accepted by the filter table' },
  {
    name: KUBE_IPVS_IPS,
    type: hash('hash:ip'),
    purpose: 'every address on kube-ipvs0: other ports on them are rejected',
  },
];

export const IPSET_NAMES: ReadonlySet<string> = new Set(IPSETS.map((s) => s.name));

/** "10.96.0.10,tcp:80": how ipset writes an ip,port entry. */
export function ipPort(ip: string, p: Protocol, port: number): string {
  return `${ip},${p.toLowerCase()}:${port}`;
}
