// Message shapes of kubelet's container events that need a decision (pure).
import type { V1Pod } from '@kubernetes/client-node';

/** kubelet's format.Pod: name_namespace(uid), as it appears in BackOff messages. */
export function formatPod(pod: V1Pod): string {
  const md = pod.metadata ?? {};
  return `${md.name ?? ''}_${md.namespace ?? ''}(${md.uid ?? ''})`;
}

/**
 * The Killing event's message. kubelet gives its reason for kills it decides on ("Container web
 * failed liveness probe, will be restarted", "... definition changed, will be restarted") and
 * "FailedPostStartHook" after a failed hook; any other kill (the pod deleted or finished) is
 * "Stopping container <name>".
 */
export function killingMessage(containerName: string, message: string, reason?: string): string {
  if (reason === 'PostStartHookError') return 'FailedPostStartHook';
  // The probe's own output is already in the Unhealthy events; Killing says what kubelet says.
  if (reason === 'LivenessProbeFailed') return `Container ${containerName} failed liveness probe, will be restarted`;
  if (reason === 'StartupProbeFailed') return `Container ${containerName} failed startup probe, will be restarted`;
  if (message.startsWith(`Container ${containerName} `)) return message;
  return `Stopping container ${containerName}`;
}
