// Which conntrack entries go stale when endpoints change (upstream: pkg/proxy/conntrack/cleanup.go).
// UDP has no connection teardown: a flow keeps its DNAT entry, and so its dead endpoint, for as
// long as packets keep coming. So when a UDP endpoint stops being used, its entries are deleted;
// and when a UDP Service goes from no endpoints to some, entries created while packets were being
// rejected are deleted so new packets get DNATed. Pure and mode-independent.
import { categorizeEndpoints } from '../model/categorize.js';
import { type Endpoint, endpointsKey, type ProxyState, type ServicePort } from '../model/types.js';

export type ConntrackDeletion =
  /** Flows to a Service IP and port that were DNATed to one endpoint IP. */
  | { kind: 'service-endpoint'; serviceIP: string; port: number; endpointIP: string }
  /** Flows to a NodePort that were DNATed to one endpoint IP. */
  | { kind: 'nodeport-endpoint'; nodePort: number; endpointIP: string }
  /** Every flow to a Service IP and port (it was rejecting, now it has endpoints). */
  | { kind: 'service'; serviceIP: string; port: number }
  | { kind: 'nodeport'; nodePort: number };

function reachable(state: Pick<ProxyState, 'endpoints'>, sp: ServicePort, nodeName: string): Endpoint[] {
  return categorizeEndpoints(sp, state.endpoints.get(endpointsKey(sp.name, sp.protocol)) ?? [], nodeName).reachable;
}

const serviceIPs = (sp: ServicePort) => [sp.clusterIP, ...sp.externalIPs, ...sp.loadBalancerIPs];

export function staleConntrack(prev: ProxyState | undefined, next: ProxyState, nodeName: string): ConntrackDeletion[] {
  const out: ConntrackDeletion[] = [];
  const seen = new Set<string>();
  const add = (d: ConntrackDeletion) => {
    const k = JSON.stringify(d);
    if (!seen.has(k)) {
      seen.add(k);
      out.push(d);
    }
  };
  for (const svc of next.changed) {
    const oldPorts = (prev?.services.get(svc) ?? []).filter((p) => p.protocol === 'UDP');
    const newPorts = (next.services.get(svc) ?? []).filter((p) => p.protocol === 'UDP');
    for (const old of oldPorts) {
      const cur = newPorts.find((p) => p.name === old.name);
      const still = new Set(cur ? reachable(next, cur, nodeName).map((e) => e.ip) : []);
      for (const ep of reachable(prev!, old, nodeName)) {
        if (still.has(ep.ip)) continue;
        for (const ip of serviceIPs(old))
          add({ kind: 'service-endpoint', serviceIP: ip, port: old.port, endpointIP: ep.ip });
        if (old.nodePort > 0) add({ kind: 'nodeport-endpoint', nodePort: old.nodePort, endpointIP: ep.ip });
      }
    }
    for (const cur of newPorts) {
      const old = oldPorts.find((p) => p.name === cur.name);
      const hadEndpoints = old !== undefined && reachable(prev!, old, nodeName).length > 0;
      if (hadEndpoints || reachable(next, cur, nodeName).length === 0) continue;
      for (const ip of serviceIPs(cur)) add({ kind: 'service', serviceIP: ip, port: cur.port });
      if (cur.nodePort > 0) add({ kind: 'nodeport', nodePort: cur.nodePort });
    }
  }
  return out;
}

/** The conntrack(8) arguments that delete one kind of stale entry. */
export function conntrackArgs(d: ConntrackDeletion): string[] {
  switch (d.kind) {
    case 'service-endpoint':
      return [
        '-D',
        '-p',
        'udp',
        '--orig-dst',
        d.serviceIP,
        '--orig-port-dst',
        String(d.port),
        '--dst-nat',
        d.endpointIP,
      ];
    case 'nodeport-endpoint':
      return ['-D', '-p', 'udp', '--orig-port-dst', String(d.nodePort), '--dst-nat', d.endpointIP];
    case 'service':
      return ['-D', '-p', 'udp', '--orig-dst', d.serviceIP, '--orig-port-dst', String(d.port)];
    case 'nodeport':
      return ['-D', '-p', 'udp', '--orig-port-dst', String(d.nodePort)];
  }
}
