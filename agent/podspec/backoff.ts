// Exponential back-off per key, as kubelet's flowcontrol.Backoff: the first delay is 10 s and it
// doubles on every restart up to 5 minutes. An entry whose last event is older than twice the
// maximum (10 minutes) starts over: a container that ran for 10 minutes is forgiven its past.
// Pure apart from the clock, which callers pass in.
// https://github.com/kubernetes/client-go/blob/master/util/flowcontrol/backoff.go

export interface BackoffEntry {
  delayMs: number;
  /** Time of the event that last moved this entry (a container's finish time). */
  lastUpdate: number;
}

export class Backoff {
  private entries = new Map<string, BackoffEntry>();

  constructor(
    readonly initialMs = 10_000,
    readonly maxMs = 300_000,
  ) {}

  private expired(e: BackoffEntry, eventTime: number): boolean {
    return eventTime - e.lastUpdate > this.maxMs * 2;
  }

  /** Record one more failure at eventTime; returns the delay that now applies. */
  next(key: string, eventTime: number): number {
    const e = this.entries.get(key);
    if (!e || this.expired(e, eventTime)) {
      this.entries.set(key, { delayMs: this.initialMs, lastUpdate: eventTime });
      return this.initialMs;
    }
    e.delayMs = Math.min(e.delayMs * 2, this.maxMs);
    e.lastUpdate = eventTime;
    return e.delayMs;
  }

  get(key: string): BackoffEntry | undefined {
    return this.entries.get(key);
  }

  /**
   * Still waiting: the failure at eventTime is less than the current delay ago. Returns the
   * remaining milliseconds, or 0 when the thing may be tried again (then call next()). So the first
   * failure is retried at once, the second after 10 s, the third after 20 s, as kubelet does.
   */
  remaining(key: string, eventTime: number, now: number): number {
    const e = this.entries.get(key);
    if (!e || this.expired(e, eventTime)) return 0;
    return Math.max(0, eventTime + e.delayMs - now);
  }

  reset(key: string): void {
    this.entries.delete(key);
  }

  /** Forget everything about keys that start with prefix (a pod's containers, when it goes). */
  resetPrefix(prefix: string): void {
    for (const k of this.entries.keys()) if (k.startsWith(prefix)) this.entries.delete(k);
  }

  /** Drop entries nobody touched for twice the maximum. */
  gc(now: number): void {
    for (const [k, e] of this.entries) if (this.expired(e, now)) this.entries.delete(k);
  }
}
