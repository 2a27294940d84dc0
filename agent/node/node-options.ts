// What a NodeAgent is told (the agent's settings for its Node), and the error naming the ones
// validation.ts rejects.
import type { V1NodeCondition, V1Taint } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { PressureDecision, Readiness } from './conditions.js';
import type { EvictionThresholds } from './eviction.js';

export interface NodeAgentOptions {
  kubeconfig: string;
  nodeName: string;
  nodeIP?: string;
  registerWithTaints?: V1Taint[];
  labels?: Record<string, string>;
  /** Subtracted from capacity for allocatable (kube-reserved + system-reserved). */
  reserved?: { cpu?: string; memory?: string };
  /** Default 110, as kubelet. */
  maxPods?: number;
  /** Where spec.podCIDR is written for the CNI IPAM: one CIDR and a newline. */
  podCIDRFile?: string;
  /** daemonEndpoints.kubeletEndpoint.Port; default 10250. */
  kubeletPort?: number;
  /** "docker://28.2.2". */
  runtimeVersion(): Promise<string>;
  /** e.g. CNI status + Docker ping. */
  readiness(): Promise<Readiness>;
  logger: Logger;

  // Options beyond the ones the agent core needs (all optional):
  /** kubernetes.io/hostname and the Hostname address; default nodeName (kubelet: the hostname override). */
  hostname?: string;
  /** The agent's root directory; its filesystem is nodefs (ephemeral-storage, DiskPressure). Default /var/lib/kubenode. */
  rootDir?: string;
  /** Hard eviction thresholds the pressure conditions use; kubelet's defaults otherwise. */
  evictionHard?: Partial<EvictionThresholds>;
  /** The eviction manager's pressure conditions (kubelet's setters ask it); readings decide the rest. */
  pressure?: () => PressureDecision;
  /** Intervals, for tests that cannot wait 5 minutes; kubelet's defaults otherwise. */
  leaseRenewIntervalMs?: number; // 10 s
  statusUpdateFrequencyMs?: number; // 10 s: how often the status is computed
  statusReportFrequencyMs?: number; // 5 min: the longest time between writes of an unchanged status
  /** The conditions just written to (or found on) the Node, for NodeReady/NodeNotReady... events. */
  onConditions?: (conditions: V1NodeCondition[]) => void;
}

export class NodeOptionsError extends Error {
  constructor(readonly errors: { field: string; reason: string }[]) {
    super(`invalid node options: ${errors.map((e) => `${e.field}: ${e.reason}`).join('; ')}`);
    this.name = 'NodeOptionsError';
  }
}
