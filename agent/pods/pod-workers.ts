// The set of pod workers: one per pod UID, created when a pod becomes desired (or is found running
// with no source wanting it: an orphan, to be stopped), dropped once its termination completed.
import type { V1Pod, V1PodCondition, V1PodStatus } from '@kubernetes/client-node';
import type { ProbeChange } from '../contracts.js';
import { LABELS } from '../runtime/naming.js';
import type { PodRuntimeStatus } from '../runtime/types.js';
import type { PodContext } from './context.js';
import { PodWorker } from './pod-worker.js';
import { Semaphore } from './semaphore.js';

export class PodWorkers {
  private workers = new Map<string, PodWorker>();
  private comeBack = new Map<string, V1Pod>();
  private readonly slots: Semaphore;

  constructor(
    private readonly ctx: PodContext,
    concurrency = 16,
  ) {
    this.slots = new Semaphore(concurrency);
  }

  has(uid: string): boolean {
    return this.workers.has(uid);
  }

  isTerminating(uid: string): boolean {
    return this.workers.get(uid)?.terminating ?? false;
  }

  /** A desired pod was added or changed. */
  update(pod: V1Pod): void {
    const uid = pod.metadata!.uid!;
    const w = this.workers.get(uid);
    if (w && !w.terminating) {
      w.update(pod);
      return;
    }
    if (w) {
      // Wanted again while its termination runs (a file deleted and put back): start it afresh
      // once the termination is complete, never half-way through.
      this.comeBack.set(uid, pod);
      return;
    }
    const nw = new PodWorker(pod, this.ctx, this.slots);
    this.workers.set(uid, nw);
    nw.requestSync();
  }

  /** A pod left the desired set: terminate it, then forget it. Resolves with its final status. */
  remove(uid: string): Promise<V1PodStatus | undefined> {
    this.comeBack.delete(uid);
    const w = this.workers.get(uid);
    if (!w) return Promise.resolve(undefined);
    return this.finish(w);
  }

  private async finish(w: PodWorker): Promise<V1PodStatus | undefined> {
    const final = await w.terminate();
    if (this.workers.get(w.uid) === w) this.workers.delete(w.uid);
    const again = this.comeBack.get(w.uid);
    if (again) {
      this.comeBack.delete(w.uid);
      this.update(again);
    }
    return final;
  }

  /** Pods with a worker that is not terminating them: what counts against --max-pods. */
  activeCount(): number {
    let n = 0;
    for (const w of this.workers.values()) if (!w.terminating) n++;
    return n;
  }

  /**
   * Containers of a pod that no source wants (after an agent restart, say): stop them with what
   * their labels say (grace period, preStop hook), as kubelet kills orphaned pods.
   */
  killOrphan(rt: PodRuntimeStatus): void {
    if (this.workers.has(rt.uid)) return;
    const any = rt.sandboxes[0]?.labels ?? rt.containers[0]?.labels ?? {};
    const grace = Number(any[LABELS.terminationGracePeriod] ?? 30);
    const pod: V1Pod = {
      metadata: {
        name: rt.name || any[LABELS.podName],
        namespace: rt.namespace || any[LABELS.podNamespace],
        uid: rt.uid,
      },
      spec: { containers: [], terminationGracePeriodSeconds: Number.isFinite(grace) ? grace : 30 },
    };
    const w = new PodWorker(pod, this.ctx, this.slots, true);
    this.workers.set(rt.uid, w);
    this.ctx.logger.info('stopping orphaned pod (no source wants it)', {
      pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`,
      uid: rt.uid,
    });
    void this.finish(w);
  }

  /** The eviction manager's kill (pod-worker.ts evict); false if there is no such pod to evict. */
  evict(uid: string, message: string, condition: V1PodCondition, gracePeriodSeconds: number): boolean {
    return this.workers.get(uid)?.evict(message, condition, gracePeriodSeconds) ?? false;
  }

  /** A container event saw this pod change. */
  requestSync(uid: string): void {
    this.workers.get(uid)?.requestSync('event');
  }

  /** The relist saw this state: sync only if it is not what the worker last saw. */
  relisted(uid: string, fingerprint: string): void {
    const w = this.workers.get(uid);
    if (w && w.fingerprint !== fingerprint) w.requestSync('event');
  }

  syncAll(): void {
    for (const w of this.workers.values()) w.requestSync();
  }

  onProbeChange(c: ProbeChange): void {
    this.workers.get(c.podUid)?.onProbeChange(c);
  }

  uids(): string[] {
    return [...this.workers.keys()];
  }

  /** Agent shutdown: stop every worker, leaving the pods running (a restarted agent adopts them). */
  stop(): void {
    for (const w of this.workers.values()) w.stop();
  }

  /** Wait for terminations in progress (tests, and shutdown of an agent asked to drain). */
  async drain(): Promise<void> {
    await Promise.all([...this.workers.values()].filter((w) => w.terminating).map((w) => w.terminated));
  }
}
