// What to do to bring a pod's containers from what is running to what is desired: a pure diff in
// the shape of kubelet's computePodActions. It decides whether the sandbox must be (re)created,
// which init container runs next, which app containers to start and which to kill, and whether
// the whole pod is to be killed, and which ephemeral containers (kubectl debug) to start: each
// once, never restarted, even before initialisation completes. Back-off is not decided here: the
// start step checks it, as kubelet.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/kuberuntime_manager.go
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { latestContainer, type PodRuntimeStatus, type RuntimeContainer } from '../runtime/types.js';
import { hashObject } from './hash.js';

export interface ContainerToKill {
  id: string;
  name: string;
  /** Why, for the log and the container's termination message. */
  message: string;
  reason?: string;
}

export interface PodActions {
  /** Stop every container and the sandbox (the sandbox changed, or the pod is done). */
  killPod: boolean;
  createSandbox: boolean;
  /** The sandbox to keep using (when not creating a new one). */
  sandboxId?: string;
  /** Attempt number of a new sandbox. */
  attempt: number;
  nextInitContainerToStart?: V1Container;
  /** Indexes in spec.containers. */
  containersToStart: number[];
  /** Indexes in spec.ephemeralContainers: those the runtime has never seen. */
  ephemeralContainersToStart: number[];
  containersToKill: ContainerToKill[];
  /** Why the pod is killed or recreated, for the log. */
  reason?: string;
}

export interface ProbeFailure {
  containerId: string;
  type: 'liveness' | 'startup';
  message: string;
}

/** The hash a container's spec is recorded under; a change means the container must be replaced. */
export function containerHash(c: V1Container): string {
  return hashObject(c);
}

function restartOnFailure(pod: V1Pod): boolean {
  return pod.spec?.restartPolicy !== 'Never';
}

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

function initFailed(c: RuntimeContainer): boolean {
  return (c.state === 'exited' && c.exitCode !== 0) || c.state === 'unknown';
}

/**
 * Init containers run one at a time, in order. Returns the last failed one (to restart), the next
 * to run, and whether all are done.
 */
export function findNextInitContainerToRun(pod: V1Pod, status: PodRuntimeStatus): { failed?: RuntimeContainer; next?: V1Container; done: boolean } {
  const inits = pod.spec?.initContainers ?? [];
  if (inits.length === 0) return { done: true };
  // An app container that is running means initialisation finished earlier.
  for (const c of pod.spec?.containers ?? []) if (latestContainer(status, c.name)?.state === 'running') return { done: true };
  for (let i = inits.length - 1; i >= 0; i--) {
    const s = latestContainer(status, inits[i]!.name);
    if (s && initFailed(s)) return { failed: s, next: inits[i], done: false };
  }
  for (let i = inits.length - 1; i >= 0; i--) {
    const s = latestContainer(status, inits[i]!.name);
    if (!s) continue;
    if (s.state === 'running' || s.state === 'created') return { done: false };
    if (s.state === 'exited') return i === inits.length - 1 ? { done: true } : { next: inits[i + 1], done: false };
  }
  return { next: inits[0], done: false };
}

/** Does the pod need a new sandbox? (none yet, the latest is not running, or more than one runs) */
function sandboxChanged(pod: V1Pod, status: PodRuntimeStatus): { create: boolean; attempt: number; sandboxId?: string; reason?: string } {
  const latest = status.sandboxes[0];
  if (!latest) return { create: true, attempt: 0, reason: 'no sandbox yet' };
  const nextAttempt = latest.attempt + 1;
  const ready = status.sandboxes.filter((s) => s.state === 'ready');
  if (ready.length > 1) return { create: true, attempt: nextAttempt, sandboxId: latest.id, reason: `${ready.length} sandboxes are running` };
  if (latest.state !== 'ready') return { create: true, attempt: nextAttempt, sandboxId: latest.id, reason: 'the sandbox is not running' };
  if (latest.hostNetwork !== (pod.spec?.hostNetwork ?? false)) return { create: true, attempt: nextAttempt, sandboxId: latest.id, reason: 'hostNetwork changed' };
  return { create: false, attempt: latest.attempt, sandboxId: latest.id };
}

export function computePodActions(pod: V1Pod, status: PodRuntimeStatus, probeFailures: ReadonlyMap<string, ProbeFailure> = new Map()): PodActions {
  const sb = sandboxChanged(pod, status);
  const actions: PodActions = {
    killPod: sb.create,
    createSandbox: sb.create,
    sandboxId: sb.sandboxId,
    attempt: sb.attempt,
    containersToStart: [],
    ephemeralContainersToStart: [],
    containersToKill: [],
    reason: sb.reason,
  };
  const containers = pod.spec?.containers ?? [];

  if (sb.create) {
    // A pod that never restarts, whose sandbox went away after containers ran: it is finished.
    if (!restartOnFailure(pod) && sb.attempt !== 0 && status.containers.length !== 0) {
      actions.createSandbox = false;
      actions.reason = 'the sandbox is gone and restartPolicy is Never';
      return actions;
    }
    const toStart = containers.map((_, i) => i).filter((i) => !(pod.spec?.restartPolicy === 'OnFailure' && succeeded(latestContainer(status, containers[i]!.name))));
    if (toStart.length === 0 && findNextInitContainerToRun(pod, status).done) {
      actions.createSandbox = false;
      actions.reason = 'every container has succeeded';
      return actions;
    }
    if ((pod.spec?.initContainers ?? []).length) {
      actions.nextInitContainerToStart = pod.spec!.initContainers![0];
      return actions;
    }
    actions.containersToStart = toStart;
    return actions;
  }

  // As kubelet: ephemeral containers may start before initialisation completes, and an ephemeral
  // container the runtime knows (running or exited) is never started again.
  (pod.spec?.ephemeralContainers ?? []).forEach((c, i) => {
    if (!latestContainer(status, c.name)) actions.ephemeralContainersToStart.push(i);
  });

  const init = findNextInitContainerToRun(pod, status);
  if (!init.done) {
    if (init.next) {
      if (init.failed && !restartOnFailure(pod)) {
        actions.killPod = true;
        actions.reason = `init container ${init.failed.name} failed and restartPolicy is Never`;
        // kubelet would start them in the sandbox it just stopped, and fail: not started at all.
        actions.ephemeralContainersToStart = [];
      } else {
        actions.nextInitContainerToStart = init.next;
      }
    }
    return actions; // app containers wait for the init containers
  }

  let keep = 0;
  containers.forEach((c, i) => {
    const latest = latestContainer(status, c.name);
    if (!latest || latest.state !== 'running') {
      if (shouldContainerBeRestarted(c, pod, status)) {
        actions.containersToStart.push(i);
        // A container stuck in "created" is replaced, not left next to the new one.
        if (latest && (latest.state === 'created' || latest.state === 'unknown')) actions.containersToKill.push({ id: latest.id, name: c.name, message: 'container never started; replacing it' });
      }
      return;
    }
    let message: string;
    let reason: string | undefined;
    let restart = restartOnFailure(pod);
    const failure = probeFailures.get(c.name);
    if (latest.hash !== containerHash(c)) {
      message = `Container ${c.name} definition changed`;
      restart = true;
    } else if (failure && failure.containerId === latest.id) {
      message = `Container ${c.name} failed ${failure.type} probe: ${failure.message}`;
      reason = failure.type === 'liveness' ? 'LivenessProbeFailed' : 'StartupProbeFailed';
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
  if (keep === 0 && actions.containersToStart.length === 0) {
    actions.killPod = true;
    actions.reason = 'no container is running or to be started';
    actions.ephemeralContainersToStart = [];
  }
  return actions;
}
