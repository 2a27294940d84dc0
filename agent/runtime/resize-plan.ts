// In-place pod resize (KEP-1287), the pure part: what the running containers have against what
// is allocated to them, which containers the resize restarts (resizePolicy RestartContainer),
// and the ordered list of cgroup writes that brings the rest there without a restart, as
// kubelet 1.34's computePodResizeAction and doPodResizeAction order them:
//  - memory and CPU separately, memory first;
//  - for each, the pod-level cgroup grown before the containers and shrunk after them, limits
//    before requests when growing and after them when shrinking;
//  - among the containers, decreases before increases.
// Values are compared as the kernel sees them (shares, CFS quota, bytes), so a request that
// maps to the same cgroup value as before (1m and 2m are both 2 shares) is not a resize the
// agent could ever finish. The memory request is not a cgroup value: the container carries the
// one it was created with as a label (runtime/naming.ts), so a RestartContainer policy on memory
// still sees a request-only change, as kubelet's actuated-resources checkpoint would.
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/pkg/kubelet/kuberuntime/kuberuntime_manager.go
import type { V1Container, V1Pod, V1ResourceRequirements } from '@kubernetes/client-node';
import { formatBytes, quantityMilliValue, quantityValue } from '../../lib/quantity.js';
import type { PodCgroupConfig } from './cgroups.js';
import type { PodRuntimeStatus, RuntimeContainer, RuntimeResources } from './types.js';
import { containerResources, podResourceConfig, QUOTA_PERIOD_US } from '../podspec/resources.js';
import type { QOSClass } from '../podspec/qos.js';

export type ResizeResource = 'cpu' | 'memory';

/** What Docker is asked to set on one container (only the fields of the resource being resized). */
export interface ContainerUpdate {
  cpuShares?: number;
  cpuQuotaUs?: number;
  cpuPeriodUs?: number;
  memoryLimitBytes?: number;
}

export type ResizeStep =
  | { kind: 'pod'; resource: ResizeResource; set: Partial<PodCgroupConfig> }
  | { kind: 'container'; resource: ResizeResource; name: string; id: string; update: ContainerUpdate };

export interface ResizePlan {
  /** Containers whose resizePolicy says RestartContainer for a resource that changed. */
  restart: Set<string>;
  steps: ResizeStep[];
  /** Memory limits that go down: checked against current usage before anything is written. */
  memoryDecreases: { pod?: number; containers: Map<string, number> };
}

/** App containers and native sidecars: the containers a resize applies to (kubelet's IsResizableContainer). */
export function resizableContainers(pod: V1Pod): V1Container[] {
  return [
    ...(pod.spec?.initContainers ?? []).filter((c) => c.restartPolicy === 'Always'),
    ...(pod.spec?.containers ?? []),
  ];
}

interface Desired {
  cpuShares: number;
  cpuQuotaUs: number;
  memoryLimitBytes: number;
  memoryRequestBytes: number;
}

function desiredOf(c: V1Container): Desired {
  const r = containerResources(c);
  const mem = c.resources?.requests?.memory ?? c.resources?.limits?.memory;
  return {
    cpuShares: r.cpuShares,
    cpuQuotaUs: r.cpuQuotaUs,
    memoryLimitBytes: r.memoryLimitBytes,
    memoryRequestBytes: mem === undefined ? 0 : quantityValue(mem as string),
  };
}

interface ResourceDiff {
  /** Direction of the change by which the container's update is ordered (limit if it changed, else request). */
  memory?: 'up' | 'down';
  cpu?: 'up' | 'down';
  memoryLimit: boolean;
  memoryRequest: boolean;
  cpuLimit: boolean;
  cpuRequest: boolean;
}

const dir = (want: number, have: number): 'up' | 'down' => (want > have ? 'up' : 'down');

/**
 * How the running container differs from its allocation. A limit the allocation does not have is
 * never "removed" (the apiserver refuses a resize that removes one; kubelet cannot either).
 */
export function resourceDiff(c: V1Container, actual: RuntimeResources): ResourceDiff {
  const d = desiredOf(c);
  const memoryLimit = d.memoryLimitBytes !== 0 && d.memoryLimitBytes !== actual.memoryLimitBytes;
  // A memory request is in no cgroup: it only matters to a RestartContainer policy (whose
  // containers always run with the request they were created with, the label's).
  const memoryRequest =
    restartPolicyFor(c, 'memory') &&
    actual.memoryRequestBytes !== undefined &&
    d.memoryRequestBytes !== actual.memoryRequestBytes;
  const cpuLimit = d.cpuQuotaUs !== 0 && d.cpuQuotaUs !== actual.cpuQuotaUs;
  const cpuRequest = d.cpuShares !== actual.cpuShares;
  return {
    memoryLimit,
    memoryRequest,
    cpuLimit,
    cpuRequest,
    memory: memoryLimit
      ? dir(d.memoryLimitBytes, actual.memoryLimitBytes)
      : memoryRequest
        ? dir(d.memoryRequestBytes, actual.memoryRequestBytes!)
        : undefined,
    cpu: cpuLimit ? dir(d.cpuQuotaUs, actual.cpuQuotaUs) : cpuRequest ? dir(d.cpuShares, actual.cpuShares) : undefined,
  };
}

function restartPolicyFor(c: V1Container, r: ResizeResource): boolean {
  return c.resizePolicy?.find((p) => p.resourceName === r)?.restartPolicy === 'RestartContainer';
}

/** Running resizable containers with the instance that runs them. */
function running(
  pod: V1Pod,
  rt: PodRuntimeStatus,
): { c: V1Container; rc: RuntimeContainer & { resources: RuntimeResources } }[] {
  const out: { c: V1Container; rc: RuntimeContainer & { resources: RuntimeResources } }[] = [];
  for (const c of resizableContainers(pod)) {
    const rc = rt.containers.find((x) => x.name === c.name);
    if (rc?.state === 'running' && rc.resources)
      out.push({ c, rc: rc as RuntimeContainer & { resources: RuntimeResources } });
  }
  return out;
}

/** Is a running container not yet at its allocation (kubelet's isPodResizeInProgress)? */
export function resizeInProgress(pod: V1Pod, rt: PodRuntimeStatus): boolean {
  return running(pod, rt).some(({ c, rc }) => {
    const d = resourceDiff(c, rc.resources);
    return d.memory !== undefined || d.cpu !== undefined;
  });
}

/** Pod-level steps around the container steps of one resource (grow first, shrink last). */
function orderResource(
  resource: ResizeResource,
  containers: ResizeStep[],
  cur: PodCgroupConfig,
  want: PodCgroupConfig,
): ResizeStep[] {
  const before: ResizeStep[] = [];
  const after: ResizeStep[] = [];
  const pod = (set: Partial<PodCgroupConfig>): ResizeStep => ({ kind: 'pod', resource, set });
  if (resource === 'memory') {
    if (want.memoryLimitBytes > cur.memoryLimitBytes) before.push(pod({ memoryLimitBytes: want.memoryLimitBytes }));
    if (want.memoryLimitBytes < cur.memoryLimitBytes) after.push(pod({ memoryLimitBytes: want.memoryLimitBytes }));
  } else {
    // Limits grow before requests and shrink after them, so that requests <= limits throughout.
    if (want.cpuQuotaUs > cur.cpuQuotaUs)
      before.push(pod({ cpuQuotaUs: want.cpuQuotaUs, cpuPeriodUs: want.cpuPeriodUs }));
    if (want.cpuShares > cur.cpuShares) before.push(pod({ cpuShares: want.cpuShares }));
    if (want.cpuShares < cur.cpuShares) after.push(pod({ cpuShares: want.cpuShares }));
    if (want.cpuQuotaUs < cur.cpuQuotaUs)
      after.push(pod({ cpuQuotaUs: want.cpuQuotaUs, cpuPeriodUs: want.cpuPeriodUs }));
  }
  return [...before, ...containers, ...after];
}

/** The pod cgroup's target; a limit the pod does not have keeps the current value (limits are never removed). */
export function podCgroupTarget(pod: V1Pod, qos: QOSClass, cur: PodCgroupConfig): PodCgroupConfig {
  const rc = podResourceConfig(pod, qos);
  return {
    cpuShares: rc.cpuShares,
    cpuQuotaUs: rc.cpuQuotaUs ?? cur.cpuQuotaUs,
    cpuPeriodUs: rc.cpuQuotaUs === undefined ? cur.cpuPeriodUs : rc.cpuPeriodUs,
    memoryLimitBytes: rc.memoryLimitBytes ?? cur.memoryLimitBytes,
  };
}

/**
 * The resize of a pod whose allocation (`pod`) differs from what runs (`rt`): containers to
 * restart, and the cgroup writes for the others in kubelet's order. `podCgroup`: the pod-level
 * cgroup's current values.
 */
export function planPodResize(pod: V1Pod, qos: QOSClass, rt: PodRuntimeStatus, podCgroup: PodCgroupConfig): ResizePlan {
  const plan: ResizePlan = { restart: new Set(), steps: [], memoryDecreases: { containers: new Map() } };
  const byResource: Record<ResizeResource, { down: ResizeStep[]; up: ResizeStep[] }> = {
    memory: { down: [], up: [] },
    cpu: { down: [], up: [] },
  };
  for (const { c, rc } of running(pod, rt)) {
    const diff = resourceDiff(c, rc.resources);
    if (diff.memory === undefined && diff.cpu === undefined) continue;
    if ((diff.memory && restartPolicyFor(c, 'memory')) || (diff.cpu && restartPolicyFor(c, 'cpu'))) {
      plan.restart.add(c.name);
      continue;
    }
    const d = desiredOf(c);
    if (diff.memory) {
      // A request-only change writes nothing (memory requests are not a cgroup value here).
      const update: ContainerUpdate = diff.memoryLimit ? { memoryLimitBytes: d.memoryLimitBytes } : {};
      byResource.memory[diff.memory].push({ kind: 'container', resource: 'memory', name: c.name, id: rc.id, update });
      if (diff.memoryLimit && diff.memory === 'down') plan.memoryDecreases.containers.set(c.name, d.memoryLimitBytes);
    }
    if (diff.cpu) {
      const update: ContainerUpdate = {
        cpuShares: d.cpuShares,
        ...(d.cpuQuotaUs ? { cpuQuotaUs: d.cpuQuotaUs, cpuPeriodUs: QUOTA_PERIOD_US } : {}),
      };
      byResource.cpu[diff.cpu].push({ kind: 'container', resource: 'cpu', name: c.name, id: rc.id, update });
    }
  }
  const want = podCgroupTarget(pod, qos, podCgroup);
  const restarting = plan.restart.size > 0;
  for (const resource of ['memory', 'cpu'] as const) {
    const containers = [...byResource[resource].down, ...byResource[resource].up];
    if (containers.length === 0 && !restarting) continue;
    plan.steps.push(...orderResource(resource, containers, podCgroup, want));
    if (resource === 'memory' && want.memoryLimitBytes < podCgroup.memoryLimitBytes)
      plan.memoryDecreases.pod = want.memoryLimitBytes;
  }
  return plan;
}

/**
 * kubelet's validateMemoryResizeAction: a memory limit is not lowered to or below what is in
 * use. Returns the error message of the failed resize, or undefined when it may go ahead. The
 * container message reports the pod's usage, as 1.34's does.
 */
export function memoryDecreaseError(
  d: ResizePlan['memoryDecreases'],
  usage: { pod?: number; containers: Map<string, number | undefined> },
): string | undefined {
  const errs: string[] = [];
  if (d.pod !== undefined) {
    if (usage.pod === undefined) errs.push('missing pod memory usage');
    else if (usage.pod >= d.pod)
      errs.push(`attempting to set pod memory limit (${d.pod}) below current usage (${usage.pod})`);
  }
  for (const [name, limit] of d.containers) {
    const used = usage.containers.get(name);
    if (used === undefined) errs.push(`missing container "${name}" memory usage`);
    else if (used >= limit)
      errs.push(
        `attempting to set container "${name}" memory limit (${limit}) below current usage (${usage.pod ?? 0})`,
      );
  }
  if (errs.length === 0) return undefined;
  // Go's aggregate error: one error as it is, several as a bracketed list.
  return `cannot decrease memory limits: ${errs.length === 1 ? errs[0] : `[${errs.join(', ')}]`}`;
}

/** Millicores as the apiserver prints a DecimalSI quantity ("250m", "1"). */
export function formatMilli(m: number): string {
  return m % 1000 === 0 ? String(m / 1000) : `${m}m`;
}

/** kubelet's sharesToMilliCPU and quotaToMilliCPU: the runtime's values back in millicores. */
export const sharesToMilli = (shares: number): number => (shares >= 2 ? Math.ceil((shares * 1000) / 1024) : 0);
export const quotaToMilli = (quota: number, period: number): number =>
  quota <= 0 || period <= 0 ? 0 : Math.floor((quota * 1000) / period);

/**
 * containerStatuses[].resources, as kubelet's convertContainerStatusResources: the allocation,
 * with CPU and memory as the runtime reports them for a running container (values at the
 * kernel's minimum are left as allocated, so that 1m does not read back as 2m).
 */
export function statusResources(c: V1Container, rc: RuntimeContainer): V1ResourceRequirements {
  const alloc = c.resources ?? {};
  const out: V1ResourceRequirements = {};
  if (alloc.limits) out.limits = { ...alloc.limits };
  if (alloc.requests) out.requests = { ...alloc.requests };
  const r = rc.resources;
  if (rc.state !== 'running' || !r) return out;
  if (out.limits) {
    const cpuLimit = quotaToMilli(r.cpuQuotaUs, r.cpuPeriodUs);
    if (cpuLimit > 0 && (cpuLimit > 10 || quantityMilliValue((out.limits.cpu ?? '0') as string) > 10))
      out.limits.cpu = formatMilli(cpuLimit);
    if (r.memoryLimitBytes > 0) out.limits.memory = formatBytes(r.memoryLimitBytes);
  }
  if (out.requests) {
    const cpuRequest = sharesToMilli(r.cpuShares);
    // kubelet compares millicores with MinShares (2) here; kept as it is.
    if (cpuRequest > 0 && (cpuRequest > 2 || quantityMilliValue((out.requests.cpu ?? '0') as string) > 2))
      out.requests.cpu = formatMilli(cpuRequest);
    // The memory request the container runs with (kubelet reads it from its actuated checkpoint):
    // with NotRequired it is the allocated one (nothing to write), with RestartContainer the one
    // the container was created with.
    if (out.requests.memory !== undefined && r.memoryRequest !== undefined && restartPolicyFor(c, 'memory'))
      out.requests.memory = r.memoryRequest;
  }
  return out;
}
