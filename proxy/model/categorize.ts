// Which endpoints serve which traffic (upstream: pkg/proxy/topology.go CategorizeEndpoints,
// without topology hints). Pure and mode-independent: both proxiers ask the same question.
import { type Endpoint, externallyAccessible, type ServicePort } from './types.js';

export interface CategorizedEndpoints {
  /** Endpoints for "Cluster" traffic policy, or [] when no traffic uses that policy. */
  cluster: Endpoint[];
  /** This node's endpoints for "Local" traffic policy, or [] when no traffic uses that policy. */
  local: Endpoint[];
  /** Union of the above: every endpoint this node may send traffic to. */
  reachable: Endpoint[];
  /** Whether the Service has any usable endpoint anywhere (decides REJECT versus DROP). */
  hasAny: boolean;
}

/** Ready endpoints; when none is ready, those still serving while terminating (graceful fallback). */
function usable(eps: readonly Endpoint[]): Endpoint[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length > 0 ? ready : eps.filter((e) => e.serving && e.terminating);
}

export function usesClusterEndpoints(sp: ServicePort): boolean {
  // Upstream's UsesClusterEndpoints: even with externalTrafficPolicy Local, pods and the node
  // reaching an external address are short-circuited to the cluster-wide endpoints, so an
  // externally reachable port needs them whatever its internal policy.
  return !sp.internalPolicyLocal || externallyAccessible(sp);
}

export function usesLocalEndpoints(sp: ServicePort): boolean {
  return sp.internalPolicyLocal || sp.externalPolicyLocal;
}

export function categorizeEndpoints(
  sp: ServicePort,
  endpoints: readonly Endpoint[],
  nodeName: string,
): CategorizedEndpoints {
  const all = usable(endpoints);
  const hasAny = all.length > 0;
  const cluster = usesClusterEndpoints(sp) ? all : [];
  const local = usesLocalEndpoints(sp)
    ? usable(endpoints.filter((e) => e.nodeName !== '' && e.nodeName === nodeName))
    : [];
  if (local.length === 0) return { cluster, local, reachable: cluster, hasAny };
  if (cluster.length === 0) return { cluster, local, reachable: local, hasAny };
  const seen = new Set(cluster.map((e) => `${e.ip}:${e.port}`));
  return { cluster, local, reachable: [...cluster, ...local.filter((e) => !seen.has(`${e.ip}:${e.port}`))], hasAny };
}
