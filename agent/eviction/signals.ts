// The eviction signals, measured as kubelet (through cAdvisor) measures them:
//   memory.available  = machine memory - working set of the root cgroup, where the working set is
//                       usage minus inactive file pages (v1: memory.usage_in_bytes and
//                       total_inactive_file; v2's root has no memory.current, so usage is anon +
//                       file from its memory.stat, as runc does for the root)
//   nodefs.*          = statfs of --root-dir (available: blocks free to unprivileged users)
//   imagefs.*         = statfs of Docker's data root (DockerRootDir), where images, writable
//                       layers and container logs live
//   pid.available     = min(pid_max, threads-max) - tasks
import { readFile, stat } from 'node:fs/promises';
import { parseKeyed, type CgroupVersion } from '../runtime/cgroups.js';
import { readNodefs, readPids } from '../node/readings.js';
import type { Observations } from './decide.js';

/** cAdvisor's working set of the root cgroup (pure): usage - inactive file, never below 0. */
export function rootWorkingSet(version: CgroupVersion, stat: Record<string, number>, usageInBytes?: number): number {
  const usage = version === 1 ? (usageInBytes ?? 0) : (stat.anon ?? 0) + (stat.file ?? 0);
  const inactive = version === 1 ? (stat.total_inactive_file ?? 0) : (stat.inactive_file ?? 0);
  return Math.max(0, usage - inactive);
}

/** MemTotal from /proc/meminfo, in bytes (cAdvisor's machine memory capacity). */
export function memTotal(meminfo: string): number {
  return Number(/^MemTotal:\s+(\d+)/m.exec(meminfo)?.[1] ?? 0) * 1024;
}

export interface SignalSources {
  rootDir: string;
  /** Docker's data root; absent when Docker did not say (then no imagefs signals). */
  imagefsDir?: string;
  cgroupVersion: CgroupVersion;
  /** The memory controller's root directory (v1 .../memory, v2 the unified mount). */
  memoryRootDir: string;
}

export interface Measured {
  observations: Observations;
  /** imagefs is on another filesystem than nodefs (kubelet's HasDedicatedImageFs). */
  dedicatedImageFs: boolean;
}

async function memory(src: SignalSources): Promise<{ available: number; capacity: number }> {
  const [meminfo, statText, usage] = await Promise.all([
    readFile('/proc/meminfo', 'utf8'),
    readFile(`${src.memoryRootDir}/memory.stat`, 'utf8'),
    src.cgroupVersion === 1
      ? readFile(`${src.memoryRootDir}/memory.usage_in_bytes`, 'utf8').then(Number)
      : Promise.resolve(undefined),
  ]);
  const capacity = memTotal(meminfo);
  return { capacity, available: capacity - rootWorkingSet(src.cgroupVersion, parseKeyed(statText), usage) };
}

async function sameDevice(a: string, b: string): Promise<boolean> {
  try {
    const [x, y] = await Promise.all([stat(a), stat(b)]);
    return x.dev === y.dev;
  } catch {
    return true;
  }
}

export async function measureSignals(src: SignalSources): Promise<Measured> {
  const [mem, nodefs, imagefs, pids] = await Promise.all([
    // Without a readable root memory cgroup there is no memory signal (the rest still counts).
    memory(src).catch(() => undefined),
    readNodefs(src.rootDir),
    src.imagefsDir ? readNodefs(src.imagefsDir).catch(() => undefined) : Promise.resolve(undefined),
    readPids(),
  ]);
  const observations: Observations = {
    ...(mem ? { 'memory.available': mem } : {}),
    'nodefs.available': { available: nodefs.availableBytes, capacity: nodefs.capacityBytes },
    'pid.available': { available: pids.max - pids.inUse, capacity: pids.max },
  };
  // A filesystem without inode accounting (tmpfs with nr_inodes=0, btrfs) reports 0 inodes: no signal.
  if (nodefs.inodes > 0) observations['nodefs.inodesFree'] = { available: nodefs.inodesFree, capacity: nodefs.inodes };
  if (imagefs) {
    observations['imagefs.available'] = { available: imagefs.availableBytes, capacity: imagefs.capacityBytes };
    if (imagefs.inodes > 0)
      observations['imagefs.inodesFree'] = { available: imagefs.inodesFree, capacity: imagefs.inodes };
  }
  const dedicatedImageFs = src.imagefsDir ? !(await sameDevice(src.rootDir, src.imagefsDir)) : false;
  return { observations, dedicatedImageFs };
}
