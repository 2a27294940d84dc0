// Whether a resized pod fits the node, as kubelet 1.34's canResizePod: Infeasible when the pod
// alone asks for more than the node has (it never will fit: the resize is not retried), Deferred
// when it does not fit beside the other pods' allocations now (retried when pods leave, and
// every few minutes). Pure: pods and numbers in, a verdict out.
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/pkg/kubelet/allocation/allocation_manager.go
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { quantityMilliValue, quantityValue } from '../../lib/quantity.js';

export interface PodRequests {
  cpuMilli: number;
  memoryBytes: number;
}

function containerRequests(c: V1Container): PodRequests {
  const r = c.resources ?? {};
  const cpu = r.requests?.cpu ?? r.limits?.cpu;
  const mem = r.requests?.memory ?? r.limits?.memory;
  return {
    cpuMilli: cpu === undefined ? 0 : quantityMilliValue(cpu as string),
    memoryBytes: mem === undefined ? 0 : quantityValue(mem as string),
  };
}

/**
 * The pod's effective requests (component-helpers' PodRequests): app containers and sidecars add
 * up; a regular init container runs beside the sidecars started before it, and the pod needs
 * the largest of those moments.
 */
export function podRequests(pod: V1Pod): PodRequests {
  const sum: PodRequests = { cpuMilli: 0, memoryBytes: 0 };
  for (const c of pod.spec?.containers ?? []) {
    const r = containerRequests(c);
    sum.cpuMilli += r.cpuMilli;
    sum.memoryBytes += r.memoryBytes;
  }
  const sidecars: PodRequests = { cpuMilli: 0, memoryBytes: 0 };
  const initMax: PodRequests = { cpuMilli: 0, memoryBytes: 0 };
  for (const c of pod.spec?.initContainers ?? []) {
    const r = containerRequests(c);
    if (c.restartPolicy === 'Always') {
      sidecars.cpuMilli += r.cpuMilli;
      sidecars.memoryBytes += r.memoryBytes;
    }
    // A sidecar's own moment counts too: it starts beside those before it.
    initMax.cpuMilli = Math.max(initMax.cpuMilli, sidecars.cpuMilli + (c.restartPolicy === 'Always' ? 0 : r.cpuMilli));
    initMax.memoryBytes = Math.max(
      initMax.memoryBytes,
      sidecars.memoryBytes + (c.restartPolicy === 'Always' ? 0 : r.memoryBytes),
    );
  }
  return {
    cpuMilli: Math.max(sum.cpuMilli + sidecars.cpuMilli, initMax.cpuMilli),
    memoryBytes: Math.max(sum.memoryBytes + sidecars.memoryBytes, initMax.memoryBytes),
  };
}

export type FitVerdict = { fits: true } | { fits: false; reason: 'Infeasible' | 'Deferred'; message: string };

/**
 * `pod`: the desired (resized) pod; `others`: the other active pods as allocated; `capacity`: the
 * node's allocatable without eviction thresholds (kubelet's GetNodeAllocatableAbsolute).
 */
export function resizeFits(pod: V1Pod, others: V1Pod[], capacity: PodRequests): FitVerdict {
  const want = podRequests(pod);
  if (want.cpuMilli > capacity.cpuMilli || want.memoryBytes > capacity.memoryBytes) {
    const what =
      want.memoryBytes > capacity.memoryBytes
        ? `memory, requested: ${want.memoryBytes}, capacity: ${capacity.memoryBytes}`
        : `cpu, requested: ${want.cpuMilli}, capacity: ${capacity.cpuMilli}`;
    return { fits: false, reason: 'Infeasible', message: `Node didn't have enough capacity: ${what}` };
  }
  const used: PodRequests = { cpuMilli: 0, memoryBytes: 0 };
  for (const p of others) {
    const r = podRequests(p);
    used.cpuMilli += r.cpuMilli;
    used.memoryBytes += r.memoryBytes;
  }
  // The admission predicate (noderesources' fitsRequest), CPU before memory; only the first failure is told.
  if (want.cpuMilli > 0 && want.cpuMilli > capacity.cpuMilli - used.cpuMilli) {
    return {
      fits: false,
      reason: 'Deferred',
      message: `Node didn't have enough resource: cpu, requested: ${want.cpuMilli}, used: ${used.cpuMilli}, capacity: ${capacity.cpuMilli}`,
    };
  }
  if (want.memoryBytes > 0 && want.memoryBytes > capacity.memoryBytes - used.memoryBytes) {
    return {
      fits: false,
      reason: 'Deferred',
      message: `Node didn't have enough resource: memory, requested: ${want.memoryBytes}, used: ${used.memoryBytes}, capacity: ${capacity.memoryBytes}`,
    };
  }
  return { fits: true };
}
