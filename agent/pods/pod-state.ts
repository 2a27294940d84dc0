// What the agent remembers about one pod between syncs (everything else is re-read from Docker):
// why containers are waiting, why it killed a container, probe failures not yet acted on, and the
// pod's IPs.
import type { V1Pod, V1PodCondition } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { Waiting } from '../status/status.js';
import type { PodVolume } from '../volumes/volume-manager.js';
import type { ProbeFailure } from './action-types.js';

export interface PodState {
  readonly uid: string;
  pod: V1Pod;
  /** A pod no source wants any more, rebuilt from container labels only to be stopped. */
  readonly orphan: boolean;
  waiting: Map<string, Waiting>;
  killed: Map<string, { reason?: string; message: string }>;
  probeFailures: Map<string, ProbeFailure>;
  /** Container instance registered with the prober, by container name. */
  probed: Map<string, string>;
  terminationMessages: Map<string, string>;
  podIPs: string[];
  sandboxReady: boolean;
  volumes?: Map<string, PodVolume>;
  /**
   * Set once the agent failed the pod (activeDeadlineSeconds, or the eviction manager, which
   * kills with a grace period of 0 and adds a DisruptionTarget condition): nothing starts again.
   */
  evicted?: { reason: string; message: string; condition?: V1PodCondition; gracePeriodSeconds?: number };
  firstSeen: Date;
  log: Logger;
}
