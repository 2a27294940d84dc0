// The volume step of a pod's sync (kubelet's WaitForAttachAndMount, then its periodic remount),
// and the waiting reason containers show while the pod cannot get past it or past its sandbox.
import { VolumeError, VolumeManager } from '../volumes/volume-manager.js';
import type { PodContext } from './context.js';
import type { PodState } from './pod-state.js';
import { podRef } from '../events/types.js';
import { errorMessage } from '../../lib/errors.js';

/** Every container not waiting for something else shows this reason (ContainerCreating, say). */
export function waitAll(state: PodState, reason: string, message: string): void {
  for (const c of [...(state.pod.spec?.initContainers ?? []), ...(state.pod.spec?.containers ?? [])]) {
    const w = state.waiting.get(c.name);
    if (!w || w.reason === 'ContainerCreating') state.waiting.set(c.name, { reason, message });
  }
}

/**
 * Sets up the pod's volumes before its sandbox and containers. Resolves with the error message
 * when that failed (logged when it differs from `lastError`, and as a FailedMount event), else
 * undefined.
 */
export async function setUpVolumes(
  ctx: PodContext,
  state: PodState,
  lastError: string | undefined,
): Promise<string | undefined> {
  try {
    state.volumes = await ctx.volumes.setUp(state.pod, { objects: ctx.objects, capacity: ctx.allocatable });
    for (const [name, w] of state.waiting) if (w.reason === 'ContainerCreating') state.waiting.delete(name);
    return undefined;
  } catch (e) {
    const message = e instanceof VolumeError ? e.message : `MountVolume.SetUp failed: ${errorMessage(e)}`;
    if (message !== lastError) state.log.warn('volume setup failed', { error: message });
    // At once when the message changes; the same one again every 30 s (kubelet repeats it as it retries).
    ctx.recorder.event(podRef(state.pod), 'Warning', 'FailedMount', message, { repeatAfterMs: 30_000 });
    waitAll(state, 'ContainerCreating', message);
    return message;
  }
}

/**
 * Every sync of a running pod rewrites its configMap, secret, downwardAPI and projected volumes
 * when their sources changed (kubelet's periodic remount), so an edited ConfigMap appears in the
 * running containers within about --sync-frequency plus the objects cache TTL. A failure is
 * only logged (by the volume manager): running containers keep the files they have.
 */
export async function refreshVolumes(ctx: PodContext, state: PodState): Promise<true> {
  if (!VolumeManager.hasApiDataVolumes(state.pod)) return true;
  try {
    state.volumes = await ctx.volumes.setUp(state.pod, { objects: ctx.objects, capacity: ctx.allocatable });
  } catch (e) {
    state.log.debug('volume refresh failed', { error: errorMessage(e) });
  }
  return true;
}
