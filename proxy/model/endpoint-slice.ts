// V1EndpointSlice -> endpoints per Service port (upstream: pkg/proxy/endpointslicecache.go).
// A slice belongs to the Service named by its kubernetes.io/service-name label; each of its ports
// (matched to Service ports by name and protocol) gets every endpoint's first address.
import { isIPv4 } from '../../lib/ip.js';
import type { DiscoveryV1EndpointPort, V1Endpoint, V1EndpointSlice } from '@kubernetes/client-node';
import { listItems } from '../../lib/list-items.js';
import { type Endpoint, endpointsKey, type FieldError, PROTOCOLS, type Protocol, servicePortName } from './types.js';
import { isDNS1123Label, isDNS1123Subdomain, isPort, isPortName } from './validation.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

export interface ParsedSlice {
  /** "namespace/sliceName" */
  key: string | undefined;
  /** "namespace/serviceName" the slice belongs to. */
  service: string | undefined;
  /** endpointsKey -> endpoints of this slice for that Service port. */
  ports: Map<string, Endpoint[]>;
  errors: FieldError[];
  /** Slices the proxy deliberately ignores (IPv6, FQDN). */
  ignoredReason?: string;
}

export function parseEndpointSlice(slice: V1EndpointSlice): ParsedSlice {
  const errors: FieldError[] = [];
  const namespace = slice.metadata?.namespace ?? 'default';
  const name = slice.metadata?.name;
  if (!isDNS1123Label(namespace))
    errors.push({ field: 'metadata.namespace', reason: `${JSON.stringify(namespace)} is not a DNS-1123 label` });
  if (!isDNS1123Subdomain(name))
    errors.push({ field: 'metadata.name', reason: `${JSON.stringify(name)} is not a DNS-1123 subdomain` });
  const key =
    errors.length === 0 ? `${namespace}/${name}` : typeof name === 'string' ? `${namespace}/${name}` : undefined;
  const svcName = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!isDNS1123Label(svcName))
    errors.push({
      field: `metadata.labels["${SERVICE_NAME_LABEL}"]`,
      reason:
        svcName === undefined
          ? 'missing: the slice names no Service'
          : `${JSON.stringify(svcName)} is not a Service name`,
    });
  const service = isDNS1123Label(svcName) ? `${namespace}/${svcName}` : undefined;
  const ports = new Map<string, Endpoint[]>();
  if (errors.length) return { key, service, ports, errors };
  if (slice.addressType !== 'IPv4') {
    return {
      key,
      service,
      ports,
      errors,
      ignoredReason: `addressType ${slice.addressType} is not handled (IPv4 only)`,
    };
  }

  const endpoints: Endpoint[] = [];
  for (const [ep, f] of listItems<V1Endpoint>(errors, 'endpoints', slice.endpoints)) {
    const ip = Array.isArray(ep.addresses) ? ep.addresses[0] : undefined;
    if (!isIPv4(ip)) {
      errors.push({ field: `${f}.addresses[0]`, reason: `${JSON.stringify(ip)} is not a valid IPv4 address` });
      continue;
    }
    // Unknown conditions count as ready (and serving), as the EndpointSlice API documents.
    const ready = ep.conditions?.ready ?? true;
    const serving = ep.conditions?.serving ?? ready;
    const terminating = ep.conditions?.terminating ?? false;
    endpoints.push({ ip, port: 0, ready, serving, terminating, nodeName: ep.nodeName ?? '' });
  }
  for (const [p, f] of listItems<DiscoveryV1EndpointPort>(errors, 'ports', slice.ports)) {
    const portName = p.name ?? '';
    const protocol = (p.protocol ?? 'TCP') as Protocol;
    if (portName !== '' && !isPortName(portName))
      errors.push({ field: `${f}.name`, reason: `${JSON.stringify(portName)} is not a valid port name` });
    else if (!PROTOCOLS.includes(protocol))
      errors.push({ field: `${f}.protocol`, reason: `${JSON.stringify(p.protocol)} is not TCP, UDP or SCTP` });
    else if (!isPort(p.port))
      errors.push({ field: `${f}.port`, reason: `${JSON.stringify(p.port)} is not a port number (1-65535)` });
    else
      ports.set(
        endpointsKey(servicePortName(namespace, svcName!, portName), protocol),
        endpoints.map((e) => ({ ...e, port: p.port! })),
      );
  }
  if (errors.length) return { key, service, ports: new Map(), errors };
  return { key, service, ports, errors };
}
