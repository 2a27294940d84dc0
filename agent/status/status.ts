// A pod's status as Kubernetes defines it, computed from what the runtime reports, what the last
// sync could not do (waiting reasons such as CrashLoopBackOff or ErrImagePull) and what the
// prober says. Pure: the same inputs give the same status, with transition times carried over
// from the previous status when a condition did not change.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kubelet_pods.go (generateAPIPodStatus; getPhase is pod-phase.ts)
import type {
  V1Container,
  V1ContainerState,
  V1ContainerStatus,
  V1Pod,
  V1PodCondition,
  V1PodStatus,
} from '@kubernetes/client-node';
import type { PodRuntimeStatus, RuntimeContainer } from '../runtime/types.js';
import type { QOSClass } from '../podspec/qos.js';
import { isSidecar, podPhase } from './pod-phase.js';

export interface Waiting {
  reason: string;
  message?: string;
}

export interface StatusInput {
  pod: V1Pod;
  runtime: PodRuntimeStatus;
  /** Why a container is not running, from the last sync (by container name). */
  waiting: ReadonlyMap<string, Waiting>;
  /** Messages for container instances the agent killed (by container id): liveness failures etc. */
  killed: ReadonlyMap<string, { reason?: string; message: string }>;
  /** Termination messages read from the containers' terminationMessagePath (by container id). */
  terminationMessages?: ReadonlyMap<string, string>;
  isReady(containerName: string): boolean;
  isStarted(containerName: string): boolean;
  podIPs: string[];
  hostIPs: string[];
  sandboxReady: boolean;
  qosClass: QOSClass;
  previous?: V1PodStatus;
  now: Date;
  /** When the agent first saw the pod (startTime, unless the runtime knows an earlier one). */
  firstSeen: Date;
  /**
   * The pod was terminated by the agent (deleted, or removed from its source) and its containers
   * are stopped: the status is the final one, with a terminal phase whatever the restart policy,
   * as kubelet writes since 1.27 before the pod is deleted.
   */
  podIsTerminal?: boolean;
  /**
   * The agent failed the pod itself (activeDeadlineSeconds passed): phase Failed with this reason
   * and message, as kubelet's generateAPIPodStatus applies a PodSyncHandler's ShouldEvict.
   */
  evicted?: { reason: string; message: string; condition?: V1PodCondition };
}

function terminated(c: RuntimeContainer, input: StatusInput): V1ContainerState {
  const killed = input.killed.get(c.id);
  const reason = c.oomKilled ? 'OOMKilled' : c.exitCode === 0 ? 'Completed' : 'Error';
  const message = input.terminationMessages?.get(c.id) ?? killed?.message ?? c.error;
  return {
    terminated: {
      exitCode: c.exitCode ?? -1,
      reason,
      ...(message ? { message } : {}),
      startedAt: c.startedAt ?? c.createdAt,
      finishedAt: c.finishedAt ?? input.now,
      containerID: `docker://${c.id}`,
    },
  };
}

function containerStatus(
  spec: V1Container,
  instances: RuntimeContainer[],
  input: StatusInput,
  defaultWaiting: string,
): V1ContainerStatus {
  const [latest, previous] = instances;
  const waiting = input.waiting.get(spec.name);
  const base: V1ContainerStatus = {
    name: spec.name,
    image: spec.image!,
    imageID: '',
    ready: false,
    started: false,
    restartCount: latest?.attempt ?? 0,
    state: {
      waiting: { reason: waiting?.reason ?? defaultWaiting, ...(waiting?.message ? { message: waiting.message } : {}) },
    },
    lastState: {},
  };
  if (!latest) return base;
  base.imageID = latest.imageId ? `docker://${latest.imageId}` : '';
  base.containerID = `docker://${latest.id}`;
  if (previous && previous.state === 'exited') base.lastState = terminated(previous, input);
  if (latest.state === 'running') {
    base.state = { running: { startedAt: latest.startedAt ?? latest.createdAt } };
    base.started = input.isStarted(spec.name);
    base.ready = base.started && input.isReady(spec.name);
  } else if (latest.state === 'exited') {
    if (waiting) {
      // Waiting to be started again (back-off, image pull...): the instance that ended is lastState.
      base.lastState = terminated(latest, input);
      base.state = { waiting: { reason: waiting.reason, ...(waiting.message ? { message: waiting.message } : {}) } };
    } else {
      base.state = terminated(latest, input);
    }
  } else {
    base.state = {
      waiting: {
        reason: waiting?.reason ?? 'ContainerCreating',
        ...(waiting?.message ? { message: waiting.message } : {}),
      },
    };
  }
  return base;
}

/**
 * In a terminated pod no container is waiting any more: one that never ran (or whose end the
 * runtime no longer knows) is reported terminated with 137, as kubelet's status manager does
 * (ContainerStatusUnknown); one that had ended shows that end rather than a back-off.
 */
function terminalContainerState(s: V1ContainerStatus): void {
  s.ready = false;
  s.started = false;
  if (s.state?.terminated) return;
  if (s.state?.waiting && s.lastState?.terminated && s.lastState.terminated.containerID === s.containerID) {
    s.state = { terminated: s.lastState.terminated };
    s.lastState = {};
    return;
  }
  s.state = {
    terminated: {
      exitCode: 137,
      reason: 'ContainerStatusUnknown',
      message: 'The container could not be located when the pod was terminated',
    },
  };
}

function condition(type: string, ok: boolean, input: StatusInput, reason?: string, message?: string): V1PodCondition {
  const prev = input.previous?.conditions?.find((c) => c.type === type);
  const status = ok ? 'True' : 'False';
  return {
    type,
    status,
    lastTransitionTime: prev && prev.status === status ? prev.lastTransitionTime : input.now,
    ...(reason ? { reason } : {}),
    ...(message ? { message } : {}),
  };
}

export function generatePodStatus(input: StatusInput): V1PodStatus {
  const { pod } = input;
  const cs = allContainerStatuses(input);
  const { initStatuses, appStatuses, ephemeralStatuses } = cs;
  const hasInit = cs.inits.length > 0;
  const appStarted = appStatuses.some((s) => s.state?.running || s.state?.terminated || s.lastState?.terminated);
  let phase = podPhase(pod, initStatuses, appStatuses, input.podIsTerminal, appStarted);
  if (input.evicted) phase = 'Failed';
  // A pod never leaves a terminal phase.
  const prevPhase = input.previous?.phase;
  if (prevPhase === 'Succeeded' || prevPhase === 'Failed') phase = prevPhase;

  const status: V1PodStatus = {
    phase,
    conditions: podConditions(input, cs, phase, appStarted),
    hostIP: input.hostIPs[0],
    hostIPs: input.hostIPs.map((ip) => ({ ip })),
    startTime: podStartTime(input),
    qosClass: input.qosClass,
    containerStatuses: appStatuses,
  };
  if (input.podIPs.length) {
    status.podIP = input.podIPs[0];
    status.podIPs = input.podIPs.map((ip) => ({ ip }));
  }
  if (hasInit) status.initContainerStatuses = initStatuses;
  if (input.evicted && phase === 'Failed') {
    status.reason = input.evicted.reason;
    status.message = input.evicted.message;
  }
  if (ephemeralStatuses.length) status.ephemeralContainerStatuses = ephemeralStatuses;
  return status;
}

interface PodContainerStatuses {
  inits: V1Container[];
  initStatuses: V1ContainerStatus[];
  appStatuses: V1ContainerStatus[];
  ephemeralStatuses: V1ContainerStatus[];
}

/** The status of every init, app and ephemeral container, from its runtime containers (newest first). */
function allContainerStatuses(input: StatusInput): PodContainerStatuses {
  const { pod, runtime } = input;
  const byName = new Map<string, RuntimeContainer[]>();
  for (const c of runtime.containers) {
    if (!byName.has(c.name)) byName.set(c.name, []);
    byName.get(c.name)!.push(c); // already newest first
  }
  const inits = pod.spec?.initContainers ?? [];
  const hasInit = inits.length > 0;
  const initStatuses = inits.map((c) => containerStatus(c, byName.get(c.name) ?? [], input, 'PodInitializing'));
  const appStatuses = (pod.spec?.containers ?? []).map((c) =>
    containerStatus(c, byName.get(c.name) ?? [], input, hasInit ? 'PodInitializing' : 'ContainerCreating'),
  );
  // Ephemeral containers (kubectl debug) are reported as any container, but the prober never
  // looks at them (never ready, no started) and they count for neither phase nor readiness, as in
  // kubelet's generateAPIPodStatus.
  const ephemeralStatuses = (pod.spec?.ephemeralContainers ?? []).map((c) => {
    const s = containerStatus(
      c as V1Container,
      byName.get(c.name) ?? [],
      input,
      hasInit ? 'PodInitializing' : 'ContainerCreating',
    );
    s.ready = false;
    delete s.started;
    return s;
  });
  if (input.podIsTerminal)
    for (const s of [...initStatuses, ...appStatuses, ...ephemeralStatuses]) terminalContainerState(s);
  // An init container is ready once it completed (exit 0), and not while it runs, as kubelet's
  // prober manager decides in UpdatePodStatus (pkg/kubelet/prober/prober_manager.go); sidecars
  // (restartPolicy Always) are not run to completion, so the rule is not theirs: their started and
  // ready come from their probes, as an app container's.
  // A running regular init container is started: it can have no startup probe, and the prober
  // manager reports started for a container without one.
  inits.forEach((c, i) => {
    const s = initStatuses[i]!;
    if (isSidecar(c)) return;
    s.ready = s.state?.terminated?.exitCode === 0;
    if (s.state?.running) s.started = true;
  });
  return { inits, initStatuses, appStatuses, ephemeralStatuses };
}

/** PodReadyToStartContainers, Initialized, Ready, ContainersReady, PodScheduled and, when evicted, DisruptionTarget. */
function podConditions(
  input: StatusInput,
  cs: PodContainerStatuses,
  phase: string,
  appStarted: boolean,
): V1PodCondition[] {
  const { inits, initStatuses, appStatuses } = cs;
  const hasInit = inits.length > 0;
  // A sidecar is initialised once started; a regular init container once it completed
  // (pkg/kubelet/status/generate.go, GeneratePodInitializedCondition).
  const initIncomplete = inits.filter((c, i) =>
    isSidecar(c) ? !initStatuses[i]!.started : initStatuses[i]!.state?.terminated?.exitCode !== 0,
  );
  const initialized = !hasInit || initIncomplete.length === 0 || appStarted;
  // ContainersReady (and so Ready) counts the sidecars' readiness too, listed first, as
  // GenerateContainersReadyCondition.
  const unready = [
    ...initStatuses.filter((s, i) => isSidecar(inits[i]) && !s.ready),
    ...appStatuses.filter((s) => !s.ready),
  ].map((s) => s.name);
  const done = phase === 'Succeeded' || phase === 'Failed';
  const readyReason = done ? 'PodCompleted' : 'ContainersNotReady';
  const readyMessage = done ? undefined : `containers with unready status: [${unready.join(' ')}]`;

  const conditions: V1PodCondition[] = [
    condition('PodReadyToStartContainers', input.sandboxReady, input),
    condition(
      'Initialized',
      initialized,
      input,
      initialized ? (done && hasInit ? 'PodCompleted' : undefined) : 'ContainersNotInitialized',
      initialized ? undefined : `containers with incomplete status: [${initIncomplete.map((c) => c.name).join(' ')}]`,
    ),
    condition(
      'Ready',
      unready.length === 0 && !done,
      input,
      unready.length === 0 && !done ? undefined : readyReason,
      unready.length === 0 && !done ? undefined : readyMessage,
    ),
    condition(
      'ContainersReady',
      unready.length === 0 && !done,
      input,
      unready.length === 0 && !done ? undefined : readyReason,
      unready.length === 0 && !done ? undefined : readyMessage,
    ),
    condition('PodScheduled', true, input),
  ];
  // The eviction manager's DisruptionTarget (reason TerminationByKubelet), as 1.34 kubelet adds it.
  const disruption = input.evicted?.condition;
  if (disruption) {
    const prev = input.previous?.conditions?.find((c) => c.type === disruption.type);
    conditions.push({
      ...disruption,
      lastTransitionTime: prev?.status === disruption.status ? prev.lastTransitionTime : input.now,
    });
  }
  return conditions;
}

/** The earlier start time if there is one; else the first sighting or the oldest sandbox, whichever is first. */
function podStartTime(input: StatusInput): Date {
  const startTimes = input.runtime.sandboxes.map((s) => s.createdAt.getTime());
  const prevStart = input.previous?.startTime ? new Date(input.previous.startTime).getTime() : undefined;
  return new Date(prevStart ?? Math.min(input.firstSeen.getTime(), ...startTimes));
}
