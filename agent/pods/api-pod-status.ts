// The pod status a sync publishes, as kubelet's generateAPIPodStatus: built from the runtime's view,
// the agent's record of waiting and killed containers, and the prober's results (status/status.ts
// holds the rules); then the resize conditions (status/resize-status.ts).
import type { V1PodStatus } from '@kubernetes/client-node';
import { generatePodStatus } from '../status/status.js';
import { addResizeStatus } from '../status/resize-status.js';
import type { PodRuntimeStatus } from '../runtime/types.js';
import { getPodQOS } from '../podspec/qos.js';
import type { PodContext } from './context.js';
import type { PodState } from './pod-state.js';

/** The status of a pod being synced, from the last runtime view; `previous`: the one published before. */
export function syncedPodStatus(
  ctx: PodContext,
  state: PodState,
  runtime: PodRuntimeStatus,
  previous: V1PodStatus | undefined,
): V1PodStatus {
  const messages = new Map([...state.terminationMessages].filter(([, m]) => m));
  const status = generatePodStatus({
    pod: state.pod,
    runtime,
    waiting: state.waiting,
    killed: state.killed,
    terminationMessages: messages,
    isReady: (n) => ctx.prober.isReady(state.uid, n),
    isStarted: (n) => ctx.prober.isStarted(state.uid, n),
    podIPs: state.podIPs,
    hostIPs: ctx.hostIPs,
    sandboxReady: state.sandboxReady,
    qosClass: getPodQOS(state.pod),
    previous,
    now: new Date(),
    firstSeen: state.firstSeen,
    // Terminal once its containers are stopped (until then they show as they are).
    ...(state.evicted
      ? { evicted: state.evicted, podIsTerminal: !runtime.containers.some((c) => c.state === 'running') }
      : {}),
  });
  addResizeStatus(status, {
    pod: state.pod,
    runtime,
    resizeConditions: ctx.allocation?.conditions(state.uid) ?? [],
  });
  return status;
}

/**
 * The status a terminated pod ends with (kubelet's since 1.27): terminal phase, each container
 * terminated with its exit code and reason, read from `rt` once every container has stopped.
 */
export function finalPodStatus(
  ctx: PodContext,
  state: PodState,
  rt: PodRuntimeStatus,
  previous: V1PodStatus | undefined,
): V1PodStatus {
  const status = generatePodStatus({
    pod: state.pod,
    runtime: rt,
    waiting: new Map(),
    killed: new Map(),
    terminationMessages: new Map([...state.terminationMessages].filter(([, m]) => m)),
    isReady: () => false,
    isStarted: () => false,
    podIPs: state.podIPs,
    hostIPs: ctx.hostIPs,
    sandboxReady: false,
    qosClass: getPodQOS(state.pod),
    previous,
    now: new Date(),
    firstSeen: state.firstSeen,
    podIsTerminal: true,
    evicted: state.evicted,
  });
  return addResizeStatus(status, { pod: state.pod, runtime: rt, resizeConditions: [], podIsTerminal: true });
}
