// Which pod to evict first, and what its status says, as kubelet's eviction manager decides them
// (pkg/kubelet/eviction/helpers.go): under memory pressure, pods using more memory than they
// request go first, then lower priority, then the larger excess over the request (so BestEffort
// pods, requesting nothing, lead); under disk pressure the same with local storage use. Pure.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { quantityValue } from '../../lib/quantity.js';
import type { Observations } from './decide.js';
import { formatQuantity, resourceOf, thresholdQuantity, type Threshold } from './thresholds.js';

/** What was measured of one pod; a pod without stats is `undefined` in its fields. */
export interface PodUsage {
  pod: V1Pod;
  /** The pod cgroup's working set. */
  memoryWorkingSetBytes?: number;
  /** Local storage the ranking counts (volumes, and writable layers and logs where they share the filesystem). */
  diskBytes?: number;
  /** Per container, for the message: working set and local storage use. */
  containers?: { name: string; memoryWorkingSetBytes?: number; diskBytes?: number }[];
}

const SYSTEM_CRITICAL_PRIORITY = 2_000_000_000;

/**
 * kubelet's IsCriticalPod: static pods, mirror pods and pods of priority >= system-critical are
 * never evicted (a static pod would not be admitted again).
 */
export function isCriticalPod(pod: V1Pod): boolean {
  const source = pod.metadata?.annotations?.['kubernetes.io/config.source'];
  if (source && source !== 'api') return true;
  if (pod.metadata?.annotations?.['kubernetes.io/config.mirror']) return true;
  return (pod.spec?.priority ?? 0) >= SYSTEM_CRITICAL_PRIORITY;
}

function requestOf(c: V1Container, resource: 'memory' | 'ephemeral-storage'): number {
  const q = c.resources?.requests?.[resource] ?? c.resources?.limits?.[resource];
  return q === undefined ? 0 : quantityValue(String(q));
}

/**
 * The pod's request for a resource (GetResourceRequestQuantity): app containers and sidecars
 * summed, or the largest regular init container if more, plus the pod overhead.
 */
export function podRequest(pod: V1Pod, resource: 'memory' | 'ephemeral-storage'): number {
  const inits = pod.spec?.initContainers ?? [];
  const sidecars = inits.filter((c) => c.restartPolicy === 'Always');
  let sum = [...(pod.spec?.containers ?? []), ...sidecars].reduce((n, c) => n + requestOf(c, resource), 0);
  for (const c of inits) if (c.restartPolicy !== 'Always') sum = Math.max(sum, requestOf(c, resource));
  const overhead = pod.spec?.overhead?.[resource];
  return sum + (overhead === undefined ? 0 : quantityValue(String(overhead)));
}

type Cmp = (a: PodUsage, b: PodUsage) => number;
const cmpBool = (a: boolean, b: boolean) => (a === b ? 0 : b ? 1 : -1); // true sorts first
const priority: Cmp = (a, b) => Math.sign((a.pod.spec?.priority ?? 0) - (b.pod.spec?.priority ?? 0));

/** Pods without a measurement go first (kubelet: cmpBool(!found1, !found2)). */
function measured(
  get: (u: PodUsage) => number | undefined,
  then: (x: number, y: number, a: PodUsage, b: PodUsage) => number,
): Cmp {
  return (a, b) => {
    const x = get(a);
    const y = get(b);
    if (x === undefined || y === undefined) return cmpBool(x === undefined, y === undefined);
    return then(x, y, a, b);
  };
}

function orderedBy(...cmps: Cmp[]): (a: PodUsage, b: PodUsage) => number {
  return (a, b) => {
    for (const c of cmps) {
      const r = c(a, b);
      if (r !== 0) return r;
    }
    return 0;
  };
}

function rankBy(
  get: (u: PodUsage) => number | undefined,
  resource: 'memory' | 'ephemeral-storage',
): (a: PodUsage, b: PodUsage) => number {
  const exceeds = measured(get, (x, y, a, b) =>
    cmpBool(x > podRequest(a.pod, resource), y > podRequest(b.pod, resource)),
  );
  const excess = measured(get, (x, y, a, b) =>
    Math.sign(y - podRequest(b.pod, resource) - (x - podRequest(a.pod, resource))),
  );
  return orderedBy(exceeds, priority, excess);
}

/** The pods in eviction order for a threshold's signal (memory or local storage). */
export function rankForEviction(pods: readonly PodUsage[], threshold: Threshold): PodUsage[] {
  const cmp =
    threshold.signal === 'memory.available'
      ? rankBy((u) => u.memoryWorkingSetBytes, 'memory')
      : rankBy((u) => u.diskBytes, 'ephemeral-storage');
  return [...pods].sort(cmp);
}

/**
 * kubelet's evictionMessage: "The node was low on resource: memory. Threshold quantity: 100Mi,
 * available: 51200Ki. " and, for each container using more than it requests, "Container app
 * was using 300Mi, request is 0, has larger consumption of memory. " (kubelet's trailing spaces kept).
 */
export function evictionMessage(
  resource: string,
  usage: PodUsage,
  met: readonly Threshold[],
  obs: Observations,
): string {
  let message = `The node was low on resource: ${resource}. `;
  const t = met.find((x) => resourceOf(x.signal) === resource);
  const o = t ? obs[t.signal] : undefined;
  if (t && o)
    message += `Threshold quantity: ${formatQuantity(t.signal, thresholdQuantity(t, o.capacity))}, available: ${formatQuantity(t.signal, o.available)}. `;
  if (resource !== 'memory' && resource !== 'ephemeral-storage') return message;
  const specs = [...(usage.pod.spec?.containers ?? []), ...(usage.pod.spec?.initContainers ?? [])];
  for (const c of usage.containers ?? []) {
    const spec = specs.find((s) => s.name === c.name);
    if (!spec) continue;
    const used = resource === 'memory' ? c.memoryWorkingSetBytes : c.diskBytes;
    const q = spec.resources?.requests?.[resource];
    const request = q === undefined ? 0 : quantityValue(String(q));
    if (used !== undefined && used > request) {
      message += `Container ${c.name} was using ${formatQuantity('memory.available', used)}, request is ${q === undefined ? '0' : String(q)}, has larger consumption of ${resource}. `;
    }
  }
  return message;
}
