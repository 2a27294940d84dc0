// A steady request loop against a NodePort, and what its samples say: how many requests failed,
// for how long, and which pods answered. The loop opens a new connection per request (no
// keep-alive), so every request is load-balanced afresh by the proxy's rules, as a curl loop is.
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';

export interface Sample {
  /** ms since the loop started */
  start: number;
  end: number;
  ok: boolean;
  pod?: string;
  node?: string;
  error?: string;
}

/** "pod=demo-x ip=10.244.1.5 node=kn-node2" -> its parts; undefined for anything else. */
export function parseAnswer(body: string): { pod: string; ip: string; node: string } | undefined {
  const m = /^pod=(\S+) ip=(\S*) node=(\S+)/.exec(body.trim());
  return m ? { pod: m[1]!, ip: m[2]!, node: m[3]! } : undefined;
}

export function getOnce(url: string, timeoutMs: number): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, headers: { connection: 'close' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() });
      });
      res.on('error', (e) => {
        clearTimeout(timer);
        reject(e);
      });
    });
    const timer = setTimeout(() => req.destroy(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
    req.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    req.end();
  });
}

export class RequestLoop {
  readonly samples: Sample[] = [];
  private t0 = 0;
  private timer?: NodeJS.Timeout;
  private inflight = new Set<Promise<void>>();
  private k = 0;

  constructor(
    private readonly url: string,
    private readonly ratePerSecond = 20,
    private readonly timeoutMs = 1000,
  ) {}

  /** ms since start() */
  now(): number {
    return performance.now() - this.t0;
  }

  start(): void {
    this.t0 = performance.now();
    const period = 1000 / this.ratePerSecond;
    // Scheduled against the start time, not the previous tick, so the rate does not drift.
    const tick = () => {
      this.fire();
      this.k++;
      this.timer = setTimeout(tick, Math.max(0, this.k * period - this.now()));
    };
    tick();
  }

  private fire(): void {
    const start = this.now();
    const p = getOnce(this.url, this.timeoutMs).then(
      ({ status, body }) => {
        const a = parseAnswer(body);
        this.samples.push({
          start,
          end: this.now(),
          ok: status === 200 && a !== undefined,
          pod: a?.pod,
          node: a?.node,
          ...(status === 200 && a ? {} : { error: `HTTP ${status}: ${body.slice(0, 80)}` }),
        });
      },
      (e: Error) => {
        this.samples.push({ start, end: this.now(), ok: false, error: e.message });
      },
    );
    const tracked = p.finally(() => this.inflight.delete(tracked));
    this.inflight.add(tracked);
  }

  async stop(): Promise<Sample[]> {
    clearTimeout(this.timer);
    await Promise.all([...this.inflight]);
    return this.samples.sort((a, b) => a.start - b.start);
  }
}

export interface TrafficSummary {
  requests: number;
  failed: number;
  /** From the start of the first failed request to the end of the last one; 0 with no failure. */
  windowSeconds: number;
  /** Answers per pod before the action, and in the settled period at the end. */
  podsBefore: Record<string, number>;
  podsAfter: Record<string, number>;
  /** Why requests failed, counted ("no answer within 1000 ms": 12). */
  errors: Record<string, number>;
}

const countBy = (samples: Sample[], key: (s: Sample) => string | undefined) => {
  const out: Record<string, number> = {};
  for (const s of samples) {
    const k = key(s);
    if (k !== undefined) out[k] = (out[k] ?? 0) + 1;
  }
  return out;
};

/** Pure: samples in, figures out. actionAt/settledFrom are loop times (ms). */
export function summarize(samples: readonly Sample[], actionAt: number, settledFrom: number): TrafficSummary {
  const failed = samples.filter((s) => !s.ok);
  const windowMs = failed.length ? Math.max(...failed.map((s) => s.end)) - Math.min(...failed.map((s) => s.start)) : 0;
  return {
    requests: samples.length,
    failed: failed.length,
    windowSeconds: windowMs / 1000,
    podsBefore: countBy(
      samples.filter((s) => s.start < actionAt),
      (s) => s.pod,
    ),
    podsAfter: countBy(
      samples.filter((s) => s.start >= settledFrom),
      (s) => s.pod,
    ),
    errors: countBy(failed, (s) => (s.error ?? 'failed').replace(/\d+\.\d+\.\d+\.\d+:\d+/g, 'ADDR')),
  };
}

/** The last answer from a pod at or after a time (loop ms), or undefined. */
export function lastAnswerFrom(samples: readonly Sample[], pod: string, after = 0): Sample | undefined {
  let last: Sample | undefined;
  for (const s of samples) if (s.ok && s.pod === pod && s.start >= after && (!last || s.start > last.start)) last = s;
  return last;
}

export function formatPods(counts: Record<string, number>): string {
  const e = Object.entries(counts).sort(([a], [b]) => a.localeCompare(b));
  return e.length ? e.map(([p, n]) => `${p} (${n})`).join(', ') : '(none)';
}
