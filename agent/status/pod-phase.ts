// A pod's phase as kubelet's getPhase decides it, from the container statuses status.ts computed.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kubelet_pods.go (getPhase)
import type { V1Container, V1ContainerStatus, V1Pod } from '@kubernetes/client-node';

/** A native sidecar: an init container with restartPolicy Always (KEP-753). */
export function isSidecar(c: V1Container | undefined): boolean {
  return c?.restartPolicy === 'Always';
}

/**
 * kubelet's getPhase, over the container statuses just computed. `podIsTerminal`: nothing will be
 * restarted whatever the restart policy, so stopped containers decide Succeeded or Failed, and a
 * pod that never got that far is Failed (kubelet's status manager TerminatePod).
 * Sidecars (in `init`, by spec index) count as running containers while they run, hold the pod
 * Pending until started only during initialisation (`podHasInitialized`: an app container ran),
 * and are ignored once stopped: a finished pod's phase is its app containers'.
 */
export function podPhase(
  pod: V1Pod,
  init: V1ContainerStatus[],
  app: V1ContainerStatus[],
  podIsTerminal = false,
  podHasInitialized = false,
): string {
  const policy = pod.spec?.restartPolicy ?? 'Always';
  const specs = pod.spec?.initContainers ?? [];
  let pendingInit = 0;
  let failedInit = 0;
  let pendingSidecars = 0;
  let running = 0,
    waiting = 0,
    stopped = 0,
    succeeded = 0;
  init.forEach((s, i) => {
    if (!isSidecar(specs[i])) return;
    if (s.state?.running) {
      if (!s.started) pendingSidecars++;
      running++;
    } else if (!s.state?.terminated && !s.lastState?.terminated) {
      pendingSidecars++;
      waiting++;
    }
  });
  for (const [i, s] of init.entries()) {
    if (isSidecar(specs[i])) continue;
    if (s.state?.running) pendingInit++;
    else if (s.state?.terminated) {
      if (s.state.terminated.exitCode !== 0) failedInit++;
    } else if (s.state?.waiting && s.lastState?.terminated) {
      if (s.lastState.terminated.exitCode !== 0) failedInit++;
    } else pendingInit++;
  }
  for (const s of app) {
    if (s.state?.running) running++;
    else if (s.state?.terminated) {
      stopped++;
      if (s.state.terminated.exitCode === 0) succeeded++;
    } else if (s.state?.waiting && s.lastState?.terminated) stopped++;
    else waiting++;
  }
  if (podIsTerminal) {
    if (failedInit > 0 || running > 0 || waiting > 0 || pendingInit > 0 || stopped === 0) return 'Failed';
    return stopped === succeeded ? 'Succeeded' : 'Failed';
  }
  if (failedInit > 0 && policy === 'Never') return 'Failed';
  if (pendingInit > 0 || failedInit > 0 || waiting > 0 || (pendingSidecars > 0 && !podHasInitialized)) return 'Pending';
  if (running > 0) return 'Running';
  if (stopped > 0) {
    if (policy === 'Always') return 'Running';
    if (stopped === succeeded) return 'Succeeded';
    if (policy === 'Never') return 'Failed';
    return 'Running';
  }
  return 'Pending';
}
