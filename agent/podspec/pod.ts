// Small facts read off a pod, used by every layer: its key in logs, its termination grace period,
// and Go's way of printing the durations that appear in its messages.
import type { V1Pod } from '@kubernetes/client-node';

export function podKey(pod: V1Pod): string {
  return `${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})`;
}

export function gracePeriodSeconds(pod: V1Pod, labels?: Record<string, string>): number {
  const fromLabel = labels ? Number(labels['io.kubernetes.pod.terminationGracePeriod']) : NaN;
  return pod.spec?.terminationGracePeriodSeconds ?? (Number.isFinite(fromLabel) ? fromLabel : 30);
}

/** "10s", "1m20s", "5m0s", as Go's time.Duration prints back-off delays. */
export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  return `${Math.floor(s / 60)}m${s % 60}s`;
}
