// The final status of a pod the agent cannot ask the runtime about: one it never ran, or one
// deleted while the agent was down. As kubelet's status manager TerminatePod: every container not
// known to have ended is reported terminated with 137 (ContainerStatusUnknown: we cannot tell
// whether it succeeded, so it counts as a failure), a phase that is not terminal yet becomes
// Failed, and the pod is no longer ready. Pure.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/status/status_manager.go (TerminatePod)
import type { V1ContainerStatus, V1PodStatus } from '@kubernetes/client-node';

function ended(c: V1ContainerStatus): V1ContainerStatus {
  const out: V1ContainerStatus = { ...c, ready: false, started: false };
  if (c.state?.terminated) return out;
  out.state = {
    terminated: {
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
      message: 'The container could not be located when the pod was terminated',
    },
  };
  return out;
}

export function terminalPodStatus(last: V1PodStatus | undefined, now = new Date()): V1PodStatus {
  const s: V1PodStatus = { ...last };
  s.phase = last?.phase === 'Succeeded' || last?.phase === 'Failed' ? last.phase : 'Failed';
  s.conditions = (last?.conditions ?? []).map((c) =>
    (c.type === 'Ready' || c.type === 'ContainersReady') && c.status !== 'False'
      ? { ...c, status: 'False', reason: 'PodCompleted', lastTransitionTime: now }
      : c,
  );
  if (last?.containerStatuses) s.containerStatuses = last.containerStatuses.map(ended);
  if (last?.initContainerStatuses) s.initContainerStatuses = last.initContainerStatuses.map(ended);
  if (last?.ephemeralContainerStatuses) s.ephemeralContainerStatuses = last.ephemeralContainerStatuses.map(ended);
  return s;
}
