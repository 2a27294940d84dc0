// The latest status of every pod the agent runs, as the read-only API serves it. Like kubelet's
// status manager it keeps what it last produced and knows whether a new status is a change (the
// apiserver status writer patches only on change, and subscribes here).
import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import { stableStringify } from '../podspec/hash.js';

export interface PodWithStatus {
  pod: V1Pod;
  status: V1PodStatus;
}

export class StatusManager {
  private pods = new Map<string, PodWithStatus & { key: string }>();
  private listeners = new Set<(uid: string, p: PodWithStatus | undefined) => void>();

  /** Store a status; returns true when it differs from the stored one. */
  set(pod: V1Pod, status: V1PodStatus): boolean {
    const uid = pod.metadata!.uid!;
    const key = stableStringify(status);
    const old = this.pods.get(uid);
    if (old && old.key === key && old.pod === pod) return false;
    this.pods.set(uid, { pod, status, key });
    if (!old || old.key !== key) for (const l of this.listeners) l(uid, { pod, status });
    return !old || old.key !== key;
  }

  get(uid: string): PodWithStatus | undefined {
    return this.pods.get(uid);
  }

  delete(uid: string): void {
    if (this.pods.delete(uid)) for (const l of this.listeners) l(uid, undefined);
  }

  list(): PodWithStatus[] {
    return [...this.pods.values()].map(({ pod, status }) => ({ pod, status }));
  }

  /** The pod with its status, as the API shows it. */
  podWithStatus(uid: string): V1Pod | undefined {
    const p = this.pods.get(uid);
    return p ? { ...p.pod, status: p.status } : undefined;
  }

  subscribe(fn: (uid: string, p: PodWithStatus | undefined) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }
}
