// Everything a pod worker needs, handed over in one object (built once by agent.ts).
import type { Logger } from '../../lib/log.js';
import type { CniNetwork, ProbeManager } from '../contracts.js';
import type { ContainerRuntime } from '../runtime/types.js';
import type { CgroupManager } from '../runtime/cgroups.js';
import type { VolumeManager } from '../volumes/volume-manager.js';
import type { ImageManager } from '../runtime/images.js';
import type { NetworkStateStore } from '../runtime/network-state.js';
import type { StatusManager } from '../status/status-manager.js';
import type { AgentMetrics } from '../metrics.js';
import type { Backoff } from '../podspec/backoff.js';
import type { PodObjects, ServiceLister } from '../objects/types.js';
import type { EventRecorder } from '../events/types.js';
import type { NodeDNSConfig } from '../network/dns.js';
import type { AllocationManager } from '../allocation/manager.js';

export interface PodContext {
  nodeName: string;
  hostIPs: string[];
  instance: string;
  podInfraImage: string;
  /** Docker's network mode for hostNetwork sandboxes: "host", or container:<holder> on an emulated node (runtime/host-network.ts). */
  hostNetworkMode: string;
  /** --cluster-dns, --cluster-domain, --resolv-conf: what pods' resolv.conf and hosts files are made from. */
  dns: NodeDNSConfig;
  runtime: ContainerRuntime;
  network: CniNetwork;
  networkState: NetworkStateStore;
  prober: ProbeManager;
  cgroups: CgroupManager;
  volumes: VolumeManager;
  images: ImageManager;
  /** Container restart back-off (CrashLoopBackOff), shared by all pods, keyed per container. */
  backoff: Backoff;
  status: StatusManager;
  metrics: AgentMetrics;
  logger: Logger;
  capacity: { cpuMilli: number; memoryBytes: number };
  /** Node allocatable: what a resourceFieldRef reads for a limit the container does not set (kubelet's defaultPodLimitsForDownwardAPI). */
  allocatable: { cpuMilli: number; memoryBytes: number };
  /** Lowest oom_score_adj containers may get on this host (runtime/oom.ts). */
  minOomScoreAdj: number;
  /** Periodic resync of every pod, as kubelet's --sync-frequency. */
  syncFrequencyMs: number;
  /** ConfigMaps, Secrets and service-account tokens from the apiserver; absent without --kubeconfig. */
  objects?: PodObjects;
  /** Services for the containers' service environment variables; absent without --kubeconfig (then none, as kubelet without a kubeClient). */
  services?: ServiceLister;
  /** kubelet-style Events about pods and containers (log only, or also the apiserver). */
  recorder: EventRecorder;
  /** Allocated resources and resize decisions (in-place resize); absent in tests that run a bare worker. */
  allocation?: AllocationManager;
}
