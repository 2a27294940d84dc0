// The proxy's mode-independent picture of the cluster: Service ports and their endpoints, as
// upstream kube-proxy's ServicePort/Endpoint maps (pkg/proxy/serviceport.go, endpoint.go) hold
// them. Both the iptables and the IPVS proxier plan from these types alone, never from raw
// Kubernetes objects, so validation happens once, in model/service.ts and model/endpoint-slice.ts.

export type Protocol = 'TCP' | 'UDP' | 'SCTP';
export const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** One port of one Service, with everything that decides how its traffic is steered. */
export interface ServicePort {
  /** upstream's ServicePortName string: "namespace/name:port", or "namespace/name" for an unnamed port. */
  readonly name: string;
  /** "namespace/name" of the Service: the unit the change trackers report. */
  readonly service: string;
  readonly namespace: string;
  readonly serviceName: string;
  /** The port's name ('' when the Service has a single unnamed port). */
  readonly portName: string;
  readonly protocol: Protocol;
  readonly clusterIP: string;
  readonly port: number;
  /** 0 when the Service has no NodePort. */
  readonly nodePort: number;
  readonly externalIPs: readonly string[];
  /** status.loadBalancer.ingress[].ip */
  readonly loadBalancerIPs: readonly string[];
  readonly loadBalancerSourceRanges: readonly string[];
  /** sessionAffinity ClientIP timeout in seconds; 0 when there is no affinity. */
  readonly affinityTimeoutSeconds: number;
  /** externalTrafficPolicy Local on an externally reachable Service (NodePort, LoadBalancer, externalIPs). */
  readonly externalPolicyLocal: boolean;
  readonly internalPolicyLocal: boolean;
  /** spec.healthCheckNodePort (ETP Local LoadBalancers); 0 when none. */
  readonly healthCheckNodePort: number;
}

/** One backend of one Service port, from an EndpointSlice. */
export interface Endpoint {
  readonly ip: string;
  readonly port: number;
  readonly ready: boolean;
  readonly serving: boolean;
  readonly terminating: boolean;
  /** The node the backend runs on ('' when the slice does not say). */
  readonly nodeName: string;
}

/** Everything a proxier needs for one sync. */
export interface ProxyState {
  /** Service "namespace/name" -> its ports. */
  readonly services: ReadonlyMap<string, readonly ServicePort[]>;
  /** endpointsKey(servicePort) -> endpoints merged from all of the Service's EndpointSlices. */
  readonly endpoints: ReadonlyMap<string, readonly Endpoint[]>;
  /** Services ("namespace/name") whose ports or endpoints changed since the previous sync. */
  readonly changed: ReadonlySet<string>;
}

/** Endpoints are keyed by Service port name and protocol, as upstream keys them. */
export function endpointsKey(servicePortName: string, protocol: Protocol): string {
  return `${servicePortName}/${protocol}`;
}

export function servicePortName(namespace: string, name: string, portName: string): string {
  return portName ? `${namespace}/${name}:${portName}` : `${namespace}/${name}`;
}

export function endpointString(ep: { ip: string; port: number }): string {
  return `${ep.ip}:${ep.port}`;
}

/** A reason an object was not accepted: the field and why, for logs a person can act on. */
export interface FieldError {
  field: string;
  reason: string;
}

export function externallyAccessible(sp: ServicePort): boolean {
  return sp.nodePort > 0 || sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0;
}
