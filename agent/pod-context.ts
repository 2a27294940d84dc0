// The PodContext (pods/context.ts) an agent builds once from its settings and its long-lived parts,
// and hands to every pod worker.
import type { Logger } from '../lib/log.js';
import type { AgentConfig } from './config/config.js';
import type { CniNetwork, ProbeManager } from './contracts.js';
import type { EventRecorder } from './events/types.js';
import { allocatableOf } from './node/capacity.js';
import type { nodeThresholds } from './node/eviction.js';
import type { CgroupManager } from './runtime/cgroups.js';
import type { DockerRuntime } from './runtime/docker.js';
import { hostNetworkMode } from './runtime/host-network.js';
import { ImageManager } from './runtime/images.js';
import type { NetworkStateStore } from './runtime/network-state.js';
import { VolumeManager } from './volumes/volume-manager.js';
import type { AgentMetrics } from './metrics.js';
import type { readCapacity } from './stats/capacity.js';
import type { StatusManager } from './status/status-manager.js';
import { Backoff } from './podspec/backoff.js';
import type { PodContext } from './pods/context.js';

export interface PodContextParts {
  cfg: AgentConfig;
  nodeName: string;
  hostIPs: string[];
  minOomScoreAdj: number;
  runtime: DockerRuntime;
  network: CniNetwork;
  networkState: NetworkStateStore;
  prober: ProbeManager;
  cgroups: CgroupManager;
  status: StatusManager;
  metrics: AgentMetrics;
  logger: Logger;
  capacity: Awaited<ReturnType<typeof readCapacity>>;
  evictionHard: ReturnType<typeof nodeThresholds>;
  recorder: EventRecorder;
}

/** Throws naming a bad --host-network-container. */
export async function buildPodContext(o: PodContextParts): Promise<PodContext> {
  const { cfg, logger } = o;
  return {
    nodeName: o.nodeName,
    hostIPs: o.hostIPs,
    instance: cfg.instance,
    podInfraImage: cfg.podInfraContainerImage,
    hostNetworkMode: await hostNetworkMode(o.runtime, cfg.hostNetworkContainer, logger), // throws naming a bad --host-network-container
    dns: { clusterDNS: cfg.clusterDns, clusterDomain: cfg.clusterDomain, resolvConf: cfg.resolvConf },
    runtime: o.runtime,
    network: o.network,
    networkState: o.networkState,
    prober: o.prober,
    cgroups: o.cgroups,
    volumes: new VolumeManager({ rootDir: cfg.rootDir, logger }),
    images: new ImageManager({ runtime: o.runtime, logger, pullTimeoutMs: cfg.imagePullTimeoutMs }),
    backoff: new Backoff(),
    status: o.status,
    metrics: o.metrics,
    logger,
    capacity: o.capacity,
    // As the Node's status.allocatable that node-agent reports (nothing reserved, the hard
    // eviction thresholds), which kubelet gives the downward API for unset limits.
    allocatable: allocatableOf(o.capacity, {}, o.evictionHard),
    minOomScoreAdj: o.minOomScoreAdj,
    syncFrequencyMs: cfg.syncFrequencyMs,
    recorder: o.recorder,
  };
}
