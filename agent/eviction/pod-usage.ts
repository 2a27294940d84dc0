// What each pod uses, for the eviction ranking: the working set of its cgroup (and of each
// container's), and the local storage its volumes hold on the node filesystem. Only bytes on
// nodefs itself count (a directory walk that stays on its device): a memory-backed emptyDir or a
// secret's tmpfs holds no disk. Container logs and writable layers live under Docker's data
// root, so they count against imagefs, not here.
import { lstat, readdir } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { CgroupManager } from '../runtime/cgroups.js';
import type { PodUsage } from './rank.js';

/** Bytes allocated under `dir` on the device `dev` (du's count: blocks, not apparent sizes). */
export async function diskUsage(dir: string, dev?: number): Promise<number> {
  let st;
  try {
    st = await lstat(dir);
  } catch {
    return 0;
  }
  if (dev !== undefined && st.dev !== dev) return 0;
  let total = st.blocks * 512;
  if (!st.isDirectory()) return total;
  let names: string[] = [];
  try {
    names = await readdir(dir);
  } catch {
    return total;
  }
  for (const n of names) total += await diskUsage(join(dir, n), st.dev);
  return total;
}

export interface PodUsageSources {
  cgroups: CgroupManager;
  rootDir: string;
  /** Running container IDs of a pod, by container name. */
  runningContainers(uid: string): Promise<{ name: string; id: string }[]>;
}

export async function measurePod(pod: V1Pod, src: PodUsageSources, nodefsDev: number | undefined): Promise<PodUsage> {
  const uid = pod.metadata!.uid!;
  const path = await src.cgroups.findPod(uid);
  const podMem = path ? await src.cgroups.usage(path) : undefined;
  const containers: NonNullable<PodUsage['containers']> = [];
  for (const c of path ? await src.runningContainers(uid) : []) {
    const u = await src.cgroups.usage(posix.join(path!, c.id));
    if (u) containers.push({ name: c.name, memoryWorkingSetBytes: u.memoryWorkingSetBytes });
  }
  const volumes = join(src.rootDir, 'pods', uid, 'volumes');
  const diskBytes = await diskUsage(volumes, nodefsDev);
  return { pod, memoryWorkingSetBytes: podMem?.memoryWorkingSetBytes, diskBytes, containers };
}
