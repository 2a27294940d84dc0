// The bounded-frequency sync runner (upstream: pkg/util/async/bounded_frequency_runner.go):
// changes ask for a sync, which runs as soon as --min-sync-period allows, so a burst of events
// becomes one sync; and a periodic sync runs at least every --sync-period, repairing whatever was
// changed behind our back (each mode decides how: a full rewrite, or a cheap check first). One
// sync at a time; stop() waits for the one in progress.
import type { Logger } from '../lib/log.js';
import { errorMessage } from '../lib/errors.js';

/** partial: what changed; full: everything (first sync, retry); periodic: --sync-period elapsed. */
export type SyncKind = 'partial' | 'full' | 'periodic';

export interface SyncRunnerOptions {
  minIntervalMs: number;
  /** Periodic resync period (--sync-period). */
  maxIntervalMs: number;
  run: (kind: SyncKind) => Promise<void>;
  log: Logger;
  /** After a failed sync, wait this long before trying again (default: max(minInterval, 1 s)). */
  retryMs?: number;
}

export class SyncRunner {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private pending = false;
  private fullRequested = true;
  private lastStart = -Infinity;
  private lastFull = -Infinity;
  private retryAt = -Infinity;
  private stopped = true;

  constructor(private readonly opts: SyncRunnerOptions) {}

  /** Starts with a full sync at once. */
  start(): void {
    this.stopped = false;
    this.schedule();
  }

  /** Something changed: sync soon. */
  request(): void {
    this.pending = true;
    this.schedule();
  }

  requestFull(): void {
    this.fullRequested = true;
    this.schedule();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.running;
  }

  private schedule(): void {
    if (this.stopped || this.running) return;
    if (this.timer) clearTimeout(this.timer);
    const now = Date.now();
    const earliest = Math.max(this.lastStart + this.opts.minIntervalMs, this.retryAt);
    let due = this.lastFull + this.opts.maxIntervalMs;
    if (this.pending || this.fullRequested) due = Math.min(due, Math.max(earliest, now));
    this.timer = setTimeout(() => this.fire(), Math.max(0, due - now));
  }

  private fire(): void {
    this.timer = undefined;
    if (this.stopped) return;
    const now = Date.now();
    const kind: SyncKind = this.fullRequested
      ? 'full'
      : now >= this.lastFull + this.opts.maxIntervalMs
        ? 'periodic'
        : 'partial';
    this.pending = false;
    this.fullRequested = false;
    this.lastStart = now;
    this.running = this.opts
      .run(kind)
      .then(() => {
        if (kind !== 'partial') this.lastFull = now;
        this.retryAt = -Infinity;
      })
      .catch((e: unknown) => {
        // The proxier makes its next sync a full one after a failure; make sure it happens.
        this.opts.log.error('sync failed; retrying', { kind, error: errorMessage(e) });
        this.fullRequested = true;
        this.retryAt = Date.now() + (this.opts.retryMs ?? Math.max(this.opts.minIntervalMs, 1000));
      })
      .finally(() => {
        this.running = undefined;
        this.schedule();
      });
  }
}
