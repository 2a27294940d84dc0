// What to do to bring a pod's containers from what is running to what is desired: a pure diff in
// the shape of kubelet's computePodActions. It decides whether the sandbox must be (re)created,
// which init container runs next, which app containers to start and which to kill, and whether
// the whole pod is to be killed, and which ephemeral containers (kubectl debug) to start: each
// once, never restarted, even before initialisation completes. Back-off is not decided here: the
// start step checks it, as kubelet.
// Init containers follow kubelet's computeInitContainerActions (the SidecarContainers behaviour,
// always on since 1.33): a native sidecar (an init container with restartPolicy Always) lets the
// next init container start once it is started (running, and its startupProbe, if any, has
// succeeded), keeps running beside the app containers, and is restarted whenever it exits,
// whatever the pod's restartPolicy; it does not keep a pod alive whose app containers are done.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/kuberuntime_manager.go
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/kuberuntime_container.go
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { latestContainer, type PodRuntimeStatus, type RuntimeContainer } from '../runtime/types.js';
import { hashObject } from '../podspec/hash.js';

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
  /**
   * Indexes in spec.initContainers, in spec order: the next init container to run and any
   * sidecar to (re)start. A regular init container that fails to start stops the ones after it.
   */
  initContainersToStart: number[];
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

/** A native sidecar: an init container that runs beside the app containers (KEP-753). */
export function isRestartableInitContainer(c: V1Container): boolean {
  return c.restartPolicy === 'Always';
}

/**
 * The hash a container's spec is recorded under; a change means the container must be replaced.
 * CPU and memory (resources, resizePolicy) are left out: since in-place resize (1.27, beta and
 * on by default in 1.33) a resize is applied to the running container or restarts it as its
 * resizePolicy says (runtime/resize-plan.ts), never through a changed hash. (kubelet hashes only name and
 * image; we keep the rest, which other sources than the apiserver may change under one UID.)
 */
export function containerHash(c: V1Container): string {
  const { resources: _r, resizePolicy: _p, ...rest } = c;
  return hashObject(rest);
}

/**
 * Does a running instance's hash label say it was made from this spec? Containers made by an
 * agent from before in-place resize carry a hash of the whole spec: accepted too, so that an
 * upgraded agent adopts them instead of restarting every container once.
 */
export function sameSpec(hash: string, c: V1Container): boolean {
  return hash === containerHash(c) || hash === hashObject(c);
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

/** The pod without its sidecars: what "initialisation is done" means for a finished pod. */
function withoutSidecars(pod: V1Pod): V1Pod {
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

/** What the prober knows that the diff needs: failures to act on, startup probes that passed. */
export interface ProbeView {
  failures: ReadonlyMap<string, ProbeFailure>;
  /** Ids of container instances whose startupProbe has succeeded (kubelet's startupManager). */
  startupSucceeded: ReadonlySet<string>;
}

interface InitActions {
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
function computeInitContainerActions(
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
      if (sidecar) {
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
      }
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
