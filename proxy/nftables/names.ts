// Names inside our nftables table, following upstream kube-proxy's nftables mode: everything
// lives in one table of our own, so names need no prefix of their own; per-Service chains are
// "KIND-HASH-namespace/name/protocol/port" (endpoints add "__ip/port"), readable in
// `nft list table` and unique through the hash. "/" cannot occur in any of our fixed names,
// which is how a per-Service chain is told from a fixed one.
import { createHash } from 'node:crypto';
import { base32 } from '../iptables/names.js';
import type { Endpoint, ServicePort } from '../model/types.js';

/** Our table, in the ip family (IPv4 is all the model carries). */
export const TABLE = 'kubenode';
export const FAMILY = 'ip';

// Fixed chains.
export const SERVICES = 'services';
export const MASQUERADING = 'masquerading';
export const MARK_MASQ = 'mark-for-masquerade';
export const SERVICE_ENDPOINTS_CHECK = 'service-endpoints-check';
export const NODEPORT_ENDPOINTS_CHECK = 'nodeport-endpoints-check';
export const FIREWALL_CHECK = 'firewall-check';
export const CLUSTER_IPS_CHECK = 'cluster-ips-check';
export const REJECT_CHAIN = 'reject-chain';

// Sets and verdict maps.
export const SERVICE_IPS = 'service-ips';
export const SERVICE_NODEPORTS = 'service-nodeports';
export const NO_ENDPOINT_SERVICES = 'no-endpoint-services';
export const NO_ENDPOINT_NODEPORTS = 'no-endpoint-nodeports';
export const FIREWALL_IPS = 'firewall-ips';
export const CLUSTER_IPS = 'cluster-ips';
export const NODEPORT_IPS = 'nodeport-ips';
/** `a . a` for every endpoint address: a pod sent to itself by DNAT is masqueraded (hairpin). */
export const HAIRPINS = 'endpoint-hairpins';

/** The maps whose elements Services contribute (keyed by address . protocol . port or protocol . port). */
export type ElementMap =
  | typeof SERVICE_IPS
  | typeof SERVICE_NODEPORTS
  | typeof NO_ENDPOINT_SERVICES
  | typeof NO_ENDPOINT_NODEPORTS
  | typeof FIREWALL_IPS
  | typeof CLUSTER_IPS;

function hashed(name: string): string {
  return `${base32(createHash('sha256').update(name).digest()).slice(0, 8)}-${name}`;
}

/** "namespace/name/protocol/port": the part of a chain name that says which Service port. */
function portBase(sp: ServicePort): string {
  return `${sp.namespace}/${sp.serviceName}/${sp.protocol.toLowerCase()}/${sp.portName}`;
}

export interface PortChains {
  cluster: string;
  local: string;
  external: string;
  firewall: string;
}

export function portChains(sp: ServicePort): PortChains {
  const h = hashed(portBase(sp));
  return { cluster: `service-${h}`, local: `local-${h}`, external: `external-${h}`, firewall: `firewall-${h}` };
}

export function endpointBase(sp: ServicePort, ep: Pick<Endpoint, 'ip' | 'port'>): string {
  return hashed(`${portBase(sp)}__${ep.ip}/${ep.port}`);
}

export const endpointChain = (base: string) => `endpoint-${base}`;
export const affinitySet = (base: string) => `affinity-${base}`;

/** Whether a chain is one of the per-Service ones (never a fixed one). */
export function isServiceChain(name: string): boolean {
  return name.includes('/');
}
