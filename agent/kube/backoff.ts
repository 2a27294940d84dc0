// Retry pacing for requests to an apiserver that may be away: exponential back-off with a cap,
// as kubelet's registration (100 ms -> 7 s) and lease renewal (200 ms -> 7 s) use, plus a
// little jitter so that many nodes coming back at once do not retry in lock-step. Not to be mixed
// up with podspec/backoff.ts's Backoff, kubelet's per-container flowcontrol.Backoff behind
// CrashLoopBackOff and ImagePullBackOff: this one paces one loop's retries, with no key and no clock.

/** The n-th delay (n from 0), without jitter (pure). */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number): number {
  return Math.min(maxMs, initialMs * 2 ** Math.min(attempt, 30));
}

export class ApiRetryBackoff {
  private attempt = 0;
  constructor(
    private readonly initialMs: number,
    private readonly maxMs: number,
    private readonly jitter = 0.1,
  ) {}
  next(): number {
    const d = backoffDelay(this.attempt++, this.initialMs, this.maxMs);
    return Math.round(d * (1 + this.jitter * Math.random()));
  }
  reset(): void {
    this.attempt = 0;
  }
}

/** Waits `ms`, or less if `signal` aborts first (never rejects): how every loop here stops. */
export function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}
