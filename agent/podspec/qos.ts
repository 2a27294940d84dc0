// The pod's quality-of-service class, as kubelet computes it: it decides where the pod's cgroup
// lives (kubepods/, kubepods/burstable/, kubepods/besteffort/) and its OOM score.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/v1/helper/qos/qos.go
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { parseQuantity, quantityMilliValue } from '../../lib/quantity.js';

export type QOSClass = 'Guaranteed' | 'Burstable' | 'BestEffort';

// Only CPU and memory take part in QoS.
const qosResources = ['cpu', 'memory'] as const;

function positive(v: string | number | undefined): boolean {
  if (v === undefined) return false;
  try {
    return parseQuantity(v as string).numerator > 0n;
  } catch {
    return false;
  }
}

export function getPodQOS(pod: V1Pod): QOSClass {
  const containers: V1Container[] = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
  let anyRequest = false;
  let anyLimit = false;
  let guaranteed = true;
  for (const c of containers) {
    const requests = c.resources?.requests ?? {};
    const limits = c.resources?.limits ?? {};
    for (const r of qosResources) {
      const req = positive(requests[r]) ? requests[r] : undefined;
      const lim = positive(limits[r]) ? limits[r] : undefined;
      if (req !== undefined) anyRequest = true;
      if (lim !== undefined) anyLimit = true;
      // Guaranteed needs a limit for both resources in every container, and any request equal to it.
      if (lim === undefined) guaranteed = false;
      else if (req !== undefined && quantityMilliValue(req) !== quantityMilliValue(lim)) guaranteed = false;
    }
  }
  if (!anyRequest && !anyLimit) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}
