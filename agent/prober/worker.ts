// One worker per probe per container instance, as kubelet's prober/worker.go: it probes on a
// fixed grid of times, feeds the threshold state machine, and reports changes.
//
// Timing: attempts are due at phase + k * period on the scheduler's monotonic clock. The next
// due time is computed from the intended one, never from when the last attempt finished, so a
// slow probe or a busy event loop does not make the schedule drift; a worker that fell more than
// a period behind skips the missed slots instead of bursting to catch up.
//
// Never two attempts in flight: a slot that comes while the previous attempt is still within its
// timeout is deferred until it finishes. A slot that comes while an attempt has outlived its
// timeout (an exec that docker could not kill) counts as a failure without starting another
// one, so a wedged container still crosses failureThreshold.
import type { Cancel, Scheduler } from './scheduler.js';
import { ProbeConnections, type ProbeRunner } from './run.js';
import type { ProbeSpec, ProbeType } from '../podspec/probe-spec.js';
import { initialThresholdState, observeResult, type ThresholdState } from './thresholds.js';
import type { ProbeOutcome, ProbeTarget } from './types.js';

export interface WorkerHooks {
  /** False while a startup probe holds this worker back: the slot passes without a probe. */
  canProbe(): boolean;
  /** Every attempt's outcome (metrics, logs, timing). */
  attempted(
    w: ProbeWorker,
    outcome: ProbeOutcome,
    intendedAt: number | undefined,
    startedAt: number,
    durationMs: number,
  ): void;
  /** The reported (thresholded) result changed. */
  changed(w: ProbeWorker, result: 'success' | 'failure', message: string): void;
}

export interface WorkerTiming {
  /** When the first attempt is due. */
  firstDue: number;
  /** Any point of the grid later attempts sit on. */
  phase: number;
  /** No attempt before this (initialDelaySeconds after the container started). */
  earliest: number;
}

export class ProbeWorker {
  state: ThresholdState;
  private cancelTimer: Cancel | undefined;
  private inFlight: { startedAt: number; deadline: number; cancel(): void } | undefined;
  private deferred: { intendedAt: number | undefined } | undefined;
  private stopped = false;
  /**
   * Nothing more to do for this container instance: a liveness or startup probe failed (no more
   * probing until a new instance appears), or a startup probe succeeded (it runs only until then).
   */
  private finished = false;
  private readonly periodMs: number;
  private onGrid = false;
  /** Connections kept between this worker's probes (gRPC); closed when it stops or finishes. */
  private readonly connections = new ProbeConnections();

  constructor(
    readonly type: ProbeType,
    readonly spec: ProbeSpec,
    readonly target: ProbeTarget,
    private readonly scheduler: Scheduler,
    private readonly run: ProbeRunner,
    private readonly hooks: WorkerHooks,
    private readonly timing: WorkerTiming,
  ) {
    this.state = initialThresholdState(type);
    this.periodMs = spec.periodSeconds * 1000;
  }

  start(): void {
    if (this.stopped || this.cancelTimer) return;
    this.arm(this.timing.firstDue);
  }

  /** Stop for good: no timer, the attempt in flight aborted and its result ignored. */
  stop(): void {
    this.stopped = true;
    this.disarm();
    this.deferred = undefined;
    this.inFlight?.cancel();
    this.connections.close();
  }

  /** Probe now, off the grid (readiness right after startup succeeded), if allowed. */
  trigger(): void {
    if (this.stopped || this.finished || this.scheduler.now() < this.timing.earliest) return;
    this.attempt(undefined);
  }

  private arm(due: number): void {
    this.cancelTimer = this.scheduler.at(due, () => this.slot(due));
  }

  private disarm(): void {
    this.cancelTimer?.();
    this.cancelTimer = undefined;
  }

  private slot(intendedAt: number): void {
    this.cancelTimer = undefined;
    if (this.stopped || this.finished) return;
    // Schedule the next slot first, from the intended time: the grid does not move.
    this.arm(this.nextDue(intendedAt));
    this.attempt(intendedAt);
  }

  /** The first grid point after this slot that is still in the future. */
  private nextDue(intendedAt: number): number {
    const p = this.periodMs;
    let next: number;
    if (!this.onGrid) {
      // The first attempt came at initialDelaySeconds; from now on, the worker's own grid.
      const { phase } = this.timing;
      next = phase + (Math.floor((intendedAt - phase) / p) + 1) * p;
      if (next <= intendedAt) next += p; // floating point: never the same slot twice
      this.onGrid = true;
    } else {
      next = intendedAt + p;
    }
    const now = this.scheduler.now();
    while (next <= now) next += p; // more than a period behind: skip, do not burst
    return next;
  }

  private attempt(intendedAt: number | undefined): void {
    if (!this.hooks.canProbe()) return;
    const now = this.scheduler.now();
    if (this.inFlight) {
      if (now < this.inFlight.deadline) {
        this.deferred = { intendedAt };
      } else {
        const secs = ((now - this.inFlight.startedAt) / 1000).toFixed(1);
        this.record(
          {
            result: 'failure',
            message: `timeout after ${this.spec.timeoutSeconds}s: the previous probe is still running ${secs}s after it started; not starting another`,
          },
          intendedAt,
          now,
          0,
        );
      }
      return;
    }
    const running = this.run(this.spec, this.target, this.connections);
    const flight = { startedAt: now, deadline: now + this.spec.timeoutSeconds * 1000, cancel: running.cancel };
    this.inFlight = flight;
    running.outcome.then((o) => this.record(o, intendedAt, now, this.scheduler.now() - now));
    running.done.then(() => {
      if (this.inFlight !== flight) return;
      this.inFlight = undefined;
      const d = this.deferred;
      this.deferred = undefined;
      if (d && !this.stopped && !this.finished) this.attempt(d.intendedAt);
    });
  }

  private record(o: ProbeOutcome, intendedAt: number | undefined, startedAt: number, durationMs: number): void {
    if (this.stopped || this.finished) return;
    this.hooks.attempted(this, o, intendedAt, startedAt, durationMs);
    if (o.result === 'unknown') return;
    const { state, changed } = observeResult(this.state, o.result, this.spec);
    this.state = state;
    if (!changed) return;
    // A failed liveness or startup probe means the container is going to be killed: kubelet stops
    // probing it until a new instance appears, partly because exec into a dying container can
    // wedge the runtime. A startup probe runs only until its first success.
    if (this.type === 'startup' || (o.result === 'failure' && this.type === 'liveness')) {
      this.finished = true;
      this.disarm();
      this.connections.close();
    }
    this.hooks.changed(this, o.result, o.message);
  }
}
