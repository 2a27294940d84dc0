// The threshold state machine of one probe worker, pure. It follows kubelet's worker.doProbe:
// a result must repeat successThreshold (or failureThreshold) times in a row before it replaces
// the reported one, and only a change of the reported result is news.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/prober/worker.go
import type { ProbeType } from '../podspec/probe-spec.js';

export type Reported = 'success' | 'failure' | 'unknown';

export interface ThresholdState {
  /** What the rest of the agent sees. */
  reported: Reported;
  /** The last raw result, and how many times in a row it came. */
  last: 'success' | 'failure' | undefined;
  run: number;
}

/**
 * Before any probe ran: a readiness probe says "not ready", a liveness probe "alive" (kubelet
 * never kills a container it has not probed), a startup probe "not started yet".
 */
export function initialThresholdState(type: ProbeType): ThresholdState {
  return {
    reported: type === 'readiness' ? 'failure' : type === 'liveness' ? 'success' : 'unknown',
    last: undefined,
    run: 0,
  };
}

export interface Thresholds {
  successThreshold: number;
  failureThreshold: number;
}

/** Feed one raw result; `changed` says whether the reported result changed. */
export function observeResult(
  state: ThresholdState,
  result: 'success' | 'failure',
  t: Thresholds,
): { state: ThresholdState; changed: boolean } {
  const run = state.last === result ? state.run + 1 : 1;
  const needed = result === 'success' ? t.successThreshold : t.failureThreshold;
  if (run < needed) return { state: { reported: state.reported, last: result, run }, changed: false };
  return { state: { reported: result, last: result, run }, changed: state.reported !== result };
}
