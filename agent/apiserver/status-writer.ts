// Writes the statuses of apiserver pods to their status subresource, as kubelet's status manager:
// only when a status differs from the one last written (cached per UID), and at once when the
// agent's StatusManager reports a change (no polling), so a readiness flip reaches the apiserver
// within one request's time. One request per pod at a time; changes that arrive meanwhile are
// coalesced into the next write. A merge patch carrying metadata.uid cannot land on a new pod
// that reuses the name: the apiserver refuses to change a UID.
import { performance } from 'node:perf_hooks';
import type { CoreV1Api, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { ApiRetryBackoff } from '../kube/backoff.js';
import { apiErrorMessage, isNotFound, requestOptions } from '../kube/client.js';
import { stableStringify } from '../podspec/hash.js';
import type { StatusManager } from '../status/status-manager.js';
import { ANNOTATIONS } from '../sources/types.js';
import { API_SOURCE } from './pod-source.js';

interface Entry {
  namespace: string;
  /** The UID of the object in the apiserver (a mirror pod's differs from its static pod's). */
  apiUid: string;
  name: string;
  pending?: V1PodStatus;
  /** When the agent observed the oldest change in `pending` (performance.now()); the write latency is measured from it. */
  pendingSince?: number;
  writtenKey?: string;
  written?: V1PodStatus;
  busy: boolean;
  retry?: NodeJS.Timeout;
  backoff: ApiRetryBackoff;
}

const readyOf = (s?: V1PodStatus) => s?.conditions?.find((c) => c.type === 'Ready')?.status;

export const fromApi = (p: V1Pod) => p.metadata?.annotations?.[ANNOTATIONS.configSource] === API_SOURCE;

/** The status as JSON would carry it: Dates as ISO strings, undefined fields dropped. */
export function statusKey(s: V1PodStatus): string {
  return stableStringify(JSON.parse(JSON.stringify(s)) as unknown);
}

export class StatusWriter {
  private readonly entries = new Map<string, Entry>();
  private unsubscribe?: () => void;
  private stopped = false;
  /** Writes done, for tests and metrics. */
  writes = 0;

  /** Statuses of pods from other sources (static pods), for their mirror pods. */
  onStaticStatus?: (uid: string, p: { pod: V1Pod; status: V1PodStatus } | undefined) => void;

  constructor(
    private readonly o: {
      core: CoreV1Api;
      statuses: StatusManager;
      logger: Logger;
      /** Seconds from the StatusManager's set (the agent observed the change) to the end of the PATCH. */
      observeLatency?: (seconds: number) => void;
    },
  ) {}

  start(): void {
    this.unsubscribe = this.o.statuses.subscribe((uid, p) => {
      if (p && fromApi(p.pod)) this.set(p.pod, p.status);
      else if (!p || !fromApi(p.pod)) this.onStaticStatus?.(uid, p);
    });
    for (const p of this.o.statuses.list()) {
      if (fromApi(p.pod)) this.set(p.pod, p.status);
      else this.onStaticStatus?.(p.pod.metadata!.uid!, p);
    }
  }

  /** Queue `status` for the pod; written now unless a write for it is in flight. */
  set(pod: V1Pod, status: V1PodStatus): void {
    this.setFor(pod.metadata!.uid!, pod.metadata!.namespace!, pod.metadata!.name!, pod.metadata!.uid!, status);
  }

  /** Queue `status` under `key` for the object namespace/name whose UID is apiUid (a mirror pod). */
  setFor(key: string, namespace: string, name: string, apiUid: string, status: V1PodStatus): void {
    if (this.stopped) return;
    const uid = key;
    let e = this.entries.get(uid);
    if (e && e.apiUid !== apiUid) {
      this.forget(uid); // a new object (a mirror pod recreated): nothing written to it yet
      e = undefined;
    }
    if (!e) {
      e = { namespace, name, apiUid, busy: false, backoff: new ApiRetryBackoff(500, 10_000) };
      this.entries.set(uid, e);
    }
    if (statusKey(status) === e.writtenKey) {
      e.pending = undefined;
      e.pendingSince = undefined;
      return;
    }
    e.pending = status;
    e.pendingSince ??= performance.now();
    if (!e.busy && !e.retry) void this.flush(uid, e);
  }

  /** The status last written for the pod. */
  lastWritten(uid: string): V1PodStatus | undefined {
    return this.entries.get(uid)?.written;
  }

  /** Write `status` now and wait for it (the final status of a deleted pod). */
  async writeNow(pod: V1Pod, status: V1PodStatus): Promise<void> {
    this.set(pod, status);
    const uid = pod.metadata!.uid!;
    for (let i = 0; i < 100; i++) {
      const e = this.entries.get(uid);
      if (!e || (!e.pending && !e.busy)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /**
   * The pods as the apiserver shows them: where someone else changed the Ready condition (the node
   * controller marks pods not ready on a node it thinks is gone), the cached status is no longer
   * what the apiserver holds, so ours is written again.
   */
  observe(pods: V1Pod[]): void {
    for (const p of pods) {
      const uid = p.metadata!.uid!;
      const e = this.entries.get(uid);
      if (!e?.written || e.busy || e.pending) continue;
      if (readyOf(p.status) !== readyOf(e.written)) {
        this.o.logger.info('pod status in the apiserver differs from the one written; writing it again', {
          pod: `${e.namespace}/${e.name}`,
          apiserver: readyOf(p.status),
          ours: readyOf(e.written),
        });
        const status = e.written;
        e.writtenKey = undefined;
        e.pending = status;
        e.pendingSince = undefined; // a repair, not a change the agent observed: not a latency sample
        void this.flush(uid, e);
      }
    }
  }

  /**
   * The apiserver answers again (the pod watch got something): writes waiting out a back-off are
   * made now, so a change seen while it was away reaches it at once rather than up to 10 s later.
   */
  retryNow(): void {
    for (const [uid, e] of this.entries) {
      if (!e.retry || e.busy) continue;
      clearTimeout(e.retry);
      e.retry = undefined;
      void this.flush(uid, e);
    }
  }

  /** The pod is gone from the apiserver: forget it. */
  forget(uid: string): void {
    const e = this.entries.get(uid);
    if (e?.retry) clearTimeout(e.retry);
    this.entries.delete(uid);
  }

  private async flush(uid: string, e: Entry): Promise<void> {
    while (e.pending && !this.stopped && this.entries.get(uid) === e) {
      const status = e.pending;
      const since = e.pendingSince;
      const key = statusKey(status);
      e.pending = undefined;
      e.pendingSince = undefined;
      if (key === e.writtenKey) continue;
      e.busy = true;
      const started = Date.now();
      try {
        await this.o.core.patchNamespacedPodStatus(
          {
            name: e.name,
            namespace: e.namespace,
            body: { metadata: { uid: e.apiUid }, status: JSON.parse(JSON.stringify(status)) as V1PodStatus },
          },
          requestOptions({ timeoutMs: 10_000, patch: 'MergePatch' }),
        );
        const end = performance.now();
        if (since !== undefined) this.o.observeLatency?.((end - since) / 1000);
        // Phase and Ready transitions at info (what a person follows), other writes at debug.
        const ready = readyOf(status);
        const transition = ready !== readyOf(e.written) || status.phase !== e.written?.phase;
        e.writtenKey = key;
        e.written = status;
        e.backoff.reset();
        this.writes++;
        this.o.logger[transition ? 'info' : 'debug']('wrote pod status', {
          pod: `${e.namespace}/${e.name}`,
          phase: status.phase,
          ready,
          ms: Date.now() - started,
          sinceObservedMs: since === undefined ? undefined : Math.round(end - since),
        });
      } catch (err) {
        if (isNotFound(err)) {
          this.forget(uid);
          return;
        }
        if (!e.pending) e.pending = status;
        if (since !== undefined) e.pendingSince = Math.min(since, e.pendingSince ?? since);
        const delay = e.backoff.next();
        this.o.logger.warn('writing pod status failed; retrying', {
          pod: `${e.namespace}/${e.name}`,
          error: apiErrorMessage(err),
          retryInMs: delay,
        });
        e.retry = setTimeout(() => {
          e.retry = undefined;
          void this.flush(uid, e);
        }, delay);
        e.retry.unref();
        return;
      } finally {
        e.busy = false;
      }
    }
  }

  stop(): void {
    this.stopped = true;
    this.unsubscribe?.();
    for (const e of this.entries.values()) if (e.retry) clearTimeout(e.retry);
  }
}
