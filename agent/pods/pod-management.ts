// The agent's pod management, as kubelet's syncLoop handlers see it: what each pod is allocated,
// the pod workers, container garbage collection, and what reads the desired state (relist,
// admission, housekeeping). The desired state itself (PodConfig, agent/sources/) is handed in;
// its changes come back through onDesiredChange. agent.ts builds this once and owns its lifetime.
import { join } from 'node:path';
import type { V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { AllocationManager } from '../allocation/manager.js';
import type { CniNetwork } from '../contracts.js';
import type { Recorder } from '../events/recorder.js';
import type { AgentMetrics } from '../metrics.js';
import type { CgroupManager } from '../runtime/cgroups.js';
import type { DockerRuntime } from '../runtime/docker.js';
import { ContainerGC } from '../runtime/gc.js';
import { Housekeeping, type PodPresence } from '../runtime/housekeeping.js';
import type { StatusManager } from '../status/status-manager.js';
import { PodAdmission, type PodAdmissionOptions } from './admission.js';
import type { PodContext } from './context.js';
import { PodWorkers } from './pod-workers.js';
import { Relist } from './relist.js';

/** The desired state as pod management reads it (PodConfig, agent/sources/merger.ts). */
export interface DesiredPods {
  desired(): V1Pod[];
  get(uid: string): unknown;
  allSourcesReady(): boolean;
}

export interface PodManagementSetup {
  /** The agent's flags this part reads. */
  cfg: {
    rootDir: string;
    syncConcurrency: number;
    maxPods: number;
    minimumContainerTtlMs: number;
    maximumDeadContainersPerContainer: number;
    maximumDeadContainers: number;
  };
  logger: Logger;
  ctx: PodContext;
  runtime: DockerRuntime;
  network: CniNetwork;
  cgroups: CgroupManager;
  recorder: Recorder;
  status: StatusManager;
  metrics: AgentMetrics;
  podConfig: DesiredPods;
  /** Whether a pod is a static one (not from the apiserver), for the allocation manager. */
  isStaticPod(pod: V1Pod): boolean;
  /** The agent's current recorder (set or replaced after this is built). */
  currentRecorder(): Recorder | undefined;
  evictionAdmit: PodAdmissionOptions['evictionAdmit'];
  /** A removed pod's workers are done: its final status, for the apiserver. */
  podTerminated(pod: V1Pod, finalStatus: V1PodStatus | undefined): void;
  stopped(): boolean;
}

export class PodManagement {
  readonly workers: PodWorkers;
  readonly gc: ContainerGC;
  readonly relister: Relist;
  readonly admission: PodAdmission;
  readonly housekeeper: Housekeeping;

  /** Builds the parts; ctx.allocation is set on the way (the pod workers read it). */
  constructor(private readonly o: PodManagementSetup) {
    const { cfg, logger, ctx, podConfig } = o;
    // What each pod is allocated (checkpointed across restarts) and the decisions on resizes.
    ctx.allocation = new AllocationManager({
      file: join(cfg.rootDir, 'allocated_pods_state'),
      capacity: ctx.capacity,
      logger: logger.with({ component: 'allocation' }),
      recorder: o.recorder,
      isStaticPod: o.isStaticPod,
      onChange: (p) => this.workers.update(p),
    });
    this.workers = new PodWorkers(ctx, cfg.syncConcurrency);
    this.gc = new ContainerGC({
      runtime: o.runtime,
      network: o.network,
      networkState: ctx.networkState,
      logger,
      policy: {
        minAgeMs: cfg.minimumContainerTtlMs,
        maxPerPodContainer: cfg.maximumDeadContainersPerContainer,
        maxContainers: cfg.maximumDeadContainers,
      },
    });
    this.relister = new Relist({ runtime: o.runtime, workers: this.workers, podConfig, metrics: o.metrics });
    this.admission = new PodAdmission({
      maxPods: cfg.maxPods,
      workers: () => this.workers,
      status: o.status,
      logger,
      recorder: o.currentRecorder,
      evictionAdmit: o.evictionAdmit,
      inRuntime: () => this.relister.inRuntime,
    });
    this.housekeeper = new Housekeeping({
      rootDir: cfg.rootDir,
      runtime: o.runtime,
      gc: this.gc,
      volumes: ctx.volumes,
      cgroups: o.cgroups,
      logger,
      relist: () => this.relister.relist(),
      podState: (uid) => this.podPresence(uid),
      allSourcesReady: () => podConfig.allSourcesReady(),
      removeOrphanAllocations: () =>
        ctx.allocation?.removeOrphans(new Set(podConfig.desired().map((p) => p.metadata!.uid!))),
      stopped: o.stopped,
    });
  }

  /** Desired state changed: removed pods are stopped, added and updated ones admitted and handed to their workers. */
  onDesiredChange(c: { added: V1Pod[]; updated: V1Pod[]; removed: V1Pod[] }): void {
    const { ctx, logger } = this.o;
    for (const p of c.removed) {
      this.admission.forget(p.metadata!.uid!);
      this.o.status.delete(p.metadata!.uid!);
      ctx.allocation?.remove(p.metadata!.uid!);
      void this.workers.remove(p.metadata!.uid!).then((final) => this.o.podTerminated(p, final));
    }
    for (const p of [...c.added, ...c.updated]) {
      const uid = p.metadata!.uid!;
      if (c.added.includes(p))
        logger.info('pod added', {
          pod: `${p.metadata!.namespace}/${p.metadata!.name}`,
          uid,
          source: p.metadata!.annotations?.['kubernetes.io/config.source'],
        });
      if (!this.admission.admit(p)) continue;
      this.workers.update(ctx.allocation!.podToRun(p)); // as allocated: a resize only once it is
    }
  }

  /** Whether a pod's containers may be collected: 'busy' while it terminates, 'active' while wanted or running. */
  podPresence(uid: string): PodPresence {
    if (this.workers.isTerminating(uid)) return 'busy';
    return this.o.podConfig.get(uid) || this.workers.has(uid) ? 'active' : 'deleted';
  }
}
