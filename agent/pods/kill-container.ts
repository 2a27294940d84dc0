// Killing a pod's containers, as kubelet's killContainer and killContainersWithSyncResult: the
// preStop hook within the grace period, then SIGTERM, then SIGKILL when the grace period runs
// out; sidecars after the app containers (termination-order.ts).
import type { V1LifecycleHandler } from '@kubernetes/client-node';
import { LABELS } from '../runtime/naming.js';
import type { PodRuntimeStatus, RuntimeContainer } from '../runtime/types.js';
import type { PodContext } from './context.js';
import { runHandler } from './lifecycle.js';
import { gracePeriodSeconds } from '../podspec/pod.js';
import type { PodState } from './pod-state.js';
import { podRef } from '../events/types.js';
import { killingMessage } from '../events/messages.js';
import { terminationPrerequisites } from './termination-order.js';
import { faultPoint } from '../../lib/faultpoints.js';
import { errorMessage } from '../../lib/errors.js';

/** kubelet's minimum time between SIGTERM and SIGKILL. */
const MIN_GRACE_SECONDS = 2;

function preStopOf(state: PodState, c: RuntimeContainer): V1LifecycleHandler | undefined {
  const spec = [...(state.pod.spec?.containers ?? []), ...(state.pod.spec?.initContainers ?? [])].find(
    (x) => x.name === c.name,
  );
  if (spec && !state.orphan) return spec.lifecycle?.preStop;
  const label = c.labels[LABELS.preStop];
  if (!label) return undefined;
  try {
    return JSON.parse(label) as V1LifecycleHandler;
  } catch {
    return undefined;
  }
}

/**
 * preStop hook (within the grace period), then stop: SIGTERM, SIGKILL after what is left of it.
 * `turn`: resolves when this container may be signalled (a sidecar waits for the app containers
 * and the later sidecars); waited for at most what is left of the grace period, as kubelet.
 */
export async function killContainer(
  ctx: PodContext,
  state: PodState,
  c: RuntimeContainer,
  message: string,
  reason?: string,
  graceOverride?: number,
  turn?: Promise<void>,
): Promise<void> {
  const grace = graceOverride ?? gracePeriodSeconds(state.pod, c.labels);
  state.killed.set(c.id, { reason, message });
  ctx.recorder.event(
    podRef(state.pod, { name: c.name, init: c.isInit }),
    'Normal',
    'Killing',
    killingMessage(c.name, message, reason),
  );
  if (state.probed.get(c.name) === c.id) {
    ctx.prober.removeContainer(state.uid, c.name);
    state.probed.delete(c.name);
  }
  const started = Date.now();
  const preStop = c.state === 'running' && grace > 0 ? preStopOf(state, c) : undefined; // kubelet: no hook without a grace period
  if (preStop) {
    const spec = [...(state.pod.spec?.containers ?? []), ...(state.pod.spec?.initContainers ?? [])].find(
      (x) => x.name === c.name,
    );
    try {
      const hook = runHandler(preStop, {
        runtime: ctx.runtime,
        containerId: c.id,
        container: spec,
        podIP: state.podIPs[0],
        timeoutMs: Math.max(1, grace) * 1000,
      });
      hook.catch(() => {}); // awaited below; a fault point's throw must not leave it unhandled
      await faultPoint('during-pre-stop');
      await hook;
      state.log.info('preStop hook done', { container: c.name, ms: Date.now() - started });
    } catch (e) {
      state.log.warn('preStop hook failed', { container: c.name, error: errorMessage(e) });
      ctx.recorder.event(podRef(state.pod, { name: c.name }), 'Warning', 'FailedPreStopHook', 'PreStopHook failed');
    }
  }
  const remainingMs = grace * 1000 - (Date.now() - started);
  if (turn && remainingMs > 0) {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([turn, new Promise<void>((r) => (timer = setTimeout(r, remainingMs)))]);
    clearTimeout(timer);
  }
  const left = Math.max(MIN_GRACE_SECONDS, grace - (Date.now() - started) / 1000);
  state.log.info('killing container', {
    container: c.name,
    id: c.id.slice(0, 12),
    gracePeriod: Math.round(left),
    reason: message,
  });
  await ctx.runtime.stop(c.id, left);
  ctx.metrics.runtimeOperations.inc({ operation_type: 'stop_container' });
}

/**
 * Kill every running container of the pod, in parallel (app and init), sidecars after the app
 * containers and in reverse order of definition (termination-order.ts).
 */
export async function killAllContainers(
  ctx: PodContext,
  state: PodState,
  rt: PodRuntimeStatus,
  message: string,
  graceOverride?: number,
): Promise<void> {
  const running = rt.containers.filter((c) => c.state === 'running');
  const prereqs = state.orphan
    ? new Map<string, string[]>()
    : terminationPrerequisites(state.pod, new Set(running.map((c) => c.name)));
  const stopped = new Map<string, Promise<void>>();
  const done = new Map<string, () => void>();
  for (const c of running) stopped.set(c.name, new Promise<void>((r) => done.set(c.name, r)));
  await Promise.all(
    running.map(async (c) => {
      const waitFor = prereqs
        .get(c.name)
        ?.map((n) => stopped.get(n)!)
        .filter(Boolean);
      try {
        await killContainer(
          ctx,
          state,
          c,
          message,
          undefined,
          graceOverride,
          waitFor?.length ? Promise.all(waitFor).then(() => undefined) : undefined,
        );
      } finally {
        done.get(c.name)?.();
      }
    }),
  );
}
