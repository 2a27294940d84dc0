// The eviction manager's loop, as kubelet's (every 10 s, --eviction-monitoring-period here):
// measure the signals, decide the pressure conditions, and when a hard threshold is crossed,
// first reclaim what the node itself holds (dead containers, unused images: only for the
// filesystem they live on), and if that is not enough, evict ONE pod, ranked as kubelet ranks
// them, with a grace period of 0; then wait for it to be cleaned up before the next round.
// Static, mirror and system-critical pods are never evicted. New pods are refused while the
// node is under pressure (kubelet's Admit).
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/pkg/kubelet/eviction/eviction_manager.go
import { stat } from 'node:fs/promises';
import type { V1Pod, V1PodCondition } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { getPodQOS } from '../podspec/qos.js';
import {
  decideRound,
  INITIAL_ROUND,
  thresholdsMet,
  thresholdToReclaim,
  type EvictionRoundState,
  type Observations,
} from './decide.js';
import { measurePod, type PodUsageSources } from './pod-usage.js';
import { evictionMessage, isCriticalPod, rankForEviction } from './rank.js';
import { measureSignals, type SignalSources } from './signals.js';
import type { ConditionType, Signal, Threshold } from './thresholds.js';
import { errorMessage } from '../../lib/errors.js';

/** kubelet's podCleanupTimeout and podCleanupPollFreq. */
const CLEANUP_TIMEOUT_MS = 30_000;
const CLEANUP_POLL_MS = 1000;

export interface EvictionManagerOptions {
  thresholds: Threshold[];
  transitionPeriodMs: number;
  monitoringPeriodMs: number;
  signals: SignalSources;
  usage: PodUsageSources;
  /** Pods that are not terminal and not being terminated: the candidates. */
  activePods(): V1Pod[];
  /** Kill the pod (grace period 0) and fail it with reason Evicted; false if it could not. */
  evictPod(pod: V1Pod, message: string, condition: V1PodCondition): boolean;
  /** Its containers are stopped (kubelet's podCleanedUpFunc). */
  podCleanedUp(pod: V1Pod): boolean;
  /** Node-level reclaim: remove dead containers; remove unused images. */
  deleteDeadContainers(): Promise<void>;
  deleteUnusedImages(): Promise<void>;
  event(target: 'node' | V1Pod, type: 'Normal' | 'Warning', reason: string, message: string): void;
  logger: Logger;
}

export class EvictionManager {
  private round: EvictionRoundState = INITIAL_ROUND;
  private conditions = new Map<ConditionType, string[]>();
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: EvictionManagerOptions) {}

  /** The pressure conditions that are True now, with the thresholds that made them so. */
  pressure(): ReadonlyMap<ConditionType, string[]> {
    return this.conditions;
  }

  /**
   * kubelet's Admit: under memory pressure only BestEffort pods are refused (unless they tolerate
   * the memory-pressure taint); under any other pressure every pod; critical pods never. Returns
   * the rejection message, or undefined to admit.
   */
  admit(pod: V1Pod): string | undefined {
    if (this.conditions.size === 0 || isCriticalPod(pod)) return undefined;
    const types = [...this.conditions.keys()];
    if (types.length === 1 && types[0] === 'MemoryPressure') {
      if (getPodQOS(pod) !== 'BestEffort') return undefined;
      const tolerates = (pod.spec?.tolerations ?? []).some(
        (t) =>
          (t.operator === 'Exists' && !t.key) ||
          (t.key === 'node.kubernetes.io/memory-pressure' && (!t.effect || t.effect === 'NoSchedule')),
      );
      if (tolerates) return undefined;
    }
    return `The node had condition: [${types.join(' ')}]. `;
  }

  start(): void {
    const loop = async () => {
      if (this.stopped) return;
      let wait = this.o.monitoringPeriodMs;
      try {
        const evicted = await this.synchronize();
        if (evicted) {
          await this.waitForCleanup(evicted);
          wait = 0; // as kubelet: straight into the next round once the pod is gone
        }
      } catch (e) {
        this.o.logger.error('eviction manager: failed to synchronize', { error: errorMessage(e) });
      }
      if (!this.stopped) {
        this.timer = setTimeout(() => void loop(), wait);
        this.timer.unref();
      }
    };
    void loop();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** One round; returns the pod evicted, if any. */
  async synchronize(): Promise<V1Pod | undefined> {
    const { observations, dedicatedImageFs } = await measureSignals(this.o.signals);
    const r = decideRound(this.o.thresholds, observations, this.round, Date.now(), this.o.transitionPeriodMs);
    this.round = r.state;
    this.logConditionChanges(r.conditions);
    this.conditions = r.conditions;
    const reclaim = thresholdToReclaim(r.met);
    if (!reclaim) return undefined;
    this.o.logger.info('eviction manager: attempting to reclaim', {
      resource: reclaim.resource,
      thresholds: r.met.map((t) => `${t.signal}<${t.text}`),
      observed: summarize(observations),
    });
    this.o.event('node', 'Warning', 'EvictionThresholdMet', `Attempting to reclaim ${reclaim.resource}`);
    if (await this.reclaimNodeLevel(reclaim.threshold.signal, dedicatedImageFs)) {
      this.o.logger.info('eviction manager: able to reduce resource pressure without evicting pods', {
        resource: reclaim.resource,
      });
      return undefined;
    }
    const pods = this.o.activePods();
    if (!pods.length) {
      this.o.logger.error('eviction manager: eviction thresholds have been met, but no pods are active to evict');
      return undefined;
    }
    const nodefsDev = await stat(this.o.signals.rootDir).then(
      (s) => s.dev,
      () => undefined,
    );
    const usage = await Promise.all(pods.map((p) => measurePod(p, this.o.usage, nodefsDev)));
    const ranked = rankForEviction(usage, reclaim.threshold);
    this.o.logger.info('eviction manager: pods ranked for eviction', {
      pods: ranked.map((u) => `${u.pod.metadata?.namespace}/${u.pod.metadata?.name}`),
    });
    for (const u of ranked) {
      if (isCriticalPod(u.pod)) {
        this.o.logger.error('eviction manager: cannot evict a critical pod', {
          pod: `${u.pod.metadata?.namespace}/${u.pod.metadata?.name}`,
        });
        continue;
      }
      const message = evictionMessage(reclaim.resource, u, r.met, observations);
      const condition: V1PodCondition = {
        type: 'DisruptionTarget',
        status: 'True',
        reason: 'TerminationByKubelet',
        message,
        ...(u.pod.metadata?.generation !== undefined ? { observedGeneration: u.pod.metadata.generation } : {}),
      };
      this.o.event(u.pod, 'Warning', 'Evicted', message);
      if (this.o.evictPod(u.pod, message, condition)) {
        this.o.logger.info('eviction manager: pod is evicted', {
          pod: `${u.pod.metadata?.namespace}/${u.pod.metadata?.name}`,
          message,
        });
        return u.pod;
      }
    }
    this.o.logger.info('eviction manager: unable to evict any pods from the node');
    return undefined;
  }

  /**
   * buildSignalToNodeReclaimFuncs: with a dedicated imagefs, imagefs pressure is reclaimed by
   * removing dead containers and unused images, and nodefs pressure by nothing the node holds;
   * on one shared filesystem both reclaim both. True when no threshold is crossed afterwards.
   */
  private async reclaimNodeLevel(signal: Signal, dedicatedImageFs: boolean): Promise<boolean> {
    if (signal === 'memory.available' || signal === 'pid.available') return false;
    if (dedicatedImageFs && signal.startsWith('nodefs')) return false;
    for (const [what, fn] of [
      ['dead containers', () => this.o.deleteDeadContainers()],
      ['unused images', () => this.o.deleteUnusedImages()],
    ] as const) {
      await fn().catch((e: Error) =>
        this.o.logger.info('eviction manager: unexpected error when attempting to reduce resource pressure', {
          what,
          error: e.message,
        }),
      );
    }
    const { observations } = await measureSignals(this.o.signals);
    return thresholdsMet(this.o.thresholds, observations).length === 0;
  }

  private async waitForCleanup(pod: V1Pod): Promise<void> {
    const deadline = Date.now() + CLEANUP_TIMEOUT_MS;
    while (!this.stopped && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, CLEANUP_POLL_MS));
      if (this.o.podCleanedUp(pod)) return;
    }
    this.o.logger.info('eviction manager: timed out waiting for pods to be cleaned up', {
      pod: `${pod.metadata?.namespace}/${pod.metadata?.name}`,
    });
  }

  private logConditionChanges(next: Map<ConditionType, string[]>): void {
    for (const c of next.keys())
      if (!this.conditions.has(c))
        this.o.logger.warn('eviction manager: node condition observed', { condition: c, thresholds: next.get(c) });
    for (const c of this.conditions.keys())
      if (!next.has(c))
        this.o.logger.info('eviction manager: node condition resolved after the transition period', { condition: c });
  }
}

function summarize(obs: Observations): Record<string, string> {
  return Object.fromEntries(Object.entries(obs).map(([k, o]) => [k, `${o!.available}/${o!.capacity}`]));
}
