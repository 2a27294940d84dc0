// In-place pod resize, the acting part (kubelet's doPodResizeAction): the steps runtime/resize-plan.ts
// planned, written in order through the pod cgroup (runtime/cgroups.ts) and Docker's container
// update; the first failure stops the rest, and the next sync starts again from what the
// kernel then has. A memory limit that would go below what is in use is refused before anything
// is written, as 1.34 does (the resize stays in progress with reason Error, retried every sync).
import type { PodRuntimeStatus } from '../runtime/types.js';
import type { PodContext } from './context.js';
import type { PodState } from './pod-state.js';
import { getPodQOS } from '../podspec/qos.js';
import { memoryDecreaseError, planPodResize, resizeInProgress, type ResizePlan } from '../runtime/resize-plan.js';
import { errorMessage } from '../../lib/errors.js';

export interface PreparedResize {
  plan: ResizePlan;
  podCgroup: string;
}

/**
 * At the start of a sync (kubelet's SyncPod calls CheckPodResizeInProgress first): tell the
 * allocation manager whether the running containers are at their allocation, and plan the
 * resize if they are not. Undefined when there is nothing to resize.
 */
export async function prepareResize(
  ctx: PodContext,
  state: PodState,
  rt: PodRuntimeStatus,
): Promise<PreparedResize | undefined> {
  if (!ctx.allocation || state.orphan) return undefined;
  const inProgress = resizeInProgress(state.pod, rt);
  ctx.allocation.observeActuation(state.pod, inProgress);
  if (!inProgress) return undefined;
  const podCgroup = await ctx.cgroups.findPod(state.uid);
  if (!podCgroup) return undefined; // the pod's first containers are still to be made: made at their allocation
  const current = await ctx.cgroups.podConfig(podCgroup);
  return { plan: planPodResize(state.pod, getPodQOS(state.pod), rt, current), podCgroup };
}

/** The steps last written per pod: the same ones again at once would be a hot loop. */
const lastWritten = new WeakMap<PodState, string>();

/**
 * Write the planned steps; true when something new was written (the pod is synced again at once
 * to see it; steps that did not take are retried at the periodic sync, not in a loop).
 */
export async function actuateResize(ctx: PodContext, state: PodState, r: PreparedResize): Promise<boolean> {
  const { plan, podCgroup } = r;
  if (plan.steps.length === 0) return false;
  const key = JSON.stringify(plan.steps);
  const repeat = lastWritten.get(state) === key;
  lastWritten.set(state, key);
  const d = plan.memoryDecreases;
  if (d.pod !== undefined || d.containers.size > 0) {
    const containers = new Map<string, number | undefined>();
    for (const step of plan.steps) {
      if (step.kind === 'container' && d.containers.has(step.name))
        containers.set(step.name, (await ctx.cgroups.usage(`${podCgroup}/${step.id}`))?.memoryUsageBytes);
    }
    const error = memoryDecreaseError(d, { pod: (await ctx.cgroups.usage(podCgroup))?.memoryUsageBytes, containers });
    if (error) {
      state.log.warn('pod resize not actuated', { error });
      ctx.allocation!.resizeFailed(state.pod, error);
      return false;
    }
  }
  for (const step of plan.steps) {
    try {
      if (step.kind === 'pod') await ctx.cgroups.setPodConfig(podCgroup, step.set);
      else if (Object.keys(step.update).length) await ctx.runtime.updateResources(step.id, step.update);
    } catch (e) {
      const message = errorMessage(e);
      state.log.warn('pod resize step failed', {
        step: step.kind === 'pod' ? `pod ${step.resource}` : `${step.name} ${step.resource}`,
        error: message,
      });
      ctx.allocation!.resizeFailed(state.pod, message);
      return !repeat;
    }
  }
  state.log.info('pod resized in place', {
    steps: plan.steps.map((s) => (s.kind === 'pod' ? `pod:${s.resource}` : `${s.name}:${s.resource}`)),
  });
  return !repeat;
}
