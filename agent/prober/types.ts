// The prober's vocabulary, shared by the manager, its workers and the handlers. The public
// contract (ProbeTarget, ProbeChange) is re-exported by manager.ts.
import type { V1Container, V1Pod } from '@kubernetes/client-node';

// The probe types are part of the pod spec (podspec/), which validates them.
import type { ProbeType } from '../podspec/probe-spec.js';

export interface ProbeTarget {
  /** The pod spec: named ports, namespace and name for logs and metrics. */
  pod: V1Pod;
  /** Host default for httpGet, tcpSocket and grpc (kubelet probes the pod IP). */
  podIP(): string | undefined;
  container: V1Container;
  /** A new id is a new container instance: its probes start over. */
  containerId: string;
  /** Run a command in the container (docker exec), killed on timeout. */
  exec(cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }>;
  /**
   * Extension (optional): when the container started. initialDelaySeconds counts from here, as
   * kubelet counts it from the container's StartedAt; without it, from addContainer. It matters
   * when the agent restarts and adopts containers that have been running for a while.
   */
  startedAt?: Date;
}

export interface ProbeChange {
  podUid: string;
  containerName: string;
  containerId: string;
  type: ProbeType;
  result: 'success' | 'failure';
  /** Why: "HTTP probe failed with statuscode: 500", "timeout after 1s", "exit code 1: <output>". */
  message: string;
}

/**
 * One probe attempt's verdict. 'unknown' is kubelet's "prober error": the probe could not be
 * run at all (docker exec failed to start, the pod has no IP yet). It is counted in metrics and
 * logged, but moves no threshold, as kubelet throws such results away.
 */
export type ProbeResult = 'success' | 'failure' | 'unknown';

export interface ProbeOutcome {
  result: ProbeResult;
  message: string;
  /** A success that deserves a word (kubelet's ProbeWarning): a redirect to another host. */
  warning?: string;
}

/** Extension (optional, for benchmarks and tests): the timing of each probe attempt. */
export interface ProbeTiming {
  podUid: string;
  containerName: string;
  type: ProbeType;
  /** Monotonic ms (the scheduler's clock) the attempt was due; undefined for a manual trigger. */
  intendedAt: number | undefined;
  /** Monotonic ms the attempt started. */
  startedAt: number;
  durationMs: number;
  result: ProbeResult;
}
