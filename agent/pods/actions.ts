// What to do to bring a pod's containers from what is running to what is desired: a pure diff in
// the shape of kubelet's computePodActions. It decides whether the sandbox must be (re)created,
// which init container runs next, which app containers to start and which to kill, and whether
// the whole pod is to be killed, and which ephemeral containers (kubectl debug) to start: each
// once, never restarted, even before initialisation completes. Back-off is not decided here: the
// start step checks it, as kubelet.
// Init containers are init-container-actions.ts' (kubelet's computeInitContainerActions).
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/kuberuntime_manager.go
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/kuberuntime_container.go
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { latestContainer, type PodRuntimeStatus, type RuntimeContainer } from '../runtime/types.js';
import type { PodActions, ProbeFailure, ProbeView } from './action-types.js';
import { sameSpec } from './container-hash.js';
import {
  computeInitContainerActions,
  findNextInitContainerToRun,
  restartOnFailure,
  withoutSidecars,
} from './init-container-actions.js';

function succeeded(c: RuntimeContainer | undefined): boolean {
  return c?.state === 'exited' && c.exitCode === 0;
}

/** Should this (not running) container be started (again)? */
export function shouldContainerBeRestarted(c: V1Container, pod: V1Pod, status: PodRuntimeStatus): boolean {
  const latest = latestContainer(status, c.name);
  if (!latest) return true; // never started
  if (latest.state === 'running') return false;
  if (latest.state === 'unknown' || latest.state === 'created') return true;
  if (pod.spec?.restartPolicy === 'Never') return false;
  if (pod.spec?.restartPolicy === 'OnFailure' && latest.exitCode === 0) return false;
  return true;
}

/** Does the pod need a new sandbox? (none yet, the latest is not running or has no network, or more than one runs) */
function sandboxChanged(
  pod: V1Pod,
  status: PodRuntimeStatus,
): { create: boolean; attempt: number; sandboxId?: string; reason?: string } {
  const latest = status.sandboxes[0];
  if (!latest) return { create: true, attempt: 0, reason: 'no sandbox yet' };
  const nextAttempt = latest.attempt + 1;
  const ready = status.sandboxes.filter((s) => s.state === 'ready');
  if (ready.length > 1)
    return {
      create: true,
      attempt: nextAttempt,
      sandboxId: latest.id,
      reason: `${ready.length} sandboxes are running`,
    };
  if (latest.state !== 'ready')
    return { create: true, attempt: nextAttempt, sandboxId: latest.id, reason: 'the sandbox is not running' };
  if (latest.hostNetwork !== (pod.spec?.hostNetwork ?? false))
    return { create: true, attempt: nextAttempt, sandboxId: latest.id, reason: 'hostNetwork changed' };
  // As kubelet's podSandboxChanged: a pod-network sandbox without an IP is replaced.
  if (!latest.hostNetwork && latest.networkProblem)
    return { create: true, attempt: nextAttempt, sandboxId: latest.id, reason: latest.networkProblem };
  return { create: false, attempt: latest.attempt, sandboxId: latest.id };
}

/**
 * `probes`: the prober's view; a bare map of failures means no startup probe has passed yet.
 * `resizeRestart`: running containers an in-place resize restarts (runtime/resize-plan.ts).
 */
export function computePodActions(
  pod: V1Pod,
  status: PodRuntimeStatus,
  probes: ProbeView | ReadonlyMap<string, ProbeFailure> = new Map(),
  resizeRestart: ReadonlySet<string> = new Set(),
): PodActions {
  const view: ProbeView =
    probes instanceof Map ? { failures: probes, startupSucceeded: new Set() } : (probes as ProbeView);
  const sb = sandboxChanged(pod, status);
  const actions: PodActions = {
    killPod: sb.create,
    createSandbox: sb.create,
    sandboxId: sb.sandboxId,
    attempt: sb.attempt,
    initContainersToStart: [],
    containersToStart: [],
    ephemeralContainersToStart: [],
    containersToKill: [],
    reason: sb.reason,
  };
  if (sb.create) return newSandboxActions(pod, status, sb.attempt, actions);

  // As kubelet: ephemeral containers may start before initialisation completes, and an ephemeral
  // container the runtime knows (running or exited) is never started again.
  (pod.spec?.ephemeralContainers ?? []).forEach((c, i) => {
    if (!latestContainer(status, c.name)) actions.ephemeralContainersToStart.push(i);
  });

  const init = computeInitContainerActions(pod, status, view, actions, resizeRestart);
  if (init.failedFor) {
    actions.killPod = true;
    actions.reason = `init container ${init.failedFor} failed and restartPolicy is Never`;
    actions.initContainersToStart = [];
    actions.containersToKill = [];
    // kubelet would start them in the sandbox it just stopped, and fail: not started at all.
    actions.ephemeralContainersToStart = [];
    return actions;
  }
  if (!init.initialized) return actions; // app containers wait for the init containers

  const keep = computeAppContainerActions(pod, status, view, actions, resizeRestart);
  // Only app containers keep a pod alive: with none running or to start, the pod is done and its
  // sidecars are stopped, not restarted (kubelet clears InitContainersToStart here).
  if (keep === 0 && actions.containersToStart.length === 0) {
    actions.killPod = true;
    actions.reason = 'no container is running or to be started';
    actions.ephemeralContainersToStart = [];
    actions.initContainersToStart = [];
  }
  return actions;
}

/** With a new sandbox everything starts afresh: the first init container, else the app containers. */
function newSandboxActions(pod: V1Pod, status: PodRuntimeStatus, attempt: number, actions: PodActions): PodActions {
  const containers = pod.spec?.containers ?? [];
  // A pod that never restarts, whose sandbox went away after containers ran: it is finished.
  if (!restartOnFailure(pod) && attempt !== 0 && status.containers.length !== 0) {
    actions.createSandbox = false;
    actions.reason = 'the sandbox is gone and restartPolicy is Never';
    return actions;
  }
  const toStart = containers
    .map((_, i) => i)
    .filter(
      (i) => !(pod.spec?.restartPolicy === 'OnFailure' && succeeded(latestContainer(status, containers[i]!.name))),
    );
  // Sidecars stopped with the pod do not make it unfinished. (kubelet does not come here for a
  // finished pod: its pod worker stops syncing a pod whose phase is terminal.)
  if (toStart.length === 0 && findNextInitContainerToRun(withoutSidecars(pod), status).done) {
    actions.createSandbox = false;
    actions.reason = 'every container has succeeded';
    return actions;
  }
  if ((pod.spec?.initContainers ?? []).length) {
    actions.initContainersToStart = [0];
    return actions;
  }
  actions.containersToStart = toStart;
  return actions;
}

/** App containers to start and to kill, in `actions`; returns how many keep running. */
function computeAppContainerActions(
  pod: V1Pod,
  status: PodRuntimeStatus,
  view: ProbeView,
  actions: PodActions,
  resizeRestart: ReadonlySet<string>,
): number {
  let keep = 0;
  (pod.spec?.containers ?? []).forEach((c, i) => {
    const latest = latestContainer(status, c.name);
    if (!latest || latest.state !== 'running') {
      if (shouldContainerBeRestarted(c, pod, status)) {
        actions.containersToStart.push(i);
        // A container stuck in "created" is replaced, not left next to the new one.
        if (latest && (latest.state === 'created' || latest.state === 'unknown'))
          actions.containersToKill.push({
            id: latest.id,
            name: c.name,
            message: 'container never started; replacing it',
          });
      }
      return;
    }
    let message: string;
    let reason: string | undefined;
    let restart = restartOnFailure(pod);
    const failure = view.failures.get(c.name);
    if (!sameSpec(latest.hash, c)) {
      message = `Container ${c.name} definition changed`;
      restart = true;
    } else if (failure && failure.containerId === latest.id) {
      message = `Container ${c.name} failed ${failure.type} probe: ${failure.message}`;
      reason = failure.type === 'liveness' ? 'LivenessProbeFailed' : 'StartupProbeFailed';
    } else if (resizeRestart.has(c.name)) {
      // kubelet's computePodResizeAction: restarted whatever the pod's restartPolicy.
      actions.containersToKill.push({
        id: latest.id,
        name: c.name,
        message: `Container ${c.name} resize requires restart`,
      });
      actions.containersToStart.push(i);
      return;
    } else {
      keep++;
      return;
    }
    if (restart) {
      message += ', will be restarted';
      actions.containersToStart.push(i);
    }
    actions.containersToKill.push({ id: latest.id, name: c.name, message, reason });
  });
  return keep;
}
