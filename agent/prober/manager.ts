// The prober: probe workers for every running container instance, and what they concluded.
// The agent's pod workers call addContainer when a container instance starts running and
// removeContainer/removePod when it goes; they read isStarted/isReady when they compute status,
// and get onChange the moment a thresholded result changes (so Ready is written at once, and a
// container that failed liveness or startup is killed and restarted by its pod worker).
// Shape: kubelet's pkg/kubelet/prober (prober_manager.go,
// worker.go, results cache), re-expressed with one scheduler instead of one goroutine per probe.
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { ContainerProbes } from './container-probes.js';
import { ProbeMetrics } from './metrics.js';
import { runProbe, type ProbeRunner } from './run.js';
import { TimerScheduler, type Scheduler } from './scheduler.js';
import type { ProbeType } from '../podspec/probe-spec.js';
import type { ProbeChange, ProbeOutcome, ProbeTarget, ProbeTiming } from './types.js';

export type { ProbeChange, ProbeTarget, ProbeTiming, ProbeOutcome, ProbeResult } from './types.js';
export { validateProbes, type FieldError } from '../podspec/probe-validation.js';

/** One probe attempt worth an Event: kubelet records one for every failed (or errored) attempt. */
export interface ProbeEvent {
  podUid: string;
  pod: V1Pod;
  containerName: string;
  probe: ProbeType;
  type: 'Warning';
  reason: 'Unhealthy' | 'ProbeWarning';
  message: string;
}

export interface ProbeManagerOptions {
  logger: Logger;
  onChange: (c: ProbeChange) => void;
  // Extensions (all optional):
  /** Every failed, errored or warning attempt (Events); when set, these are not logged here (the recorder logs them). */
  onEvent?: (e: ProbeEvent) => void;
  /** Every probe attempt's timing (benchmarks, tests). */
  onProbe?: (t: ProbeTiming) => void;
  /** Clock and timers (tests inject a ManualScheduler). */
  scheduler?: Scheduler;
  /** Runs one probe attempt (tests inject scripted outcomes). */
  run?: ProbeRunner;
  /** Jitter source, in [0, 1). */
  random?: () => number;
}

const TYPE_WORD: Record<ProbeType, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };

export class ProbeManager {
  private readonly pods = new Map<string, Map<string, ContainerProbes>>();
  private readonly metrics = new ProbeMetrics();
  private readonly scheduler: Scheduler;
  private readonly startedAt: number;
  private stopped = false;

  constructor(private readonly opts: ProbeManagerOptions) {
    this.scheduler = opts.scheduler ?? new TimerScheduler();
    this.startedAt = this.scheduler.now();
  }

  /** A container instance started running. The same containerId again is a no-op; a new one starts over. */
  addContainer(podUid: string, target: ProbeTarget): void {
    if (this.stopped) throw new Error('ProbeManager: addContainer after stop()');
    const name = target.container.name;
    let containers = this.pods.get(podUid);
    const existing = containers?.get(name);
    if (existing && existing.containerId === target.containerId) {
      existing.target = target; // fresher pod spec or podIP accessor, same instance
      return;
    }
    existing?.stop();
    if (!containers) this.pods.set(podUid, (containers = new Map()));
    containers.set(
      name,
      new ContainerProbes(podUid, target, {
        scheduler: this.scheduler,
        run: this.opts.run ?? runProbe,
        random: this.opts.random ?? Math.random,
        managerStartedAt: this.startedAt,
        logger: this.logger(podUid, target),
        attempted: (c, w, o, intendedAt, startedAt, durationMs) =>
          this.probeAttempted(podUid, c, w.type, o, intendedAt, startedAt, durationMs),
        changed: (c, type, result, message) => {
          this.logger(podUid, c.target).info('probe result changed', { probe: type, result, message });
          this.opts.onChange({
            podUid,
            containerName: c.containerName,
            containerId: c.containerId,
            type,
            result,
            message,
          });
        },
      }),
    );
  }

  /** One probe attempt ran: count it (prober_probe_total), report it, and pass its timing on. */
  private probeAttempted(
    podUid: string,
    c: ContainerProbes,
    type: ProbeType,
    o: ProbeOutcome,
    intendedAt: number | undefined,
    startedAt: number,
    durationMs: number,
  ): void {
    // The counter is looked up once per worker and result, not built per probe.
    const byResult = (c.counters[type] ??= {});
    const counter = (byResult[o.result] ??= this.metrics.counter(
      podUid,
      c.target.pod.metadata?.namespace ?? 'default',
      c.target.pod.metadata?.name ?? '',
      c.containerName,
      type,
      o.result,
    ));
    counter.count++;
    this.reportAttempt(podUid, c, type, o);
    this.opts.onProbe?.({
      podUid,
      containerName: c.containerName,
      type,
      intendedAt,
      startedAt,
      durationMs,
      result: o.result,
    });
  }

  /** A failed, errored or warning attempt: an Event when there is a recorder, else a log line. */
  private reportAttempt(podUid: string, c: ContainerProbes, type: ProbeType, o: ProbeOutcome): void {
    const log = () => this.logger(podUid, c.target);
    const onEvent = this.opts.onEvent;
    if (onEvent && (o.result !== 'success' || o.warning)) {
      const word = TYPE_WORD[type];
      const [reason, message] =
        o.result === 'failure'
          ? (['Unhealthy', `${word} probe failed: ${o.message}`] as const)
          : o.result === 'unknown'
            ? (['Unhealthy', `${word} probe errored: ${o.message}`] as const)
            : (['ProbeWarning', `${word} probe warning: ${o.warning}`] as const);
      onEvent({
        podUid,
        pod: c.target.pod,
        containerName: c.containerName,
        probe: type,
        type: 'Warning',
        reason,
        message,
      });
    } else if (o.result === 'failure') {
      // kubelet records an Unhealthy event for every failed attempt.
      log().warn('Unhealthy', {
        reason: 'Unhealthy',
        probe: type,
        message: `${TYPE_WORD[type]} probe failed: ${o.message}`,
      });
    } else if (o.result === 'unknown') {
      log().warn('probe could not run', {
        probe: type,
        message: `${TYPE_WORD[type]} probe errored: ${o.message}`,
      });
    } else if (o.warning) {
      log().warn('ProbeWarning', {
        reason: 'ProbeWarning',
        probe: type,
        message: `${TYPE_WORD[type]} probe warning: ${o.warning}`,
      });
    }
  }

  removeContainer(podUid: string, containerName: string): void {
    const containers = this.pods.get(podUid);
    containers?.get(containerName)?.stop();
    containers?.delete(containerName);
  }

  removePod(podUid: string): void {
    for (const c of this.pods.get(podUid)?.values() ?? []) c.stop();
    this.pods.delete(podUid);
    this.metrics.forgetPod(podUid);
  }

  /** True if no startup probe or it has succeeded (false for a container not added). */
  isStarted(podUid: string, containerName: string): boolean {
    return this.pods.get(podUid)?.get(containerName)?.isStarted() ?? false;
  }

  /** True if started and (no readiness probe or it is passing); false for a container not added. */
  isReady(podUid: string, containerName: string): boolean {
    return this.pods.get(podUid)?.get(containerName)?.isReady() ?? false;
  }

  metricsText(): string {
    return this.metrics.text();
  }

  /** Stop every worker and the scheduler's timer. */
  stop(): void {
    this.stopped = true;
    for (const containers of this.pods.values()) for (const c of containers.values()) c.stop();
    this.pods.clear();
    this.scheduler.stop();
  }

  private logger(podUid: string, target: ProbeTarget): Logger {
    const meta = target.pod.metadata;
    return this.opts.logger.with({
      pod: `${meta?.namespace ?? 'default'}/${meta?.name ?? ''}`,
      podUid,
      container: target.container.name,
      containerId: target.containerId,
    });
  }
}
