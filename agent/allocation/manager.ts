// kubelet 1.34's allocation manager, in our words: the resources each pod's containers are
// allocated (checkpointed), the decision on a resize (allocated now, Deferred, or Infeasible) and
// the pod's resize conditions. The pod workers run pods as allocated: a resize reaches the
// running containers only once it is allocated here.
//  - PodResizePending (reason Deferred or Infeasible, with a message): the desired resources are
//    not allocated. Deferred resizes are retried when a pod leaves the node and every 3 minutes.
//  - PodResizeInProgress: allocated, not yet actuated (reason Error with the message while the
//    runtime refuses it). Set when a resize is allocated, cleared by the pod worker once the
//    containers run at the allocation (with a ResizeCompleted event).
// Each condition's observedGeneration is the pod generation it was decided for. status.resize
// (deprecated) is not written: 1.34's kubelet no longer writes it.
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/pkg/kubelet/allocation/allocation_manager.go
import type { V1Container, V1Pod, V1PodCondition, V1ResourceRequirements } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { quantityMilliValue } from '../../lib/quantity.js';
import { stableStringify } from '../podspec/hash.js';
import type { EventRecorder } from '../events/types.js';
import { podRef } from '../events/types.js';
import { AllocationCheckpoint, type Allocations } from './checkpoint.js';
import { resizeFits, type PodRequests } from './fit.js';
import { errorMessage } from '../../lib/errors.js';

const RETRY_MS = 3 * 60_000;

interface ResizeConditions {
  pending?: V1PodCondition;
  inProgress?: V1PodCondition;
}

/** Containers whose resources are allocated (kubelet's allocationFromPod): app containers and sidecars. */
function allocationFromPod(pod: V1Pod): Record<string, V1ResourceRequirements> {
  const out: Record<string, V1ResourceRequirements> = {};
  for (const c of [
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.initContainers ?? []).filter((x) => x.restartPolicy === 'Always'),
  ]) {
    out[c.name] = JSON.parse(JSON.stringify(c.resources ?? {})) as V1ResourceRequirements;
  }
  return out;
}

/** Requirements compared by value ("1" equals "1000m"), as apimachinery's semantic equality. */
function sameRequirements(a: V1ResourceRequirements | undefined, b: V1ResourceRequirements | undefined): boolean {
  const norm = (r: V1ResourceRequirements | undefined) =>
    stableStringify({
      limits: Object.fromEntries(Object.entries(r?.limits ?? {}).map(([k, v]) => [k, quantityMilliValue(v as string)])),
      requests: Object.fromEntries(
        Object.entries(r?.requests ?? {}).map(([k, v]) => [k, quantityMilliValue(v as string)]),
      ),
    });
  return norm(a) === norm(b);
}

/** The pod with its containers' resources replaced by the allocation; `changed` when any differed. */
export function podFromAllocation(
  pod: V1Pod,
  alloc: Record<string, V1ResourceRequirements> | undefined,
): { pod: V1Pod; changed: boolean } {
  if (!alloc) return { pod, changed: false };
  let changed = false;
  const apply = (c: V1Container): V1Container => {
    const a = alloc[c.name];
    if (!a || sameRequirements(c.resources, a)) return c;
    changed = true;
    return { ...c, resources: a };
  };
  const spec = { ...pod.spec!, containers: (pod.spec?.containers ?? []).map(apply) };
  if (pod.spec?.initContainers) spec.initContainers = pod.spec.initContainers.map(apply);
  return changed ? { pod: { ...pod, spec }, changed } : { pod, changed };
}

export class AllocationManager {
  private readonly checkpoint: AllocationCheckpoint;
  private readonly allocated: Allocations;
  private readonly desired = new Map<string, V1Pod>();
  private readonly conditionsByUid = new Map<string, ResizeConditions>();
  private deferred = new Set<string>();
  private timer?: NodeJS.Timeout;

  constructor(
    private readonly o: {
      file: string;
      /** Node allocatable without eviction thresholds (kubelet's GetNodeAllocatableAbsolute). */
      capacity: PodRequests;
      logger: Logger;
      recorder?: EventRecorder;
      /** A pod from a source other than the apiserver (kubelet's IsStaticPod): never resized in place. */
      isStaticPod: (pod: V1Pod) => boolean;
      /** A resize was allocated, or a pod's resize conditions changed, outside podToRun: run it again. */
      onChange: (pod: V1Pod) => void;
      now?: () => Date;
    },
  ) {
    this.checkpoint = new AllocationCheckpoint(o.file);
    this.allocated = this.checkpoint.load(); // throws, naming the file, on a corrupt checkpoint
  }

  private now(): Date {
    return this.o.now?.() ?? new Date();
  }

  /**
   * The pod as its worker is to run it. A pod seen for the first time is allocated what it asks
   * (unless a checkpoint from before a restart says otherwise); a changed one is a resize, decided
   * here (kubelet's HandlePodAdditions, HandlePodUpdates and handlePodResourcesResize).
   */
  podToRun(desired: V1Pod): V1Pod {
    const uid = desired.metadata!.uid!;
    const previous = this.desired.get(uid);
    this.desired.set(uid, desired);
    if (!this.allocated.has(uid)) {
      this.allocated.set(uid, allocationFromPod(desired));
      this.save();
      return desired;
    }
    const resized = !previous || !sameResources(previous, desired);
    if (resized) this.handleResize(uid);
    return podFromAllocation(desired, this.allocated.get(uid)).pod;
  }

  private handleResize(uid: string): void {
    const pod = this.desired.get(uid)!;
    const { changed } = podFromAllocation(pod, this.allocated.get(uid));
    const generation = pod.metadata?.generation ?? 0;
    if (!changed) {
      // Desired equals allocated (a pending resize was reverted): nothing is pending.
      this.clearPending(uid);
      return;
    }
    if (this.o.isStaticPod(pod)) {
      this.setPending(uid, 'Infeasible', 'In-place resize of static-pods is not supported', generation);
      return;
    }
    const others = [...this.desired.keys()]
      .filter((u) => u !== uid)
      .map((u) => podFromAllocation(this.desired.get(u)!, this.allocated.get(u)).pod);
    const verdict = resizeFits(pod, others, this.o.capacity);
    if (!verdict.fits) {
      this.o.logger.info('pod resize not allocated', {
        pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`,
        reason: verdict.reason,
        message: verdict.message,
      });
      this.setPending(uid, verdict.reason, verdict.message, generation);
      if (verdict.reason === 'Deferred') this.deferLater(uid);
      else this.deferred.delete(uid);
      return;
    }
    this.allocated.set(uid, allocationFromPod(pod));
    this.save();
    this.deferred.delete(uid);
    this.clearPending(uid);
    // A new allocation starts a new in-progress resize, at this generation.
    const c = this.conditionsByUid.get(uid) ?? {};
    c.inProgress = this.condition('PodResizeInProgress', undefined, '', '', generation);
    this.conditionsByUid.set(uid, c);
    this.o.logger.info('pod resize allocated', { pod: `${pod.metadata!.namespace}/${pod.metadata!.name}`, generation });
  }

  private deferLater(uid: string): void {
    this.deferred.add(uid);
    if (this.timer) return;
    this.timer = setInterval(() => this.retryDeferred(), RETRY_MS);
    this.timer.unref();
  }

  /** Try the deferred resizes again (a pod left, or the periodic retry); pods whose state changed run again. */
  retryDeferred(): void {
    for (const uid of [...this.deferred]) {
      const pod = this.desired.get(uid);
      if (!pod) {
        this.deferred.delete(uid);
        continue;
      }
      const before = stableStringify(this.conditionsByUid.get(uid) ?? {});
      const allocBefore = stableStringify(this.allocated.get(uid));
      this.handleResize(uid);
      if (
        before !== stableStringify(this.conditionsByUid.get(uid) ?? {}) ||
        allocBefore !== stableStringify(this.allocated.get(uid))
      ) {
        this.o.onChange(podFromAllocation(pod, this.allocated.get(uid)).pod);
      }
    }
    if (this.deferred.size === 0 && this.timer) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** The pod left the node: forget it; what it held may let a deferred resize through. */
  remove(uid: string): void {
    this.desired.delete(uid);
    this.conditionsByUid.delete(uid);
    this.deferred.delete(uid);
    if (this.allocated.delete(uid)) this.save();
    if (this.deferred.size) this.retryDeferred();
  }

  /** Drop checkpointed pods no source wants any more (an agent restarted after they went). */
  removeOrphans(wanted: Set<string>): void {
    let changed = false;
    for (const uid of this.allocated.keys()) if (!wanted.has(uid)) changed = this.allocated.delete(uid) || changed;
    if (changed) this.save();
  }

  /** PodResizePending and PodResizeInProgress as they stand, for the pod's status. */
  conditions(uid: string): V1PodCondition[] {
    const c = this.conditionsByUid.get(uid);
    return [c?.pending, c?.inProgress].filter((x): x is V1PodCondition => !!x);
  }

  /**
   * kubelet's CheckPodResizeInProgress, from the pod worker's view of the runtime: the condition
   * is set while running containers differ from the allocation (keeping its generation, reason
   * and message) and cleared, with a ResizeCompleted event, once they do not.
   */
  observeActuation(pod: V1Pod, inProgress: boolean): void {
    const uid = pod.metadata!.uid!;
    const c = this.conditionsByUid.get(uid) ?? {};
    if (inProgress) {
      c.inProgress ??= this.condition('PodResizeInProgress', undefined, '', '', pod.metadata?.generation ?? 0);
      this.conditionsByUid.set(uid, c);
      return;
    }
    if (!c.inProgress) return;
    c.inProgress = undefined;
    this.o.recorder?.event(podRef(pod), 'Normal', 'ResizeCompleted', `Pod resize completed: ${resizeSummary(pod)}`);
  }

  /** The runtime refused the resize: InProgress says Error with why (its generation is kept). */
  resizeFailed(pod: V1Pod, message: string): void {
    const uid = pod.metadata!.uid!;
    const c = this.conditionsByUid.get(uid) ?? {};
    c.inProgress = this.condition(
      'PodResizeInProgress',
      c.inProgress,
      'Error',
      message,
      c.inProgress?.observedGeneration ?? pod.metadata?.generation ?? 0,
    );
    this.conditionsByUid.set(uid, c);
  }

  private setPending(uid: string, reason: string, message: string, generation: number): void {
    const c = this.conditionsByUid.get(uid) ?? {};
    c.pending = this.condition('PodResizePending', c.pending, reason, message, generation);
    this.conditionsByUid.set(uid, c);
  }

  private clearPending(uid: string): void {
    const c = this.conditionsByUid.get(uid);
    if (c) c.pending = undefined;
  }

  /** kubelet's updatedPodResizeCondition: the transition time moves only when the reason does. */
  private condition(
    type: string,
    old: V1PodCondition | undefined,
    reason: string,
    message: string,
    generation: number,
  ): V1PodCondition {
    const now = this.now();
    return {
      type,
      status: 'True',
      lastProbeTime: now,
      lastTransitionTime: old && old.reason === (reason || undefined) ? old.lastTransitionTime : now,
      ...(generation ? { observedGeneration: generation } : {}),
      ...(reason ? { reason } : {}),
      ...(message ? { message } : {}),
    };
  }

  private save(): void {
    try {
      this.checkpoint.save(this.allocated);
    } catch (e) {
      this.o.logger.error('cannot write the allocation checkpoint', { error: errorMessage(e) });
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }
}

function sameResources(a: V1Pod, b: V1Pod): boolean {
  return stableStringify(allocationFromPod(a)) === stableStringify(allocationFromPod(b));
}

/**
 * The ResizeCompleted event's message: the allocated resources, as kubelet's podResizeCompletionMsg
 * marshals them (initContainers, then containers; limits, then requests; resource names sorted).
 */
function resizeSummary(pod: V1Pod): string {
  const sorted = (l: Record<string, unknown> | undefined) =>
    l ? Object.fromEntries(Object.entries(l).sort(([a], [b]) => a.localeCompare(b))) : undefined;
  const list = (cs: V1Container[] | undefined) =>
    cs?.length
      ? cs.map((c) => ({
          name: c.name,
          resources: { limits: sorted(c.resources?.limits), requests: sorted(c.resources?.requests) },
        }))
      : undefined;
  return JSON.stringify({ initContainers: list(pod.spec?.initContainers), containers: list(pod.spec?.containers) });
}
