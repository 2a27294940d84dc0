// The order a pod's containers stop in when the whole pod is killed, as kubelet's
// terminationOrdering (pkg/kubelet/kuberuntime/kuberuntime_termination_order.go, since the
// SidecarContainers feature): every container is killed at once (preStop hooks run in parallel),
// but a sidecar is sent its signal only once every app container has stopped and, after that,
// once the sidecars defined after it have stopped: sidecars go in reverse order of definition.
// All of it within the one grace period: a sidecar whose turn has not come when its grace period
// runs out is stopped anyway. Pure: names in, prerequisites out.
import type { V1Pod } from '@kubernetes/client-node';

/**
 * For each container that must wait, the names of the containers it waits for (only running ones
 * count: a container not running has nothing to wait for). Empty for a pod without sidecars.
 */
export function terminationPrerequisites(pod: V1Pod, running: ReadonlySet<string>): Map<string, string[]> {
  const out = new Map<string, string[]>();
  const inits = pod.spec?.initContainers ?? [];
  if (!inits.some((c) => c.restartPolicy === 'Always')) return out;
  const apps = (pod.spec?.containers ?? []).map((c) => c.name).filter((n) => running.has(n));
  let later: string | undefined; // the next sidecar in definition order
  for (let i = inits.length - 1; i >= 0; i--) {
    const c = inits[i]!;
    if (c.restartPolicy !== 'Always') continue;
    out.set(c.name, [...apps, ...(later && running.has(later) ? [later] : [])]);
    later = c.name;
  }
  return out;
}
