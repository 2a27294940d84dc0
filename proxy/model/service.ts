// V1Service -> ServicePort[]: validation and the derived fields upstream's newBaseServiceInfo
// computes (pkg/proxy/serviceport.go). A Service that fails validation yields errors naming the
// field and reason, and no ports: the caller logs it and keeps whatever it had before.
import type { V1LoadBalancerIngress, V1Service, V1ServicePort } from '@kubernetes/client-node';
import { listItems } from '../../lib/list-items.js';
import {
  externallyAccessible,
  type FieldError,
  PROTOCOLS,
  type Protocol,
  type ServicePort,
  servicePortName,
} from './types.js';
import { isIPv4, looksLikeIPv6, parseIPv4Network } from '../../lib/ip.js';
import { isDNS1123Label, isPort, isPortName } from './validation.js';

/** kube-proxy's default ClientIP affinity timeout (3 hours), used when the Service gives none. */
export const DEFAULT_AFFINITY_SECONDS = 10800;

export interface ParsedService {
  /** "namespace/name", or undefined when even the metadata is unusable. */
  key: string | undefined;
  ports: ServicePort[];
  errors: FieldError[];
  /** Services the proxy deliberately ignores (headless, ExternalName): not an error. */
  ignoredReason?: string;
}

export function serviceKey(obj: { metadata?: { namespace?: string; name?: string } }): string | undefined {
  const ns = obj.metadata?.namespace ?? 'default';
  const name = obj.metadata?.name;
  return typeof name === 'string' && name ? `${ns}/${name}` : undefined;
}

export function parseService(svc: V1Service): ParsedService {
  const errors: FieldError[] = [];
  const namespace = svc.metadata?.namespace ?? 'default';
  const name = svc.metadata?.name;
  if (!isDNS1123Label(namespace))
    errors.push({ field: 'metadata.namespace', reason: `${JSON.stringify(namespace)} is not a DNS-1123 label` });
  if (!isDNS1123Label(name))
    errors.push({ field: 'metadata.name', reason: `${JSON.stringify(name)} is not a DNS-1123 label` });
  const key = errors.length === 0 ? `${namespace}/${name}` : serviceKey(svc);
  if (errors.length) return { key, ports: [], errors };

  const spec = svc.spec ?? {};
  const type = spec.type ?? 'ClusterIP';
  if (type === 'ExternalName') return { key, ports: [], errors, ignoredReason: 'type ExternalName has no proxy rules' };
  if (!['ClusterIP', 'NodePort', 'LoadBalancer'].includes(type))
    errors.push({ field: 'spec.type', reason: `unknown type ${JSON.stringify(type)}` });

  const clusterIP = spec.clusterIP;
  if (clusterIP === 'None') return { key, ports: [], errors, ignoredReason: 'headless Service (clusterIP None)' };
  checkClusterIP(errors, clusterIP);
  const addresses = serviceAddresses(errors, svc, type);
  const affinityTimeoutSeconds = affinityTimeout(errors, spec);
  const policies = trafficPolicies(errors, spec);
  const common: PortCommon = {
    namespace,
    name: name!,
    key: key!,
    type,
    clusterIP: clusterIP ?? '',
    ...addresses,
    affinityTimeoutSeconds,
    ...policies,
  };
  const ports = servicePorts(errors, common, listItems<V1ServicePort>(errors, 'spec.ports', spec.ports));
  if (errors.length) return { key, ports: [], errors };
  return { key, ports, errors };
}

type ServiceSpec = NonNullable<V1Service['spec']>;

/** What every port of the Service shares. */
interface PortCommon extends ServiceAddresses, TrafficPolicies {
  namespace: string;
  name: string;
  key: string;
  type: string;
  clusterIP: string;
  affinityTimeoutSeconds: number;
}

function checkClusterIP(errors: FieldError[], clusterIP: string | undefined): void {
  if (clusterIP === undefined || clusterIP === '') {
    errors.push({
      field: 'spec.clusterIP',
      reason: 'missing (the apiserver allocates one; in a --services-dir file it must be written out)',
    });
  } else if (looksLikeIPv6(clusterIP)) {
    errors.push({
      field: 'spec.clusterIP',
      reason: `${clusterIP}: IPv6 Services are not supported by kubenode-proxy yet`,
    });
  } else if (!isIPv4(clusterIP)) {
    errors.push({ field: 'spec.clusterIP', reason: `${JSON.stringify(clusterIP)} is not a valid IPv4 address` });
  }
}

interface ServiceAddresses {
  externalIPs: string[];
  loadBalancerIPs: string[];
  sourceRanges: string[];
}

/** The external IPs, load balancer IPs and source ranges, each list without duplicates. */
function serviceAddresses(errors: FieldError[], svc: V1Service, type: string): ServiceAddresses {
  const spec = svc.spec ?? {};
  const externalIPs: string[] = [];
  // String lists: listItems is for lists of objects, so the type of the list is checked here.
  const ips = spec.externalIPs;
  if (ips !== undefined && ips !== null && !Array.isArray(ips))
    errors.push({ field: 'spec.externalIPs', reason: 'must be a list of IPv4 addresses' });
  (Array.isArray(ips) ? ips : []).forEach((ip, i) => {
    if (!isIPv4(ip))
      errors.push({ field: `spec.externalIPs[${i}]`, reason: `${JSON.stringify(ip)} is not a valid IPv4 address` });
    else if (!externalIPs.includes(ip)) externalIPs.push(ip);
  });
  const loadBalancerIPs: string[] = [];
  if (type === 'LoadBalancer') {
    for (const [ing, f] of listItems<V1LoadBalancerIngress>(
      errors,
      'status.loadBalancer.ingress',
      svc.status?.loadBalancer?.ingress,
    )) {
      if (ing.ip === undefined) continue; // hostname-only ingress: nothing to capture
      if (!isIPv4(ing.ip))
        errors.push({ field: `${f}.ip`, reason: `${JSON.stringify(ing.ip)} is not a valid IPv4 address` });
      else if (!loadBalancerIPs.includes(ing.ip)) loadBalancerIPs.push(ing.ip);
    }
  }
  const sourceRanges: string[] = [];
  const ranges = spec.loadBalancerSourceRanges;
  if (ranges !== undefined && ranges !== null && !Array.isArray(ranges))
    errors.push({ field: 'spec.loadBalancerSourceRanges', reason: 'must be a list of IPv4 CIDRs' });
  (Array.isArray(ranges) ? ranges : []).forEach((r, i) => {
    const c = typeof r === 'string' ? parseIPv4Network(r.trim()) : undefined; // trimmed, as kube-proxy does
    if (!c)
      errors.push({ field: `spec.loadBalancerSourceRanges[${i}]`, reason: `${JSON.stringify(r)} is not an IPv4 CIDR` });
    else sourceRanges.push(c.text);
  });
  return { externalIPs, loadBalancerIPs, sourceRanges };
}

/** The ClientIP affinity timeout in seconds; 0 without ClientIP affinity. */
function affinityTimeout(errors: FieldError[], spec: ServiceSpec): number {
  if (spec.sessionAffinity === 'ClientIP') {
    const t = spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_SECONDS;
    if (!Number.isInteger(t) || t < 1 || t > 86400)
      errors.push({
        field: 'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
        reason: `${t} is not within 1..86400`,
      });
    else return t;
  } else if (spec.sessionAffinity !== undefined && spec.sessionAffinity !== 'None') {
    errors.push({ field: 'spec.sessionAffinity', reason: `unknown value ${JSON.stringify(spec.sessionAffinity)}` });
  }
  return 0;
}

interface TrafficPolicies {
  etp: string;
  itp: string;
  hcPort: number;
}

function trafficPolicies(errors: FieldError[], spec: ServiceSpec): TrafficPolicies {
  const etp = spec.externalTrafficPolicy ?? 'Cluster';
  const itp = spec.internalTrafficPolicy ?? 'Cluster';
  if (etp !== 'Cluster' && etp !== 'Local')
    errors.push({ field: 'spec.externalTrafficPolicy', reason: `unknown value ${JSON.stringify(etp)}` });
  if (itp !== 'Cluster' && itp !== 'Local')
    errors.push({ field: 'spec.internalTrafficPolicy', reason: `unknown value ${JSON.stringify(itp)}` });
  const hcPort = spec.healthCheckNodePort ?? 0;
  if (hcPort !== 0 && !isPort(hcPort))
    errors.push({ field: 'spec.healthCheckNodePort', reason: `${hcPort} is not a port number` });
  return { etp, itp, hcPort };
}

function servicePorts(
  errors: FieldError[],
  c: PortCommon,
  specPorts: [V1ServicePort, string, number][],
): ServicePort[] {
  if (specPorts.length === 0 && errors.every((e) => !e.field.startsWith('spec.ports')))
    errors.push({ field: 'spec.ports', reason: 'a Service needs at least one port' });
  const seenNames = new Set<string>();
  const ports: ServicePort[] = [];
  for (const [p, field] of specPorts) {
    const portName = p.name ?? '';
    if (portName === '' && specPorts.length > 1)
      errors.push({ field: `${field}.name`, reason: 'required when a Service has more than one port' });
    else if (portName !== '' && !isPortName(portName))
      errors.push({ field: `${field}.name`, reason: `${JSON.stringify(portName)} is not a valid port name` });
    if (seenNames.has(portName))
      errors.push({ field: `${field}.name`, reason: `duplicate port name ${JSON.stringify(portName)}` });
    seenNames.add(portName);
    ports.push(servicePort(errors, c, p, field, portName));
  }
  return ports;
}

function servicePort(
  errors: FieldError[],
  c: PortCommon,
  p: V1ServicePort,
  field: string,
  portName: string,
): ServicePort {
  const protocol = (p.protocol ?? 'TCP') as Protocol;
  if (!PROTOCOLS.includes(protocol))
    errors.push({ field: `${field}.protocol`, reason: `${JSON.stringify(p.protocol)} is not TCP, UDP or SCTP` });
  if (!isPort(p.port))
    errors.push({ field: `${field}.port`, reason: `${JSON.stringify(p.port)} is not a port number (1-65535)` });
  const nodePort = p.nodePort ?? 0;
  if (nodePort !== 0 && !isPort(nodePort))
    errors.push({ field: `${field}.nodePort`, reason: `${JSON.stringify(p.nodePort)} is not a port number` });
  if (nodePort !== 0 && c.type === 'ClusterIP')
    errors.push({ field: `${field}.nodePort`, reason: 'only NodePort and LoadBalancer Services may have a nodePort' });
  const sp: ServicePort = {
    name: servicePortName(c.namespace, c.name, portName),
    service: c.key,
    namespace: c.namespace,
    serviceName: c.name,
    portName,
    protocol,
    clusterIP: c.clusterIP,
    port: p.port,
    nodePort: c.type === 'ClusterIP' ? 0 : nodePort,
    externalIPs: c.externalIPs,
    loadBalancerIPs: c.loadBalancerIPs,
    loadBalancerSourceRanges: c.sourceRanges,
    affinityTimeoutSeconds: c.affinityTimeoutSeconds,
    externalPolicyLocal: false,
    internalPolicyLocal: c.itp === 'Local',
    healthCheckNodePort: 0,
  };
  // ETP only means something for traffic that can arrive from outside (upstream's
  // ExternallyAccessible); the health check port only for ETP Local LoadBalancers.
  const etpLocal = c.etp === 'Local' && externallyAccessible(sp);
  return { ...sp, externalPolicyLocal: etpLocal, healthCheckNodePort: etpLocal ? c.hcPort : 0 };
}
