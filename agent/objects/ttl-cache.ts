// kubelet's cache-based strategy for the objects pods reference (its
// configMapAndSecretChangeDetectionStrategy "Cache", pkg/kubelet/util/manager/cache_based_manager.go):
// a plain GET whose answer is kept for a short TTL, and fetched again by the next pod sync that
// asks after it went stale. No watches: under the Node authorizer a node may only GET the objects
// of its own pods, one by one, and a handful of GETs per sync period is cheaper for the apiserver
// than one watch per referenced object. A pod that references an object for the first time always
// gets a fresh copy (kubelet's AddReference does the same), so a new pod never starts with data one
// TTL old. Failures (forbidden, apiserver away) and absent answers (null: not found) are not
// cached: a pod waiting for an object starts on the first retry after it appears. An immutable
// object (`immutable: true`) cannot change, so its copy never goes stale, as in kubelet; a new
// pod's first reference still fetches it (it may have been deleted and made again).

interface Entry<T> {
  value?: T;
  fetchedAt: number;
  inflight?: Promise<T>;
  pods: Set<string>;
}

export class TtlCache<T> {
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly now: () => number = Date.now,
    private readonly immutable: (v: T) => boolean = () => false,
  ) {}

  /** The cached value when fresh and already seen by `podUid`; else one fetch shared by concurrent callers. */
  async get(key: string, podUid: string, fetch: () => Promise<T>): Promise<T> {
    let e = this.entries.get(key);
    if (!e) {
      e = { fetchedAt: 0, pods: new Set() };
      this.entries.set(key, e);
    }
    const firstReference = !e.pods.has(podUid);
    e.pods.add(podUid);
    if (
      !firstReference &&
      e.value !== undefined &&
      e.value !== null &&
      (this.immutable(e.value) || this.now() < e.fetchedAt + this.ttlMs)
    )
      return e.value;
    if (e.inflight) return e.inflight;
    const entry = e;
    const started = this.now();
    entry.inflight = fetch()
      .then(
        (v) => {
          entry.value = v ?? undefined;
          entry.fetchedAt = started;
          return v;
        },
        (err: unknown) => {
          // A failed fetch leaves nothing behind: the next caller asks the apiserver again.
          entry.value = undefined;
          throw err;
        },
      )
      .finally(() => {
        entry.inflight = undefined;
      });
    return entry.inflight;
  }

  /** The pod is gone: objects no other pod references are dropped. */
  forgetPod(podUid: string): void {
    for (const [key, e] of this.entries) {
      e.pods.delete(podUid);
      if (e.pods.size === 0 && !e.inflight) this.entries.delete(key);
    }
  }

  get size(): number {
    return this.entries.size;
  }
}
