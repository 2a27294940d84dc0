// One worker per pod: it serialises everything done to that pod (syncs, probe reactions,
// termination), so two decisions about the same pod never race, while different pods proceed in
// parallel. Like kubelet's podWorkers: a sync is requested by a desired-state change, a container
// event, a probe result, a back-off expiring, or the periodic resync.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/pod_workers.go
import { performance } from 'node:perf_hooks';
import type { V1Container, V1EphemeralContainer, V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import { dockerProbeTarget, type ProbeChange } from '../contracts.js';
import { generatePodStatus } from '../status/status.js';
import { VolumeError, VolumeManager } from '../volumes/volume-manager.js';
import { podFingerprint, type PodRuntimeStatus } from '../runtime/types.js';
import { computePodActions, isRestartableInitContainer } from './actions.js';
import type { PodContext } from './context.js';
import { killAllContainers, killContainer, startContainer } from './containers.js';
import type { PodState } from './pod-state.js';
import { getPodQOS } from '../podspec/qos.js';
import { createSandbox, sandboxNetwork, stopSandboxes } from './sandbox.js';
import { activeDeadlineRemainingMs, DEADLINE_EXCEEDED } from './active-deadline.js';
import type { Semaphore } from './semaphore.js';
import { podRef } from '../events/types.js';
import { faultPoint } from '../../lib/faultpoints.js';
import { addResizeStatus } from '../status/resize-status.js';
import { actuateResize, prepareResize } from './resize-apply.js';

export class PodWorker {
  readonly state: PodState;
  private running = false;
  private pending = false;
  private timer?: NodeJS.Timeout;
  private nextDelayMs: number;
  private terminateRequested = false;
  private terminatedResolve?: (final: V1PodStatus | undefined) => void;
  /** Resolves once the pod is terminated and cleaned up, with its final status (undefined for an orphan). */
  readonly terminated: Promise<V1PodStatus | undefined>;
  private isTerminated = false;
  private stopped = false;
  private lastRuntime?: PodRuntimeStatus;
  private startObserved = false;
  private previousStatus?: V1PodStatus;
  /** After a failed step, container events do not trigger syncs before this time (no hot loop). */
  private notBefore = 0;
  private failed = false;
  /** The runtime state the last sync ended with (the relist compares against it). */
  fingerprint = '';
  private lastSandboxError?: string;
  private lastVolumeError?: string;

  constructor(pod: V1Pod, private readonly ctx: PodContext, private readonly slots: Semaphore, orphan = false) {
    const uid = pod.metadata!.uid!;
    this.state = {
      uid, pod, orphan,
      waiting: new Map(), killed: new Map(), probeFailures: new Map(), probed: new Map(), terminationMessages: new Map(),
      podIPs: [], sandboxReady: false, firstSeen: new Date(),
      log: ctx.logger.with({ pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`, uid }),
    };
    this.nextDelayMs = ctx.syncFrequencyMs;
    this.terminated = new Promise((r) => (this.terminatedResolve = r));
  }

  get uid(): string {
    return this.state.uid;
  }

  get terminating(): boolean {
    return this.terminateRequested;
  }

  /** The desired pod changed (same UID): sync to it. */
  update(pod: V1Pod): void {
    if (this.terminateRequested) return;
    this.state.pod = pod;
    this.requestSync();
  }

  /** `event`: a container event or relist noticed a change; held back while a failed step waits to be retried. */
  requestSync(kind: 'event' | 'force' = 'force'): void {
    if (this.stopped || this.isTerminated) return;
    if (kind === 'event' && Date.now() < this.notBefore) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    void this.loop();
  }

  /** Stop the pod (preStop, SIGTERM, SIGKILL, sandbox, CNI DEL) and remove everything it had. */
  terminate(): Promise<V1PodStatus | undefined> {
    if (!this.terminateRequested) {
      this.terminateRequested = true;
      this.state.log.info('pod removed from the desired set: terminating');
      this.requestSync();
    }
    return this.terminated;
  }

  /** Stop working on the pod without touching its containers (agent shutdown: pods keep running). */
  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  private async loop(): Promise<void> {
    this.running = true;
    if (this.timer) clearTimeout(this.timer);
    try {
      do {
        this.pending = false;
        await this.slots.run(() => (this.terminateRequested ? this.doTerminate() : this.sync()));
      } while (this.pending && !this.stopped && !this.isTerminated);
    } finally {
      this.running = false;
    }
    if (!this.stopped && !this.isTerminated) {
      this.timer = setTimeout(() => this.requestSync(), this.nextDelayMs);
      this.timer.unref();
    }
  }

  private async sync(): Promise<void> {
    const t0 = performance.now();
    const { ctx, state } = this;
    const pod = state.pod;
    this.nextDelayMs = ctx.syncFrequencyMs;
    this.failed = false;
    try {
      const rt = await ctx.runtime.podStatus(state.uid, pod.metadata!.name, pod.metadata!.namespace);
      await this.observeNetwork(rt);
      // As kubelet: a new pod's first status (Pending, its containers waiting in ContainerCreating
      // or PodInitializing) is published before the sandbox and containers are made, so the API
      // shows what the node is doing while it does it. Only for a pod with nothing in the runtime:
      // an adopted pod's first status waits for the prober, so that it never flaps to unready.
      if (!this.lastRuntime && rt.containers.length === 0 && rt.sandboxes.length === 0) {
        this.lastRuntime = rt;
        this.publish();
      }
      this.forgetStaleProbeFailures(rt);
      if (state.evicted || this.pastActiveDeadline()) {
        await this.killEvicted(rt);
        return;
      }
      const resize = await prepareResize(ctx, state, rt);
      const actions = computePodActions(pod, rt, { failures: state.probeFailures, startupSucceeded: this.startedSidecars(rt) }, resize?.plan.restart);
      let changed = false;
      const hasRunning = rt.containers.some((c) => c.state === 'running') || rt.sandboxes.some((s) => s.state === 'ready');
      if (actions.killPod) {
        if (hasRunning) state.log.info('killing pod', { reason: actions.reason });
        await killAllContainers(ctx, state, rt, `pod is being killed: ${actions.reason}`);
        await stopSandboxes(ctx, state, rt);
        changed = hasRunning;
      } else if (actions.containersToKill.length) {
        await Promise.all(actions.containersToKill.map((k) => {
          const c = rt.containers.find((x) => x.id === k.id)!;
          return killContainer(ctx, state, c, k.message, k.reason);
        }));
        changed = true;
      }
      // kubelet's SyncPod step 7: resize running containers in place (before restarted ones start),
      // then sync again to see the result (kubelet's SetPodWatchCondition).
      if (resize && !actions.killPod && (await actuateResize(ctx, state, resize))) {
        changed = true;
        this.pending = true;
      }
      let sandboxId = actions.sandboxId;
      // Ephemeral containers first, as kubelet's SyncPod step 5: a debugger may be needed precisely
      // when an init container cannot start.
      // Then init containers (the next one, and sidecars to restart) in spec order, then app
      // containers, as SyncPod's steps 6 and 7.
      const starts: { c: V1Container; isInit: boolean; ephemeral?: V1EphemeralContainer }[] = [
        ...actions.ephemeralContainersToStart.map((i) => ({ c: pod.spec!.ephemeralContainers![i]! as V1Container, isInit: false, ephemeral: pod.spec!.ephemeralContainers![i]! })),
        ...actions.initContainersToStart.map((i) => ({ c: pod.spec!.initContainers![i]!, isInit: true })),
        ...actions.containersToStart.map((i) => ({ c: pod.spec!.containers[i]!, isInit: false })),
      ];
      // Volumes first, as kubelet waits for them: a pod whose mount fails gets no sandbox (and no IP).
      const volumesReady = starts.length || actions.createSandbox ? await this.ensureVolumes() : actions.killPod || (await this.refreshVolumes());
      if (actions.createSandbox && volumesReady) {
        state.log.info('creating pod sandbox', { attempt: actions.attempt, reason: actions.reason });
        if (actions.sandboxId) ctx.recorder.event(podRef(pod), 'Normal', 'SandboxChanged', 'Pod sandbox changed, it will be killed and re-created.', { repeatAfterMs: 10_000 });
        try {
          sandboxId = await createSandbox(ctx, state, actions.attempt);
          this.lastSandboxError = undefined;
          changed = true;
          for (const [name, w] of state.waiting) if (w.reason === 'ContainerCreating') state.waiting.delete(name);
        } catch (e) {
          const message = (e as Error).message;
          if (message !== this.lastSandboxError) state.log.warn('pod sandbox not created', { error: message });
          ctx.recorder.event(podRef(pod), 'Warning', 'FailedCreatePodSandBox', `Failed to create pod sandbox: ${message.replace(/^failed to create pod sandbox: /, '')}`, { repeatAfterMs: 10_000 });
          this.lastSandboxError = message;
          this.waitAll('ContainerCreating', message);
          this.nextDelayMs = 2000;
          this.failed = true;
          sandboxId = undefined;
        }
      } else if (actions.createSandbox) {
        sandboxId = undefined;
      }
      if (sandboxId && starts.length && volumesReady) {
        for (const { c, isInit, ephemeral } of starts) {
          const retry = await startContainer(ctx, state, rt, c, isInit, sandboxId, ephemeral);
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
            if (isInit && isRestartableInitContainer(c)) this.pending = true;
          }
        }
      }
      const after = changed ? await ctx.runtime.podStatus(state.uid, pod.metadata!.name, pod.metadata!.namespace) : rt;
      if (changed) await this.observeNetwork(after);
      this.lastRuntime = after;
      this.fingerprint = podFingerprint(after);
      this.registerProbes(after);
      await this.readTerminationMessages(after);
      this.publish();
      this.syncAtActiveDeadline();
    } catch (e) {
      state.log.error('pod sync failed', { error: (e as Error).message });
      this.nextDelayMs = 2000;
      this.failed = true;
    } finally {
      this.notBefore = this.failed ? Date.now() + this.nextDelayMs : 0;
      ctx.metrics.podWorkerDuration.observe((performance.now() - t0) / 1000);
    }
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
      state.log.info('pod is past its active deadline: killing it', { activeDeadlineSeconds: state.pod.spec?.activeDeadlineSeconds, startTime: this.previousStatus?.startTime });
      ctx.recorder.event(podRef(state.pod), 'Normal', state.evicted.reason, state.evicted.message);
    }
    const hasRunning = rt.containers.some((c) => c.state === 'running') || rt.sandboxes.some((s) => s.state === 'ready');
    await killAllContainers(ctx, state, rt, state.evicted.message, state.evicted.gracePeriodSeconds);
    await stopSandboxes(ctx, state, rt);
    const after = hasRunning ? await ctx.runtime.podStatus(state.uid, state.pod.metadata!.name, state.pod.metadata!.namespace) : rt;
    if (state.evicted.reason === 'Evicted' && !after.containers.some((c) => c.state === 'running')) await ctx.volumes.removeEmptyDirs(state.pod);
    this.lastRuntime = after;
    this.fingerprint = podFingerprint(after);
    this.registerProbes(after);
    await this.readTerminationMessages(after);
    this.publish();
  }

  /**
   * The eviction manager's kill: every container stopped with the given grace period and the
   * pod failed with reason Evicted (kubelet's killPodFunc with its status function). False when
   * the pod is already terminating or failed.
   */
  evict(message: string, condition: V1PodCondition, gracePeriodSeconds: number): boolean {
    if (this.terminateRequested || this.isTerminated || this.state.evicted || this.state.orphan) return false;
    this.state.evicted = { reason: 'Evicted', message, condition, gracePeriodSeconds };
    this.state.log.info('evicting pod', { message, gracePeriod: gracePeriodSeconds });
    this.requestSync();
    return true;
  }

  private waitAll(reason: string, message: string): void {
    for (const c of [...(this.state.pod.spec?.initContainers ?? []), ...(this.state.pod.spec?.containers ?? [])]) {
      const w = this.state.waiting.get(c.name);
      if (!w || w.reason === 'ContainerCreating') this.state.waiting.set(c.name, { reason, message });
    }
  }

  private async ensureVolumes(): Promise<boolean> {
    try {
      this.state.volumes = await this.ctx.volumes.setUp(this.state.pod, { objects: this.ctx.objects, capacity: this.ctx.allocatable });
      this.lastVolumeError = undefined;
      for (const [name, w] of this.state.waiting) if (w.reason === 'ContainerCreating') this.state.waiting.delete(name);
      return true;
    } catch (e) {
      const message = e instanceof VolumeError ? e.message : `MountVolume.SetUp failed: ${(e as Error).message}`;
      if (message !== this.lastVolumeError) this.state.log.warn('volume setup failed', { error: message });
      // At once when the message changes; the same one again every 30 s (kubelet repeats it as it retries).
      this.ctx.recorder.event(podRef(this.state.pod), 'Warning', 'FailedMount', message, { repeatAfterMs: 30_000 });
      this.lastVolumeError = message;
      this.waitAll('ContainerCreating', message);
      this.nextDelayMs = 2000;
      this.failed = true;
      return false;
    }
  }

  /**
   * Every sync of a running pod rewrites its configMap, secret, downwardAPI and projected volumes
   * when their sources changed (kubelet's periodic remount), so an edited ConfigMap appears in the
   * running containers within about --sync-frequency plus the objects cache TTL. A failure is
   * only logged (by the volume manager): running containers keep the files they have.
   */
  private async refreshVolumes(): Promise<true> {
    if (!VolumeManager.hasApiDataVolumes(this.state.pod)) return true;
    try {
      this.state.volumes = await this.ctx.volumes.setUp(this.state.pod, { objects: this.ctx.objects, capacity: this.ctx.allocatable });
    } catch (e) {
      this.state.log.debug('volume refresh failed', { error: (e as Error).message });
    }
    return true;
  }

  /** The pod IPs, and whether the sandbox's network is set up (computePodActions replaces it if not). */
  private async observeNetwork(rt: PodRuntimeStatus): Promise<void> {
    const latest = rt.sandboxes[0];
    const net = await sandboxNetwork(this.ctx, latest);
    if (latest && net.problem) latest.networkProblem = net.problem;
    this.state.podIPs = net.ips;
    this.state.sandboxReady = latest?.state === 'ready' && net.ips.length > 0;
  }

  private forgetStaleProbeFailures(rt: PodRuntimeStatus): void {
    for (const [name, f] of this.state.probeFailures) {
      if (!rt.containers.some((c) => c.id === f.containerId && c.state === 'running')) this.state.probeFailures.delete(name);
    }
    const ids = new Set(rt.containers.map((c) => c.id));
    for (const id of this.state.killed.keys()) if (!ids.has(id)) this.state.killed.delete(id);
  }

  /**
   * The running sidecar instances whose startupProbe has succeeded: the next init container waits
   * for them (kubelet reads its startupManager). The prober's answer is for the instance it probes.
   */
  private startedSidecars(rt: PodRuntimeStatus): Set<string> {
    const out = new Set<string>();
    for (const c of this.state.pod.spec?.initContainers ?? []) {
      if (!isRestartableInitContainer(c) || !c.startupProbe) continue;
      const latest = rt.containers.find((x) => x.name === c.name && x.state === 'running');
      if (latest && this.state.probed.get(c.name) === latest.id && this.ctx.prober.isStarted(this.state.uid, c.name)) out.add(latest.id);
    }
    return out;
  }

  /**
   * Every running app container instance, and every running sidecar (whose probes run as an app
   * container's, as kubelet's prober manager adds workers for restartable init containers), is
   * handed to the prober once; ended ones are withdrawn.
   */
  private registerProbes(rt: PodRuntimeStatus): void {
    if (this.state.orphan) return;
    const { state, ctx } = this;
    const sidecars = (state.pod.spec?.initContainers ?? []).filter(isRestartableInitContainer);
    for (const c of [...sidecars, ...(state.pod.spec?.containers ?? [])]) {
      const latest = rt.containers.find((x) => x.name === c.name);
      const running = latest?.state === 'running' ? latest : undefined;
      const registered = state.probed.get(c.name);
      if (running && registered !== running.id) {
        ctx.prober.addContainer(state.uid, dockerProbeTarget({
          exec: (id, cmd, timeoutMs) => ctx.runtime.exec(id, cmd, timeoutMs),
          pod: state.pod,
          podIP: () => state.podIPs[0],
          container: c,
          containerId: running.id,
          startedAt: running.startedAt,
        }));
        state.probed.set(c.name, running.id);
      } else if (!running && registered) {
        ctx.prober.removeContainer(state.uid, c.name);
        state.probed.delete(c.name);
      }
    }
  }

  private async readTerminationMessages(rt: PodRuntimeStatus): Promise<void> {
    const { state, ctx } = this;
    for (const c of rt.containers) {
      if (c.state !== 'exited' || state.terminationMessages.has(c.id)) continue;
      let msg = await ctx.volumes.readTerminationMessage(state.uid, c.name, c.attempt);
      const spec = [...(state.pod.spec?.containers ?? []), ...(state.pod.spec?.initContainers ?? [])].find((x) => x.name === c.name);
      if (!msg && spec?.terminationMessagePolicy === 'FallbackToLogsOnError' && c.exitCode !== 0) {
        // The tail of the log, at most 80 lines and 2 KiB, as kubelet.
        try {
          const s = await ctx.runtime.logs(c.id, { follow: false, tail: 80, timestamps: false });
          const chunks: Buffer[] = [];
          for await (const b of s) chunks.push(b as Buffer);
          const text = Buffer.concat(chunks).toString('utf8');
          msg = text.slice(-2048) || undefined;
        } catch { /* no log */ }
      }
      state.terminationMessages.set(c.id, msg ?? '');
    }
    const ids = new Set(rt.containers.map((c) => c.id));
    for (const id of state.terminationMessages.keys()) if (!ids.has(id)) state.terminationMessages.delete(id);
  }

  /** Compute and store the pod's status from the last runtime view and the prober's results. */
  publish(): void {
    const { state, ctx } = this;
    if (!this.lastRuntime || state.orphan || this.isTerminated) return;
    const messages = new Map([...state.terminationMessages].filter(([, m]) => m));
    const status = generatePodStatus({
      pod: state.pod,
      runtime: this.lastRuntime,
      waiting: state.waiting,
      killed: state.killed,
      terminationMessages: messages,
      isReady: (n) => ctx.prober.isReady(state.uid, n),
      isStarted: (n) => ctx.prober.isStarted(state.uid, n),
      podIPs: state.podIPs,
      hostIPs: ctx.hostIPs,
      sandboxReady: state.sandboxReady,
      qosClass: getPodQOS(state.pod),
      previous: this.previousStatus,
      now: new Date(),
      firstSeen: state.firstSeen,
      // Terminal once its containers are stopped (until then they show as they are).
      ...(state.evicted ? { evicted: state.evicted, podIsTerminal: !this.lastRuntime.containers.some((c) => c.state === 'running') } : {}),
    });
    addResizeStatus(status, { pod: state.pod, runtime: this.lastRuntime, resizeConditions: ctx.allocation?.conditions(state.uid) ?? [] });
    this.previousStatus = status;
    ctx.status.set(state.pod, status);
    if (!this.startObserved && (status.containerStatuses ?? []).every((c) => c.state?.running)) {
      this.startObserved = true;
      ctx.metrics.podStartDuration.observe((Date.now() - state.firstSeen.getTime()) / 1000);
    }
  }

  /**
   * The status a terminated pod ends with (kubelet's since 1.27): terminal phase, each container
   * terminated with its exit code and reason. Undefined for an orphan (no pod to report on).
   */
  private async finalStatus(): Promise<V1PodStatus | undefined> {
    const { ctx, state } = this;
    if (state.orphan) return undefined;
    const rt = await ctx.runtime.podStatus(state.uid, state.pod.metadata!.name, state.pod.metadata!.namespace);
    await this.readTerminationMessages(rt);
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
      previous: this.previousStatus,
      now: new Date(),
      firstSeen: state.firstSeen,
      podIsTerminal: true,
      evicted: state.evicted,
    });
    return addResizeStatus(status, { pod: state.pod, runtime: rt, resizeConditions: [], podIsTerminal: true });
  }

  /** A probe's result changed: readiness shows in the status at once; liveness/startup failure restarts. */
  onProbeChange(c: ProbeChange): void {
    if (this.terminateRequested || this.isTerminated || this.state.evicted) return;
    if (c.result === 'failure' && (c.type === 'liveness' || c.type === 'startup')) {
      this.state.log.info('probe failed; the container will be killed', { container: c.containerName, probe: c.type, message: c.message });
      this.state.probeFailures.set(c.containerName, { containerId: c.containerId, type: c.type, message: c.message });
      this.requestSync();
      return;
    }
    // A sidecar's startup probe passing lets the next init container start: sync, not just publish.
    if (c.result === 'success' && c.type === 'startup' && (this.state.pod.spec?.initContainers ?? []).some((x) => x.name === c.containerName && isRestartableInitContainer(x))) {
      this.requestSync();
      return;
    }
    this.publish();
  }

  private async doTerminate(): Promise<void> {
    const { ctx, state } = this;
    const pod = state.pod;
    try {
      const rt = await ctx.runtime.podStatus(state.uid, pod.metadata!.name, pod.metadata!.namespace);
      await killAllContainers(ctx, state, rt, 'pod removed');
      await faultPoint('before-sandbox-teardown');
      await stopSandboxes(ctx, state, rt);
      // The final status, from the runtime now that every container has stopped and before
      // anything is removed: exit codes and finish times are still there to read.
      const final = await this.finalStatus();
      // Nothing of a removed pod is left: its containers, sandboxes, cgroup and volumes go too.
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
      this.isTerminated = true;
      if (this.timer) clearTimeout(this.timer);
      this.terminatedResolve?.(final);
    } catch (e) {
      state.log.error('pod termination failed; retrying', { error: (e as Error).message });
      this.nextDelayMs = 2000;
    }
  }
}
