// Init containers' part of computePodActions, as kubelet's computeInitContainerActions (the
// SidecarContainers behaviour, always on since 1.33): a native sidecar (an init container with
// restartPolicy Always) lets the next init container start once it is started (running, and its
// startupProbe, if any, has succeeded), keeps running beside the app containers, and is
// restarted whenever it exits, whatever the pod's restartPolicy; it does not keep a pod alive
// whose app containers are done.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/kuberuntime_container.go
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { latestContainer, type PodRuntimeStatus, type RuntimeContainer } from '../runtime/types.js';
import type { PodActions, ProbeView } from './action-types.js';
import { sameSpec } from './container-hash.js';

/** A native sidecar: an init container that runs beside the app containers (KEP-753). */
export function isRestartableInitContainer(c: V1Container): boolean {
  return c.restartPolicy === 'Always';
}

/** Does the pod restart a container that failed (restartPolicy Always or OnFailure)? */
export function restartOnFailure(pod: V1Pod): boolean {
  return pod.spec?.restartPolicy !== 'Never';
}

/** The pod without its sidecars: what "initialisation is done" means for a finished pod. */
export function withoutSidecars(pod: V1Pod): V1Pod {
  return {
    ...pod,
    spec: {
      ...pod.spec!,
      initContainers: (pod.spec?.initContainers ?? []).filter((c) => !isRestartableInitContainer(c)),
    },
  };
}

function initFailed(c: RuntimeContainer): boolean {
  return (c.state === 'exited' && c.exitCode !== 0) || c.state === 'unknown';
}

/**
 * Init containers run one at a time, in order. Returns the last failed one (to restart), the next
 * to run, and whether all are done.
 */
export function findNextInitContainerToRun(
  pod: V1Pod,
  status: PodRuntimeStatus,
): { failed?: RuntimeContainer; next?: V1Container; done: boolean } {
  const inits = pod.spec?.initContainers ?? [];
  if (inits.length === 0) return { done: true };
  // An app container that is running means initialisation finished earlier.
  for (const c of pod.spec?.containers ?? [])
    if (latestContainer(status, c.name)?.state === 'running') return { done: true };
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

export interface InitActions {
  initialized: boolean;
  /** A regular init container failed and the pod never restarts: it is done. */
  failedFor?: string;
}

/**
 * kubelet's computeInitContainerActions, in our words. The init containers are read from the last
 * to the first, because a completed one may have been removed from the runtime since: the last
 * one the runtime knows tells how far initialisation got. Before it, only sidecars matter (kept
 * running); from it on, what to start next. Returns whether the pod is initialised.
 */
export function computeInitContainerActions(
  pod: V1Pod,
  status: PodRuntimeStatus,
  probes: ProbeView,
  actions: PodActions,
  resizeRestart: ReadonlySet<string>,
): InitActions {
  const inits = pod.spec?.initContainers ?? [];
  if (inits.length === 0) return { initialized: true };
  const toStart: number[] = [];
  const kill = (c: RuntimeContainer, message: string, reason?: string): void => {
    actions.containersToKill.push({ id: c.id, name: c.name, message, reason });
  };
  const scan: InitScan = { inits, probes, resizeRestart, toStart, kill };
  // An app container created or running means initialisation finished before, even if the init
  // containers' instances are gone (an exited one does not: it may be from an older sandbox).
  let initialized = (pod.spec?.containers ?? []).some((c) => {
    const s = latestContainer(status, c.name);
    return s?.state === 'created' || s?.state === 'running';
  });
  // Once set, the init containers before the one being read ran to completion (or were started).
  let earlierDone = initialized;
  for (let i = inits.length - 1; i >= 0; i--) {
    const c = inits[i]!;
    const sidecar = isRestartableInitContainer(c);
    const s = latestContainer(status, c.name);
    if (!s) {
      // Gone from the runtime after the pod was initialised: only a sidecar must be running again.
      if (earlierDone && sidecar) toStart.push(i);
      continue;
    }
    if (earlierDone && !sidecar) continue; // a regular init container never runs again
    if (s.state === 'created') {
      // Created and started are one step: one left in created failed to start.
      toStart.push(i);
    } else if (s.state === 'running') {
      if (sidecar && runningSidecarActions(scan, i, s, earlierDone)) initialized = true;
      // A regular init container: wait for it to finish.
    } else if (s.state === 'exited') {
      if (sidecar)
        toStart.push(i); // whatever the pod's restartPolicy (back-off is the start step's)
      else if (s.exitCode !== 0) {
        if (!restartOnFailure(pod)) return { initialized: false, failedFor: c.name };
        toStart.push(i);
      } else if (i === inits.length - 1) initialized = true;
      else toStart.push(i + 1);
    } else {
      // Unknown: stop what may be left of it before starting another.
      if (!sidecar && !restartOnFailure(pod)) return { initialized: false, failedFor: c.name };
      kill(s, `Init container ${c.name} is in an unknown state, will be restarted`);
      toStart.push(i);
    }
    earlierDone = true;
  }
  if (!earlierDone) toStart.push(0); // nothing ran yet
  actions.initContainersToStart = toStart.reverse();
  return { initialized };
}

/** What the pass over the init containers reads, and where it puts what it decides. */
interface InitScan {
  inits: V1Container[];
  probes: ProbeView;
  resizeRestart: ReadonlySet<string>;
  /** Indexes to start, collected from the last init container to the first. */
  toStart: number[];
  kill(c: RuntimeContainer, message: string, reason?: string): void;
}

/**
 * A running sidecar (spec.initContainers[i], instance `s`): restarted when its startupProbe
 * failed; once started, it lets the next init container run, and is restarted when its spec
 * changed, its livenessProbe failed or a resize requires it. Returns true when it is the last
 * init container and has started: the pod is initialised.
 */
function runningSidecarActions(scan: InitScan, i: number, s: RuntimeContainer, earlierDone: boolean): boolean {
  const { inits, probes, resizeRestart, toStart, kill } = scan;
  const c = inits[i]!;
  let initialized = false;
  const failure = probes.failures.get(c.name);
  const failed = failure && failure.containerId === s.id ? failure : undefined;
  if (c.startupProbe && failed?.type === 'startup') {
    kill(
      s,
      `Init container ${c.name} failed startup probe: ${failed.message}, will be restarted`,
      'StartupProbeFailed',
    );
    toStart.push(i);
  } else if (!c.startupProbe || probes.startupSucceeded.has(s.id)) {
    // Started: the next init container may run (once only: not again when the sidecar restarts).
    if (i === inits.length - 1) initialized = true;
    else if (!earlierDone) toStart.push(i + 1);
    if (!sameSpec(s.hash, c)) {
      kill(s, `Init container ${c.name} definition changed, will be restarted`);
      toStart.push(i);
    } else if (failed?.type === 'liveness') {
      kill(
        s,
        `Init container ${c.name} failed liveness probe: ${failed.message}, will be restarted`,
        'LivenessProbeFailed',
      );
      toStart.push(i);
    } else if (resizeRestart.has(c.name)) {
      kill(s, `Container ${c.name} resize requires restart`);
      toStart.push(i);
    }
  }
  return initialized;
}
