// spec.activeDeadlineSeconds, as kubelet's activeDeadlineHandler (pkg/kubelet/active_deadline.go):
// once the pod has been active on the node (since status.startTime) for that long, it is killed
// and its phase becomes Failed with reason DeadlineExceeded. The field may be lowered on a running
// pod, so it is evaluated on every sync, and a sync is requested for the moment it falls due. Pure.
import type { V1Pod } from '@kubernetes/client-node';

export const DEADLINE_EXCEEDED = {
  reason: 'DeadlineExceeded',
  message: 'Pod was active on the node longer than the specified deadline',
} as const;

/**
 * Milliseconds left before the pod's active deadline (0 or less: it has passed); undefined when
 * the pod has no deadline or no start time yet (kubelet does not count before the pod started).
 */
export function activeDeadlineRemainingMs(
  pod: V1Pod,
  startTime: Date | string | undefined,
  now: number,
): number | undefined {
  const seconds = pod.spec?.activeDeadlineSeconds;
  if (seconds === undefined || seconds === null || startTime === undefined) return undefined;
  const start = new Date(startTime).getTime();
  if (!Number.isFinite(start)) return undefined;
  return start + seconds * 1000 - now;
}
