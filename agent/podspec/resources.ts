// Kubernetes resources turned into cgroup settings, with kubelet's formulas:
// requests.cpu -> cpu.shares, limits.cpu -> CFS quota over a 100 ms period, limits.memory -> the
// memory limit; and the pod-level cgroup's settings, summed over the pod's containers, so the
// limit holds for the pod as a whole.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/cm/helpers_linux.go
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { quantityMilliValue, quantityValue } from '../../lib/quantity.js';
import type { QOSClass } from './qos.js';

export const MIN_SHARES = 2;
export const MAX_SHARES = 262144;
export const SHARES_PER_CPU = 1024;
export const QUOTA_PERIOD_US = 100_000;
/** The kernel refuses a CFS quota below 1 ms. */
export const MIN_QUOTA_PERIOD_US = 1000;

export function milliCPUToShares(milliCPU: number): number {
  if (milliCPU === 0) return MIN_SHARES; // no request: the smallest weight, not the kernel default of 1024
  const shares = Math.floor((milliCPU * SHARES_PER_CPU) / 1000);
  return Math.min(MAX_SHARES, Math.max(MIN_SHARES, shares));
}

/** CFS quota in microseconds per period; 0 means no limit. */
export function milliCPUToQuota(milliCPU: number, periodUs = QUOTA_PERIOD_US): number {
  if (milliCPU === 0) return 0;
  const quota = Math.floor((milliCPU * periodUs) / 1000);
  return Math.max(MIN_QUOTA_PERIOD_US, quota);
}

/** cgroup v2 has cpu.weight (1..10000) instead of cpu.shares (2..262144); the mapping kubelet and runc use. */
export function sharesToWeight(shares: number): number {
  if (shares === 0) return 0;
  return 1 + Math.floor(((shares - 2) * 9999) / 262142);
}

function milli(v: string | number | undefined): number {
  return v === undefined ? 0 : quantityMilliValue(v as string);
}
function bytes(v: string | number | undefined): number {
  return v === undefined ? 0 : quantityValue(v as string);
}

export interface ContainerResources {
  cpuShares: number;
  /** 0 when there is no CPU limit. */
  cpuQuotaUs: number;
  cpuPeriodUs: number;
  /** 0 when there is no memory limit. */
  memoryLimitBytes: number;
}

export function containerResources(c: V1Container): ContainerResources {
  const req = c.resources?.requests ?? {};
  const lim = c.resources?.limits ?? {};
  // A limit without a request implies request = limit (API defaulting); repeat it here so the
  // formula is right even for an object that skipped defaulting.
  const cpuRequest = req.cpu ?? lim.cpu;
  return {
    cpuShares: milliCPUToShares(milli(cpuRequest)),
    cpuQuotaUs: milliCPUToQuota(milli(lim.cpu)),
    cpuPeriodUs: QUOTA_PERIOD_US,
    memoryLimitBytes: bytes(lim.memory),
  };
}

export interface PodResourceConfig {
  cpuShares: number;
  /** Undefined when some container has no CPU limit: then the pod as a whole has none. */
  cpuQuotaUs?: number;
  cpuPeriodUs: number;
  memoryLimitBytes?: number;
}

/**
 * The pod's effective requests and limits: the sum over app containers, or the largest init
 * container if that is bigger (init containers run one at a time, before the app containers).
 */
export function podRequestsAndLimits(pod: V1Pod): {
  cpuRequestMilli: number;
  cpuLimitMilli?: number;
  memoryLimit?: number;
} {
  const apps = pod.spec?.containers ?? [];
  const inits = pod.spec?.initContainers ?? [];
  let cpuReq = 0,
    cpuLim = 0,
    memLim = 0;
  let cpuLimitsDeclared = true,
    memoryLimitsDeclared = true;
  for (const c of apps) {
    const r = c.resources ?? {};
    cpuReq += milli(r.requests?.cpu ?? r.limits?.cpu);
    if (r.limits?.cpu === undefined) cpuLimitsDeclared = false;
    else cpuLim += milli(r.limits.cpu);
    if (r.limits?.memory === undefined) memoryLimitsDeclared = false;
    else memLim += bytes(r.limits.memory);
  }
  for (const c of inits) {
    const r = c.resources ?? {};
    cpuReq = Math.max(cpuReq, milli(r.requests?.cpu ?? r.limits?.cpu));
    if (r.limits?.cpu === undefined) cpuLimitsDeclared = false;
    else cpuLim = Math.max(cpuLim, milli(r.limits.cpu));
    if (r.limits?.memory === undefined) memoryLimitsDeclared = false;
    else memLim = Math.max(memLim, bytes(r.limits.memory));
  }
  return {
    cpuRequestMilli: cpuReq,
    cpuLimitMilli: cpuLimitsDeclared && apps.length > 0 ? cpuLim : undefined,
    memoryLimit: memoryLimitsDeclared && apps.length > 0 ? memLim : undefined,
  };
}

/** Settings of the pod-level cgroup (kubepods/<qos>/pod<uid>), as kubelet's ResourceConfigForPod. */
export function podResourceConfig(pod: V1Pod, qos: QOSClass): PodResourceConfig {
  if (qos === 'BestEffort') return { cpuShares: MIN_SHARES, cpuPeriodUs: QUOTA_PERIOD_US };
  const { cpuRequestMilli, cpuLimitMilli, memoryLimit } = podRequestsAndLimits(pod);
  return {
    cpuShares: milliCPUToShares(cpuRequestMilli),
    cpuQuotaUs: cpuLimitMilli === undefined ? undefined : milliCPUToQuota(cpuLimitMilli),
    cpuPeriodUs: QUOTA_PERIOD_US,
    memoryLimitBytes: memoryLimit,
  };
}

/**
 * oom_score_adj by QoS, as kubelet's policy: Guaranteed pods are the last the kernel kills,
 * BestEffort the first, Burstable in between by how much memory they asked for.
 * https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/qos/policy.go
 */
export function oomScoreAdj(qos: QOSClass, c: V1Container | undefined, memoryCapacityBytes: number): number {
  if (c === undefined) return -998; // the sandbox
  if (qos === 'Guaranteed') return -997;
  if (qos === 'BestEffort') return 1000;
  const request = bytes(c.resources?.requests?.memory ?? c.resources?.limits?.memory);
  const adj = 1000 - Math.floor((1000 * request) / Math.max(1, memoryCapacityBytes));
  // Keep Burstable strictly between Guaranteed and BestEffort.
  return Math.min(999, Math.max(3, adj));
}
