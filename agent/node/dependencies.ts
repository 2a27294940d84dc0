// What the agent needs from the machine before it can run a pod, as kubelet's Dependencies: the
// container runtime (Docker, pinged), the cgroup manager, the node's capacity and hard eviction
// thresholds, its address for pods' hostIP, and the CNI network with its sandbox records.
import { networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import type { AgentConfig } from '../config/config.js';
import { evictionThresholds } from '../config/eviction-flags.js';
import { CniNetwork } from '../contracts.js';
import { nodeThresholds } from './eviction.js';
import { CgroupManager } from '../runtime/cgroups.js';
import { DockerRuntime } from '../runtime/docker.js';
import { NetworkStateStore } from '../runtime/network-state.js';
import { minimumOomScoreAdj } from '../runtime/oom.js';
import { readCapacity, type NodeCapacity } from '../stats/capacity.js';

/** The node's address for pods' hostIP: --node-ip, else the first global IPv4 of a physical-looking interface. */
export function defaultHostIP(): string {
  const skip = /^(lo|docker|veth|br-|cni|kube|virbr|kt)/;
  for (const [name, addrs] of Object.entries(networkInterfaces()).sort(([a], [b]) => a.localeCompare(b))) {
    if (skip.test(name)) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  return '127.0.0.1';
}

export interface AgentDependencies {
  runtime: DockerRuntime;
  dockerVersion: string;
  cgroups: CgroupManager;
  capacity: NodeCapacity;
  evictionHard: ReturnType<typeof nodeThresholds>;
  hostIPs: string[];
  minOomScoreAdj: number;
  network: CniNetwork;
  networkState: NetworkStateStore;
}

/** Connects to Docker (fails if it does not answer) and reads the machine; starts nothing. */
export async function connectDependencies(cfg: AgentConfig, logger: Logger): Promise<AgentDependencies> {
  const runtime = new DockerRuntime({
    endpoint: cfg.containerRuntimeEndpoint,
    instance: cfg.instance,
    logger: logger.with({ component: 'runtime' }),
  });
  const dockerVersion = await runtime.ping();
  const cgroups = new CgroupManager({ root: cfg.cgroupRoot, logger });
  await cgroups.init();
  const capacity = await readCapacity(cfg.rootDir, cfg.maxPods);
  const evictionHard = nodeThresholds(evictionThresholds(cfg), {
    memoryBytes: capacity.memoryBytes,
    nodefsBytes: capacity.ephemeralStorageBytes,
  });
  const hostIPs = [cfg.nodeIp ?? defaultHostIP()];
  const minOomScoreAdj = minimumOomScoreAdj();
  if (minOomScoreAdj > -1000)
    logger.warn(
      'oom_score_adj cannot be lowered here (no CAP_SYS_RESOURCE): Guaranteed pods and sandboxes get the current score instead of a negative one',
      { minimum: minOomScoreAdj },
    );
  const network = new CniNetwork({
    confDir: cfg.cniConfDir,
    binDirs: cfg.cniBinDir,
    cacheDir: cfg.cniCacheDir!,
    logger: logger.with({ component: 'cni' }),
  });
  const networkState = new NetworkStateStore(join(cfg.rootDir, 'sandboxes'));
  return { runtime, dockerVersion, cgroups, capacity, evictionHard, hostIPs, minOomScoreAdj, network, networkState };
}
