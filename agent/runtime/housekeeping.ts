// Housekeeping, as kubelet's HandlePodCleanups on its housekeeping tick: after a relist, dead
// containers and sandboxes are garbage-collected, allocations of pods that are gone dropped, and
// pod directories and cgroups left by a pod that is gone (an agent killed mid-termination) removed.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kubelet_pods.go
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import type { CgroupManager } from './cgroups.js';
import type { DockerRuntime } from './docker.js';
import type { ContainerGC } from './gc.js';
import type { VolumeManager } from '../volumes/volume-manager.js';

/** What the pod workers and desired state say of a pod UID (for garbage collection). */
export type PodPresence = 'active' | 'deleted' | 'busy';

export interface HousekeepingOptions {
  rootDir: string;
  runtime: DockerRuntime;
  gc: ContainerGC;
  volumes: VolumeManager;
  cgroups: CgroupManager;
  logger: Logger;
  relist: () => Promise<void>;
  podState: (uid: string) => PodPresence;
  /** Every source has sent its pods: before that, a pod not desired may only not be known yet. */
  allSourcesReady: () => boolean;
  /** Allocations of pods not in the desired set are dropped (absent in tests without allocation). */
  removeOrphanAllocations?: () => void;
  stopped: () => boolean;
}

export class Housekeeping {
  private busy = false;

  constructor(private readonly opts: HousekeepingOptions) {}

  /** Garbage collection and clean-up of what pods that are gone left behind. */
  async run(): Promise<void> {
    // The first pass (a timer of its own) and the interval can fall due together with a short
    // --housekeeping-interval: one pass at a time, or garbage collection runs twice at once.
    if (!this.opts.allSourcesReady() || this.opts.stopped() || this.busy) return;
    this.busy = true;
    try {
      await this.pass();
    } finally {
      this.busy = false;
    }
  }

  private async pass(): Promise<void> {
    const { runtime, gc, podState, logger } = this.opts;
    await this.opts.relist();
    await gc.run((uid) => podState(uid));
    this.opts.removeOrphanAllocations?.();
    // Pod directories and cgroups of pods that are gone (an agent killed mid-termination).
    const inRuntime = await runtime.podStatuses();
    let dirs: string[] = [];
    try {
      dirs = await readdir(join(this.opts.rootDir, 'pods'));
    } catch {
      /* none yet */
    }
    for (const uid of dirs) {
      if (podState(uid) === 'deleted' && !inRuntime.has(uid)) {
        logger.info('removing leftovers of a pod that is gone', { uid });
        await this.opts.volumes.tearDown(uid);
        await this.opts.cgroups.removePod(uid);
      }
    }
  }
}
