// One worker per pod: it serialises everything done to that pod (syncs, probe reactions,
// termination), so two decisions about the same pod never race, while different pods proceed in
// parallel. Like kubelet's podWorkers: a sync is requested by a desired-state change, a container
// event, a probe result, a back-off expiring, or the periodic resync. What a sync does is
// sync-pod.ts's; the worker only decides when, and holds container events back after a failure.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/pod_workers.go
import type { V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { ProbeChange } from '../contracts.js';
import { isRestartableInitContainer } from './init-container-actions.js';
import type { PodContext } from './context.js';
import type { PodState } from './pod-state.js';
import type { Semaphore } from './semaphore.js';
import { PodSyncer } from './sync-pod.js';
import { errorMessage } from '../../lib/errors.js';

/**
 * Where the pod is in its life on this node, as kubelet's pod workers track it: synced towards its
 * spec, being stopped (it left the desired set), or stopped and cleaned up (the worker is done).
 */
export type PodWorkerPhase = 'syncing' | 'terminating' | 'terminated';

export class PodWorker {
  readonly state: PodState;
  private phase: PodWorkerPhase = 'syncing';
  private running = false;
  private pending = false;
  private timer?: NodeJS.Timeout;
  private terminatedResolve?: (final: V1PodStatus | undefined) => void;
  /** Resolves once the pod is terminated and cleaned up, with its final status (undefined for an orphan). */
  readonly terminated: Promise<V1PodStatus | undefined>;
  private stopped = false;
  /** After a failed step, container events do not trigger syncs before this time (no hot loop). */
  private notBefore = 0;
  private readonly syncer: PodSyncer;

  constructor(
    pod: V1Pod,
    ctx: PodContext,
    private readonly slots: Semaphore,
    orphan = false,
  ) {
    const uid = pod.metadata!.uid!;
    this.state = {
      uid,
      pod,
      orphan,
      waiting: new Map(),
      killed: new Map(),
      probeFailures: new Map(),
      probed: new Map(),
      terminationMessages: new Map(),
      podIPs: [],
      sandboxReady: false,
      firstSeen: new Date(),
      log: ctx.logger.with({ pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`, uid }),
    };
    this.syncer = new PodSyncer(ctx, this.state);
    this.terminated = new Promise((r) => (this.terminatedResolve = r));
  }

  get uid(): string {
    return this.state.uid;
  }

  /** Terminating or terminated: the pod left the desired set. */
  get terminating(): boolean {
    return this.phase !== 'syncing';
  }

  /** The runtime state the last sync ended with (the relist compares against it). */
  get fingerprint(): string {
    return this.syncer.fingerprint;
  }

  /** The desired pod changed (same UID): sync to it. */
  update(pod: V1Pod): void {
    if (this.phase !== 'syncing') return;
    this.state.pod = pod;
    this.requestSync();
  }

  /** `event`: a container event or relist noticed a change; held back while a failed step waits to be retried. */
  requestSync(kind: 'event' | 'force' = 'force'): void {
    if (this.stopped || this.phase === 'terminated') return;
    if (kind === 'event' && Date.now() < this.notBefore) return;
    if (this.running) {
      this.pending = true;
      return;
    }
    void this.loop();
  }

  /** Stop the pod (preStop, SIGTERM, SIGKILL, sandbox, CNI DEL) and remove everything it had. */
  terminate(): Promise<V1PodStatus | undefined> {
    if (this.phase === 'syncing') {
      this.phase = 'terminating';
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
        await this.slots.run(() => (this.phase === 'syncing' ? this.sync() : this.terminatePod()));
      } while (this.pending && !this.stopped && this.phase !== 'terminated');
    } finally {
      this.running = false;
    }
    if (!this.stopped && this.phase !== 'terminated') {
      this.timer = setTimeout(() => this.requestSync(), this.syncer.nextDelayMs);
      this.timer.unref();
    }
  }

  private async sync(): Promise<void> {
    await this.syncer.syncPod();
    if (this.syncer.syncAgain) this.pending = true;
    this.notBefore = this.syncer.failed ? Date.now() + this.syncer.nextDelayMs : 0;
  }

  private async terminatePod(): Promise<void> {
    try {
      const final = await this.syncer.syncTerminatingPod();
      await this.syncer.syncTerminatedPod();
      this.phase = 'terminated';
      if (this.timer) clearTimeout(this.timer);
      this.terminatedResolve?.(final);
    } catch (e) {
      this.state.log.error('pod termination failed; retrying', { error: errorMessage(e) });
      this.syncer.nextDelayMs = 2000;
    }
  }

  /**
   * The eviction manager's kill: every container stopped with the given grace period and the
   * pod failed with reason Evicted (kubelet's killPodFunc with its status function). False when
   * the pod is already terminating or failed.
   */
  evict(message: string, condition: V1PodCondition, gracePeriodSeconds: number): boolean {
    if (this.phase !== 'syncing' || this.state.evicted || this.state.orphan) return false;
    this.state.evicted = { reason: 'Evicted', message, condition, gracePeriodSeconds };
    this.state.log.info('evicting pod', { message, gracePeriod: gracePeriodSeconds });
    this.requestSync();
    return true;
  }

  /** Compute and store the pod's status from the last runtime view and the prober's results. */
  publish(): void {
    if (this.phase === 'terminated') return;
    this.syncer.publish();
  }

  /** A probe's result changed: readiness shows in the status at once; liveness/startup failure restarts. */
  onProbeChange(c: ProbeChange): void {
    if (this.phase !== 'syncing' || this.state.evicted) return;
    if (c.result === 'failure' && (c.type === 'liveness' || c.type === 'startup')) {
      this.state.log.info('probe failed; the container will be killed', {
        container: c.containerName,
        probe: c.type,
        message: c.message,
      });
      this.state.probeFailures.set(c.containerName, { containerId: c.containerId, type: c.type, message: c.message });
      this.requestSync();
      return;
    }
    // A sidecar's startup probe passing lets the next init container start: sync, not just publish.
    if (
      c.result === 'success' &&
      c.type === 'startup' &&
      (this.state.pod.spec?.initContainers ?? []).some(
        (x) => x.name === c.containerName && isRestartableInitContainer(x),
      )
    ) {
      this.requestSync();
      return;
    }
    this.publish();
  }
}
