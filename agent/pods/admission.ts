// Admission, as kubelet's canAdmitPod: a node runs at most --max-pods pods, and the eviction
// manager admits no pod under pressure (only non-BestEffort ones under memory pressure alone).
// A rejected pod fails with the reason (OutOfpods, Evicted) and one Warning event.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/lifecycle/predicate.go
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { EventRecorder } from '../events/types.js';
import { podRef } from '../events/types.js';
import type { StatusManager } from '../status/status-manager.js';
import type { PodWorkers } from './pod-workers.js';

export interface PodAdmissionOptions {
  maxPods: number;
  workers: () => PodWorkers;
  status: StatusManager;
  logger: Logger;
  recorder: () => EventRecorder | undefined;
  /** The eviction manager's verdict on a new pod: a message when it is refused. */
  evictionAdmit: (p: V1Pod) => string | undefined;
  /** Pods with containers or sandboxes in the runtime at the last relist. */
  inRuntime: () => ReadonlySet<string>;
}

export class PodAdmission {
  private rejected = new Set<string>();

  constructor(private readonly opts: PodAdmissionOptions) {}

  /** May the pod run here? If not, it is failed with the reason (once logged and reported). */
  admit(p: V1Pod): boolean {
    const uid = p.metadata!.uid!;
    const workers = this.opts.workers();
    // Admission, as kubelet's: a node runs at most --max-pods pods; the rest fail with OutOfpods.
    if (!workers.has(uid) && workers.activeCount() >= this.opts.maxPods) {
      this.reject(
        p,
        'OutOfpods',
        `Node didn't have enough resource: pods, requested: 1, used: ${workers.activeCount()}, capacity: ${this.opts.maxPods}`,
      );
      return false;
    }
    // kubelet's eviction manager admits no pod (only non-BestEffort ones under memory pressure alone).
    // A pod whose containers already run here was admitted by an earlier agent: it is adopted.
    const pressure = workers.has(uid) || this.opts.inRuntime().has(uid) ? undefined : this.opts.evictionAdmit(p);
    if (pressure) {
      this.reject(p, 'Evicted', pressure);
      return false;
    }
    this.rejected.delete(uid);
    return true;
  }

  /** The pod left the desired set. */
  forget(uid: string): void {
    this.rejected.delete(uid);
  }

  private reject(p: V1Pod, reason: string, message: string): void {
    if (!this.rejected.has(p.metadata!.uid!)) {
      this.opts.logger.warn('pod rejected', { pod: `${p.metadata!.namespace}/${p.metadata!.name}`, reason, message });
      this.opts.recorder()?.event(podRef(p), 'Warning', reason, message); // kubelet's admission rejection event
    }
    this.rejected.add(p.metadata!.uid!);
    this.opts.status.set(p, { phase: 'Failed', reason, message, startTime: new Date() });
  }
}
