// The probes of one container instance: its workers, the startup gate that holds liveness and
// readiness back, and the answers to "started?" and "ready?".
import type { Logger } from '../../lib/log.js';
import type { ProbeRunner } from './run.js';
import type { Scheduler } from './scheduler.js';
import { containerProbes, probeField, probeSpec, type ProbeSpec } from '../podspec/probe-spec.js';
import type { ProbeType } from '../podspec/probe-spec.js';
import type { ProbeOutcome, ProbeResult, ProbeTarget } from './types.js';
import { validateProbe } from '../podspec/probe-validation.js';
import { ProbeWorker, type WorkerTiming } from './worker.js';

export interface ContainerProbesDeps {
  scheduler: Scheduler;
  run: ProbeRunner;
  random: () => number;
  /** When the manager started (scheduler clock): the first period after it gets jitter. */
  managerStartedAt: number;
  logger: Logger;
  attempted(
    c: ContainerProbes,
    w: ProbeWorker,
    o: ProbeOutcome,
    intendedAt: number | undefined,
    startedAt: number,
    durationMs: number,
  ): void;
  changed(c: ContainerProbes, type: ProbeType, result: 'success' | 'failure', message: string): void;
}

/**
 * Grid phases are multiples of this many milliseconds of the scheduler's clock. Workers whose
 * phases fall in the same step share one timer wake-up and start their probes together, so 500
 * probes a second cost at most 1000 / PHASE_STEP_MS wake-ups of the event loop instead of 500,
 * while every probe still starts at its exact intended time. 50 steps per 1 s period still
 * spread the load (about 10 probes per step for 500 probes).
 */
export const PHASE_STEP_MS = 20;

/**
 * When a worker probes. The first attempt comes as soon as initialDelaySeconds has passed since
 * the container started, so a new pod turns Ready without waiting a period. Later attempts sit
 * on a grid with a random phase, so pods started together do not probe together. In the
 * manager's first period (the agent just started and adopts every running container at once)
 * the first attempt waits for the grid too, as kubelet jitters its workers after a restart.
 */
export function workerTiming(
  spec: ProbeSpec,
  now: number,
  startedAt: number,
  young: boolean,
  random: () => number,
): WorkerTiming {
  const period = spec.periodSeconds * 1000;
  const earliest = startedAt + spec.initialDelaySeconds * 1000;
  const phase = Math.floor((now + random() * period) / PHASE_STEP_MS) * PHASE_STEP_MS;
  const notBefore = Math.max(now, earliest);
  const firstDue = young ? phase + Math.max(0, Math.ceil((notBefore - phase) / period)) * period : notBefore;
  return { firstDue, phase, earliest };
}

export class ContainerProbes {
  readonly containerId: string;
  private workers = new Map<ProbeType, ProbeWorker>();
  /** Probes that failed validation: never run, so never pass. */
  private invalid = new Set<ProbeType>();
  private started: boolean;
  /** prober_probe_total counters of this container, cached by the manager. */
  readonly counters: Partial<Record<ProbeType, Partial<Record<ProbeResult, { count: number }>>>> = {};

  constructor(
    readonly podUid: string,
    public target: ProbeTarget,
    private readonly deps: ContainerProbesDeps,
  ) {
    this.containerId = target.containerId;
    const now = deps.scheduler.now();
    const startedAt = target.startedAt ? now - Math.max(0, Date.now() - target.startedAt.getTime()) : now;
    const probes = containerProbes(target.container);
    for (const [type, probe] of probes) {
      const errors = validateProbe(probe, type, target.container, `${containerPath(target)}.${probeField(type)}`);
      if (errors.length > 0) {
        // The pod should have been rejected by validateProbes before it got here; say so loudly,
        // and treat the probe as never passing rather than as absent.
        this.invalid.add(type);
        deps.logger.error('invalid probe: it will never pass', { probe: type, errors });
        continue;
      }
      const spec = probeSpec(probe);
      const young = now - deps.managerStartedAt < spec.periodSeconds * 1000;
      const timing = workerTiming(spec, now, startedAt, young, deps.random);
      const worker = new ProbeWorker(
        type,
        spec,
        target,
        deps.scheduler,
        deps.run,
        {
          canProbe: () => type === 'startup' || this.started,
          attempted: (w, o, intendedAt, at, ms) => deps.attempted(this, w, o, intendedAt, at, ms),
          changed: (w, result, message) => this.onChanged(w, result, message),
        },
        timing,
      );
      this.workers.set(type, worker);
    }
    this.started = !probes.has('startup');
    for (const w of this.workers.values()) w.start();
  }

  get containerName(): string {
    return this.target.container.name;
  }

  /** True if there is no startup probe or it has succeeded. */
  isStarted(): boolean {
    return this.started;
  }

  /** True if started and there is no readiness probe or it passes. */
  isReady(): boolean {
    if (!this.started || this.invalid.has('readiness')) return false;
    const r = this.workers.get('readiness');
    return !r || r.state.reported === 'success';
  }

  worker(type: ProbeType): ProbeWorker | undefined {
    return this.workers.get(type);
  }

  stop(): void {
    for (const w of this.workers.values()) w.stop();
  }

  private onChanged(w: ProbeWorker, result: 'success' | 'failure', message: string): void {
    if (w.type === 'startup' && result === 'success') {
      this.started = true;
      // Do not leave the container unready for up to a period: check readiness now (kubelet
      // triggers a readiness run the same way once a container is started).
      this.workers.get('readiness')?.trigger();
    }
    this.deps.changed(this, w.type, result, message);
  }
}

/** "spec.containers[1]" (or initContainers, for a sidecar), for error messages. */
function containerPath(target: ProbeTarget): string {
  const name = target.container.name;
  const i = target.pod.spec?.containers?.findIndex((c) => c.name === name) ?? -1;
  if (i >= 0) return `spec.containers[${i}]`;
  const j = target.pod.spec?.initContainers?.findIndex((c) => c.name === name) ?? -1;
  return j >= 0 ? `spec.initContainers[${j}]` : `container ${JSON.stringify(name)}`;
}
