// What one sync of a pod does, as kubelet's SyncPod (kubelet.go, then kuberuntime_manager.go's
// steps), syncTerminatingPod and syncTerminatedPod. The pod worker (pod-worker.ts) decides when
// to call them and serialises them; a PodSyncer remembers, from one sync to the next, what the
// runtime showed, the status it published and the errors it already reported.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kubelet.go
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/kuberuntime_manager.go
import { performance } from 'node:perf_hooks';
import type { V1Container, V1EphemeralContainer, V1PodSpec, V1PodStatus } from '@kubernetes/client-node';
import { podFingerprint, type PodRuntimeStatus } from '../runtime/types.js';
import { computePodActions } from './actions.js';
import type { PodActions } from './action-types.js';
import { isRestartableInitContainer } from './init-container-actions.js';
import type { PodContext } from './context.js';
import { startContainer } from './containers.js';
import { killAllContainers, killContainer } from './kill-container.js';
import type { PodState } from './pod-state.js';
import { createSandbox, stopSandboxes } from './sandbox.js';
import { activeDeadlineRemainingMs, DEADLINE_EXCEEDED } from './active-deadline.js';
import { podRef } from '../events/types.js';
import { faultPoint } from '../../lib/faultpoints.js';
import { finalPodStatus, syncedPodStatus } from './api-pod-status.js';
import { actuateResize, prepareResize } from './resize-apply.js';
import { refreshVolumes, setUpVolumes, waitAll } from './sync-volumes.js';
import {
  forgetStaleProbeFailures,
  observeNetwork,
  readTerminationMessages,
  registerProbes,
  startedSidecars,
} from './runtime-view.js';
import { errorMessage } from '../../lib/errors.js';

/** A container to start, in the order SyncPod starts them. */
interface ContainerStart {
  c: V1Container;
  isInit: boolean;
  ephemeral?: V1EphemeralContainer;
}

export class PodSyncer {
  /** When the worker syncs next (the periodic resync, sooner after a failed step or for a deadline). */
  nextDelayMs: number;
  /** A step of the last sync failed: container events are held back until nextDelayMs passed. */
  failed = false;
  /** The last sync wants another one at once (a resize to observe, a sidecar that started). */
  syncAgain = false;
  /** The runtime state the last sync ended with (the relist compares against it). */
  fingerprint = '';
  private lastRuntime?: PodRuntimeStatus;
  private previousStatus?: V1PodStatus;
  private startObserved = false;
  private lastSandboxError?: string;
  private lastVolumeError?: string;

  constructor(
    private readonly ctx: PodContext,
    private readonly state: PodState,
  ) {
    this.nextDelayMs = ctx.syncFrequencyMs;
  }

  /** kubelet's SyncPod: one pass from what runs towards the pod's spec, ending with its status. */
  async syncPod(): Promise<void> {
    const t0 = performance.now();
    const { ctx, state } = this;
    const pod = state.pod;
    this.nextDelayMs = ctx.syncFrequencyMs;
    this.failed = false;
    this.syncAgain = false;
    try {
      // Step 1: what the runtime runs for the pod, and its network.
      const rt = await ctx.runtime.podStatus(state.uid, pod.metadata!.name, pod.metadata!.namespace);
      await observeNetwork(ctx, state, rt);
      // Step 2: as kubelet, a new pod's first status (Pending, its containers waiting in
      // ContainerCreating or PodInitializing) is published before the sandbox and containers are
      // made, so the API shows what the node is doing while it does it. Only for a pod with
      // nothing in the runtime: an adopted pod's first status waits for the prober, so that it
      // never flaps to unready.
      if (!this.lastRuntime && rt.containers.length === 0 && rt.sandboxes.length === 0) {
        this.lastRuntime = rt;
        this.publish();
      }
      forgetStaleProbeFailures(state, rt);
      // Step 3: a pod the agent failed (evicted, past its active deadline) is only killed.
      if (state.evicted || this.pastActiveDeadline()) {
        await this.killEvicted(rt);
        return;
      }
      // Step 4: compute the sandbox and container changes (kuberuntime's step 1).
      const resize = await prepareResize(ctx, state, rt);
      const actions = computePodActions(
        pod,
        rt,
        { failures: state.probeFailures, startupSucceeded: startedSidecars(ctx, state, rt) },
        resize?.plan.restart,
      );
      // Step 5: kill the pod, or the containers not to keep (kuberuntime's steps 2 and 3).
      let changed = await this.killStep(actions, rt);
      // Step 6: resize running containers in place (kuberuntime's step 7), before restarted ones
      // start, then sync again to see the result (kubelet's SetPodWatchCondition).
      if (resize && !actions.killPod && (await actuateResize(ctx, state, resize))) {
        changed = true;
        this.syncAgain = true;
      }
      const starts = containersToStart(actions, pod.spec!);
      // Step 7: volumes first, as kubelet waits for them: a pod whose mount fails gets no sandbox (and no IP).
      const volumesReady =
        starts.length || actions.createSandbox
          ? await this.ensureVolumes()
          : actions.killPod || (await refreshVolumes(ctx, state));
      // Step 8: create the sandbox if necessary (kuberuntime's step 4).
      const sandbox = await this.sandboxStep(actions, volumesReady);
      if (sandbox.created) changed = true;
      // Step 9: start ephemeral, init and app containers (kuberuntime's steps 5, 6 and 8).
      if (sandbox.id && starts.length && volumesReady && (await this.startStep(starts, rt, sandbox.id))) changed = true;
      // Step 10: read the runtime again if anything changed, and publish the status.
      const after = changed ? await ctx.runtime.podStatus(state.uid, pod.metadata!.name, pod.metadata!.namespace) : rt;
      if (changed) await observeNetwork(ctx, state, after);
      await this.record(after);
      this.syncAtActiveDeadline();
    } catch (e) {
      state.log.error('pod sync failed', { error: errorMessage(e) });
      this.nextDelayMs = 2000;
      this.failed = true;
    } finally {
      ctx.metrics.podWorkerDuration.observe((performance.now() - t0) / 1000);
    }
  }

  /** Kills what computePodActions says to kill; true if anything changed in the runtime. */
  private async killStep(actions: PodActions, rt: PodRuntimeStatus): Promise<boolean> {
    const { ctx, state } = this;
    const hasRunning =
      rt.containers.some((c) => c.state === 'running') || rt.sandboxes.some((s) => s.state === 'ready');
    if (actions.killPod) {
      if (hasRunning) state.log.info('killing pod', { reason: actions.reason });
      await killAllContainers(ctx, state, rt, `pod is being killed: ${actions.reason}`);
      await stopSandboxes(ctx, state, rt);
      return hasRunning;
    }
    if (actions.containersToKill.length) {
      await Promise.all(
        actions.containersToKill.map((k) => {
          const c = rt.containers.find((x) => x.id === k.id)!;
          return killContainer(ctx, state, c, k.message, k.reason);
        }),
      );
      return true;
    }
    return false;
  }

  /** The sandbox the containers start in: the one kept, a new one, or none (not creatable now). */
  private async sandboxStep(actions: PodActions, volumesReady: boolean): Promise<{ id?: string; created: boolean }> {
    const { ctx, state } = this;
    if (!actions.createSandbox) return { id: actions.sandboxId, created: false };
    if (!volumesReady) return { id: undefined, created: false };
    state.log.info('creating pod sandbox', { attempt: actions.attempt, reason: actions.reason });
    if (actions.sandboxId)
      ctx.recorder.event(
        podRef(state.pod),
        'Normal',
        'SandboxChanged',
        'Pod sandbox changed, it will be killed and re-created.',
        { repeatAfterMs: 10_000 },
      );
    try {
      const id = await createSandbox(ctx, state, actions.attempt);
      this.lastSandboxError = undefined;
      for (const [name, w] of state.waiting) if (w.reason === 'ContainerCreating') state.waiting.delete(name);
      return { id, created: true };
    } catch (e) {
      const message = errorMessage(e);
      if (message !== this.lastSandboxError) state.log.warn('pod sandbox not created', { error: message });
      ctx.recorder.event(
        podRef(state.pod),
        'Warning',
        'FailedCreatePodSandBox',
        `Failed to create pod sandbox: ${message.replace(/^failed to create pod sandbox: /, '')}`,
        { repeatAfterMs: 10_000 },
      );
      this.lastSandboxError = message;
      waitAll(state, 'ContainerCreating', message);
      this.nextDelayMs = 2000;
      this.failed = true;
      return { id: undefined, created: false };
    }
  }

  /** Starts the containers in order; true if any started. */
  private async startStep(starts: ContainerStart[], rt: PodRuntimeStatus, sandboxId: string): Promise<boolean> {
    let changed = false;
    for (const { c, isInit, ephemeral } of starts) {
      const retry = await startContainer(this.ctx, this.state, rt, c, isInit, sandboxId, ephemeral);
      if (retry !== undefined) {
        this.nextDelayMs = Math.min(this.nextDelayMs, retry);
        this.failed = true;
        // As kubelet: a regular init container that cannot start stops the pod's start here;
        // a sidecar that cannot start (back-off) does not hold up the others.
        if (isInit && !isRestartableInitContainer(c)) break;
      } else {
        changed = true;
        // A sidecar does not exit to say it is done, so no container event would bring the
        // next sync: sync again now (kubelet's PLEG reports the start and the worker resyncs),
        // to start what waits for it (or, with a startupProbe, to wait for that probe).
        if (isInit && isRestartableInitContainer(c)) this.syncAgain = true;
      }
    }
    return changed;
  }

  /** The runtime state a sync ended with: remembered, handed to the prober, and published. */
  private async record(after: PodRuntimeStatus): Promise<void> {
    this.lastRuntime = after;
    this.fingerprint = podFingerprint(after);
    registerProbes(this.ctx, this.state, after);
    await readTerminationMessages(this.ctx, this.state, after);
    this.publish();
  }

  /** Has the pod been active longer than spec.activeDeadlineSeconds (kubelet's pastActiveDeadline)? */
  private pastActiveDeadline(): boolean {
    const phase = this.previousStatus?.phase;
    if (phase === 'Succeeded' || phase === 'Failed') return false; // a terminal phase stays
    const left = activeDeadlineRemainingMs(this.state.pod, this.previousStatus?.startTime, Date.now());
    return left !== undefined && left <= 0;
  }

  /** As kubelet's pod workers requeue a pod for its deadline: the next sync no later than it. */
  private syncAtActiveDeadline(): void {
    const left = activeDeadlineRemainingMs(this.state.pod, this.previousStatus?.startTime, Date.now());
    if (left !== undefined) this.nextDelayMs = Math.max(0, Math.min(this.nextDelayMs, left + 10));
  }

  /**
   * The pod is past its active deadline: every container and the sandbox are stopped and stay
   * stopped, and the phase is Failed with reason DeadlineExceeded, as kubelet (which then treats
   * the pod as terminal while it stays bound to the node).
   */
  private async killEvicted(rt: PodRuntimeStatus): Promise<void> {
    const { ctx, state } = this;
    if (!state.evicted) {
      state.evicted = { ...DEADLINE_EXCEEDED };
      state.log.info('pod is past its active deadline: killing it', {
        activeDeadlineSeconds: state.pod.spec?.activeDeadlineSeconds,
        startTime: this.previousStatus?.startTime,
      });
      ctx.recorder.event(podRef(state.pod), 'Normal', state.evicted.reason, state.evicted.message);
    }
    const hasRunning =
      rt.containers.some((c) => c.state === 'running') || rt.sandboxes.some((s) => s.state === 'ready');
    await killAllContainers(ctx, state, rt, state.evicted.message, state.evicted.gracePeriodSeconds);
    await stopSandboxes(ctx, state, rt);
    const after = hasRunning
      ? await ctx.runtime.podStatus(state.uid, state.pod.metadata!.name, state.pod.metadata!.namespace)
      : rt;
    if (state.evicted.reason === 'Evicted' && !after.containers.some((c) => c.state === 'running'))
      await ctx.volumes.removeEmptyDirs(state.pod);
    await this.record(after);
  }

  /** Volumes set up (true), or the step failed and the pod waits for the next try. */
  private async ensureVolumes(): Promise<boolean> {
    const error = await setUpVolumes(this.ctx, this.state, this.lastVolumeError);
    this.lastVolumeError = error;
    if (error === undefined) return true;
    this.nextDelayMs = 2000;
    this.failed = true;
    return false;
  }

  /** Compute and store the pod's status from the last runtime view and the prober's results. */
  publish(): void {
    const { state, ctx } = this;
    if (!this.lastRuntime || state.orphan) return;
    const status = syncedPodStatus(ctx, state, this.lastRuntime, this.previousStatus);
    this.previousStatus = status;
    ctx.status.set(state.pod, status);
    if (!this.startObserved && (status.containerStatuses ?? []).every((c) => c.state?.running)) {
      this.startObserved = true;
      ctx.metrics.podStartDuration.observe((Date.now() - state.firstSeen.getTime()) / 1000);
    }
  }

  /**
   * kubelet's syncTerminatingPod: every container stopped (preStop, SIGTERM, SIGKILL), then the
   * sandbox (CNI DEL). Resolves with the status the pod ends with.
   */
  async syncTerminatingPod(): Promise<V1PodStatus | undefined> {
    const { ctx, state } = this;
    const pod = state.pod;
    const rt = await ctx.runtime.podStatus(state.uid, pod.metadata!.name, pod.metadata!.namespace);
    await killAllContainers(ctx, state, rt, 'pod removed');
    await faultPoint('before-sandbox-teardown');
    await stopSandboxes(ctx, state, rt);
    // The final status, from the runtime now that every container has stopped and before
    // anything is removed: exit codes and finish times are still there to read.
    return this.finalStatus();
  }

  /** kubelet's syncTerminatedPod (and its cleanup): nothing of a removed pod is left, containers, sandboxes, cgroup and volumes. */
  async syncTerminatedPod(): Promise<void> {
    const { ctx, state } = this;
    const rest = await ctx.runtime.podStatus(state.uid);
    await Promise.all(rest.containers.map((c) => ctx.runtime.remove(c.id)));
    for (const s of rest.sandboxes) {
      await ctx.runtime.remove(s.id);
      await ctx.networkState.remove(s.id);
    }
    ctx.prober.removePod(state.uid);
    await ctx.cgroups.removePod(state.uid);
    await ctx.volumes.tearDown(state.uid);
    ctx.objects?.forgetPod(state.uid);
    ctx.backoff.resetPrefix(`${state.uid}/`);
    ctx.images.forgetPod(state.uid);
    ctx.status.delete(state.uid);
    state.log.info('pod terminated and cleaned up');
  }

  /**
   * The status a terminated pod ends with (kubelet's since 1.27): terminal phase, each container
   * terminated with its exit code and reason. Undefined for an orphan (no pod to report on).
   */
  private async finalStatus(): Promise<V1PodStatus | undefined> {
    const { ctx, state } = this;
    if (state.orphan) return undefined;
    const rt = await ctx.runtime.podStatus(state.uid, state.pod.metadata!.name, state.pod.metadata!.namespace);
    await readTerminationMessages(ctx, state, rt);
    return finalPodStatus(ctx, state, rt, this.previousStatus);
  }
}

/**
 * Ephemeral containers first, as kubelet's SyncPod step 5: a debugger may be needed precisely
 * when an init container cannot start. Then init containers (the next one, and sidecars to
 * restart) in spec order, then app containers, as SyncPod's steps 6 and 8.
 */
function containersToStart(actions: PodActions, spec: V1PodSpec): ContainerStart[] {
  return [
    ...actions.ephemeralContainersToStart.map((i) => ({
      c: spec.ephemeralContainers![i]! as V1Container,
      isInit: false,
      ephemeral: spec.ephemeralContainers![i]!,
    })),
    ...actions.initContainersToStart.map((i) => ({ c: spec.initContainers![i]!, isInit: true })),
    ...actions.containersToStart.map((i) => ({ c: spec.containers[i]!, isInit: false })),
  ];
}
