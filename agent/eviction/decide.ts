// One round of kubelet's eviction manager (synchronize), the deciding part: which hard thresholds
// the observations cross, which pressure conditions the node reports (held True for the pressure
// transition period after the last crossing, so a node near a threshold does not flap), and which
// threshold to reclaim first (memory before anything else). Pure: observations and the previous
// round in, the next round out.
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/pkg/kubelet/eviction/eviction_manager.go
import {
  conditionOf,
  resourceOf,
  SIGNALS,
  thresholdQuantity,
  thresholdText,
  type ConditionType,
  type Signal,
  type Threshold,
} from './thresholds.js';

/** What a signal was seen at: available and capacity, in bytes (inodes, pids). */
export interface Observation {
  available: number;
  capacity: number;
}

export type Observations = Partial<Record<Signal, Observation>>;

export interface EvictionRoundState {
  /** When each pressure condition was last observed (ms). */
  lastObservedAt: ReadonlyMap<ConditionType, number>;
  /** The thresholds that last made each condition True ("nodefs.available<10%"), for its message. */
  lastMet: ReadonlyMap<ConditionType, string[]>;
}

export const INITIAL_ROUND: EvictionRoundState = { lastObservedAt: new Map(), lastMet: new Map() };

export interface EvictionRound {
  state: EvictionRoundState;
  /** Thresholds crossed now, in the order kubelet reclaims them (memory first). */
  met: Threshold[];
  /** The pressure conditions that are True, with the thresholds that made them so. */
  conditions: Map<ConditionType, string[]>;
}

/** kubelet's thresholdsMet: available below the threshold's quantity (equal is not below). */
export function thresholdsMet(thresholds: readonly Threshold[], obs: Observations): Threshold[] {
  return thresholds.filter((t) => {
    const o = obs[t.signal];
    return o !== undefined && thresholdQuantity(t, o.capacity) > o.available;
  });
}

/** byEvictionPriority: memory.available first; the rest in a fixed order. */
function byPriority(a: Threshold, b: Threshold): number {
  const rank = (t: Threshold) => (t.signal === 'memory.available' ? -1 : SIGNALS.indexOf(t.signal));
  return rank(a) - rank(b);
}

export function decideRound(
  thresholds: readonly Threshold[],
  obs: Observations,
  prev: EvictionRoundState,
  now: number,
  transitionPeriodMs: number,
): EvictionRound {
  const met = thresholdsMet(thresholds, obs).sort(byPriority);
  const lastObservedAt = new Map(prev.lastObservedAt);
  const lastMet = new Map(prev.lastMet);
  const metNow = new Map<ConditionType, string[]>();
  for (const t of met) {
    const c = conditionOf(t.signal);
    metNow.set(c, [...(metNow.get(c) ?? []), thresholdText(t)]);
  }
  for (const [c, texts] of metNow) {
    lastObservedAt.set(c, now);
    lastMet.set(c, texts);
  }
  // nodeConditionsObservedSince: True while the last observation is younger than the period.
  const conditions = new Map<ConditionType, string[]>();
  for (const [c, at] of lastObservedAt) {
    if (now - at < transitionPeriodMs || metNow.has(c)) conditions.set(c, lastMet.get(c) ?? []);
    else {
      lastObservedAt.delete(c);
      lastMet.delete(c);
    }
  }
  return { state: { lastObservedAt, lastMet }, met, conditions };
}

/** The first threshold to reclaim and its resource name (getReclaimableThreshold). */
export function thresholdToReclaim(met: readonly Threshold[]): { threshold: Threshold; resource: string } | undefined {
  const t = met[0];
  return t ? { threshold: t, resource: resourceOf(t.signal) } : undefined;
}
