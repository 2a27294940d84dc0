// The eviction manager and the image garbage collector of one agent, built from its settings and
// wired to the agent's pods (agent.ts hands over what they need and calls stop()).
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { evictionThresholds, type EvictionConfig } from '../config/eviction-flags.js';
import type { PressureDecision } from '../node/conditions.js';
import { nodeRef, podRef, type EventRecorder } from '../events/types.js';
import type { PodWorkers } from '../pods/pod-workers.js';
import type { CgroupManager } from '../runtime/cgroups.js';
import type { DockerRuntime } from '../runtime/docker.js';
import { ImageStore } from '../runtime/image-store.js';
import type { StatusManager } from '../status/status-manager.js';
import { ImageGCManager } from './image-gc.js';
import { EvictionManager } from './manager.js';
import { conditionOf, type ConditionType, type Threshold } from './thresholds.js';

export interface NodeEviction {
  thresholds: Threshold[];
  manager: EvictionManager;
  imageGC: ImageGCManager;
  /** What the Node's pressure conditions say, for node-agent.ts. */
  pressure(): PressureDecision;
  stop(): void;
}

export interface EvictionSetup {
  cfg: EvictionConfig & { rootDir: string; podInfraContainerImage: string };
  nodeName: string;
  runtime: DockerRuntime;
  cgroups: CgroupManager;
  workers: PodWorkers;
  status: StatusManager;
  /** The desired pods (the merged sources). */
  desired(): V1Pod[];
  deleteDeadContainers(): Promise<void>;
  recorder: EventRecorder;
  logger: Logger;
}

/** The image garbage collector, and where Docker keeps images (undefined: Docker would not say). */
async function newImageGCManager(
  o: EvictionSetup,
  log: Logger,
): Promise<{ imageGC: ImageGCManager; imagefsDir: string | undefined }> {
  const store = new ImageStore(o.runtime.docker);
  const imagefsDir = await store.dataRoot().catch((e: Error) => {
    log.warn('cannot ask Docker where its data root is: no imagefs signals, no image garbage collection', {
      error: e.message,
    });
    return undefined;
  });
  const imageGC = new ImageGCManager({
    store,
    imagefsDir,
    logger: log,
    policy: {
      highThresholdPercent: o.cfg.imageGcHighThresholdPercent,
      lowThresholdPercent: o.cfg.imageGcLowThresholdPercent,
      minAgeMs: o.cfg.minimumImageTtlMs,
    },
    pinnedRefs: [o.cfg.podInfraContainerImage],
    onWarning: (reason, message) => o.recorder.event(nodeRef(o.nodeName), 'Warning', reason, message),
  });
  return { imageGC, imagefsDir };
}

export async function startEviction(o: EvictionSetup): Promise<NodeEviction> {
  const log = o.logger.with({ component: 'eviction' });
  const thresholds = evictionThresholds(o.cfg);
  const { imageGC, imagefsDir } = await newImageGCManager(o, log);
  const phaseOf = (p: V1Pod) => o.status.get(p.metadata!.uid!)?.status.phase;
  const manager = new EvictionManager({
    thresholds,
    transitionPeriodMs: o.cfg.evictionPressureTransitionPeriodMs,
    monitoringPeriodMs: o.cfg.evictionMonitoringPeriodMs,
    signals: {
      rootDir: o.cfg.rootDir,
      imagefsDir,
      cgroupVersion: o.cgroups.version,
      memoryRootDir: o.cgroups.controllerDir('memory', '/'),
    },
    usage: {
      cgroups: o.cgroups,
      rootDir: o.cfg.rootDir,
      runningContainers: async (uid) =>
        (await o.runtime.podStatus(uid)).containers
          .filter((c) => c.state === 'running')
          .map((c) => ({ name: c.name, id: c.id })),
    },
    activePods: () =>
      o
        .desired()
        .filter(
          (p) =>
            o.workers.has(p.metadata!.uid!) &&
            !o.workers.isTerminating(p.metadata!.uid!) &&
            !['Succeeded', 'Failed'].includes(phaseOf(p) ?? ''),
        ),
    evictPod: (pod, message, condition) => o.workers.evict(pod.metadata!.uid!, message, condition, 0),
    podCleanedUp: (pod) => {
      const s = o.status.get(pod.metadata!.uid!)?.status;
      return !s || (s.phase === 'Failed' && !(s.containerStatuses ?? []).some((c) => c.state?.running));
    },
    deleteDeadContainers: o.deleteDeadContainers,
    deleteUnusedImages: async () => {
      await imageGC.deleteUnusedImages();
    },
    event: (target, type, reason, message) =>
      o.recorder.event(target === 'node' ? nodeRef(o.nodeName) : podRef(target), type, reason, message),
    logger: log,
  });
  await imageGC.detect().catch((e: Error) => log.warn('image GC: cannot list images', { error: e.message }));
  manager.start();
  const gcTimer = setInterval(() => {
    imageGC.garbageCollect().catch((e: Error) => log.warn('image garbage collection failed', { error: e.message }));
  }, o.cfg.imageGcPeriodMs);
  gcTimer.unref();
  const decided: ConditionType[] = [...new Set(thresholds.map((t) => conditionOf(t.signal)))];
  return {
    thresholds,
    manager,
    imageGC,
    pressure: () => Object.fromEntries(decided.map((c) => [c, manager.pressure().get(c) ?? []])),
    stop: () => {
      manager.stop();
      clearInterval(gcTimer);
    },
  };
}
