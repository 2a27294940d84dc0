// What the node's status is computed from: this machine's CPU, memory, node filesystem and
// process-id space, read fresh on every status update. The only file in agent/node that reads
// the machine; everything computed from these numbers is pure (capacity.ts, conditions.ts).
import { statfs, readFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import si from 'systeminformation';

export interface MachineReadings {
  /** Logical CPUs, as kubelet counts capacity.cpu. */
  cpuCores: number;
  memoryTotalBytes: number;
  /**
   * The kernel's MemAvailable. kubelet derives memory.available from the root cgroup's working
   * set instead; MemAvailable is the kernel's own estimate of the same thing (memory that can
   * be had without swapping) and does not depend on the cgroup version.
   */
  memoryAvailableBytes: number;
  /** The filesystem holding the agent's root directory: what kubelet calls nodefs. */
  nodefs: { capacityBytes: number; availableBytes: number; inodes: number; inodesFree: number };
  /** Process ids: the limit and how many tasks exist now (kubelet's pid.available inputs). */
  pids: { max: number; inUse: number };
}

// The CPU count is read once per process: kubelet too takes machine capacity at start, and
// systeminformation's cpu() is the slow reading (tens of ms).
let cpuCores: Promise<number> | undefined;

export async function readMachine(rootDir: string): Promise<MachineReadings> {
  cpuCores ??= si.cpu().then((c) => c.cores);
  const [cores, mem, nodefs, pids] = await Promise.all([cpuCores, si.mem(), readNodefs(rootDir), readPids()]);
  return { cpuCores: cores, memoryTotalBytes: mem.total, memoryAvailableBytes: mem.available, nodefs, pids };
}

// statfs of the root dir itself rather than systeminformation's fsSize(): that one runs df over
// every mount and leaves us to guess which mount holds the directory; the kernel answers exactly.
export async function readNodefs(rootDir: string): Promise<MachineReadings['nodefs']> {
  let dir = rootDir;
  for (;;) {
    try {
      const s = await statfs(dir);
      // bavail, not bfree: blocks reserved for root are not available to pods.
      return {
        capacityBytes: s.blocks * s.bsize,
        availableBytes: s.bavail * s.bsize,
        inodes: s.files,
        inodesFree: s.ffree,
      };
    } catch (err) {
      // The root dir may not exist yet on first start: measure the filesystem it will live on.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || dir === dirname(dir)) throw err;
      dir = dirname(dir);
    }
  }
}

// kubelet: the limit is the smaller of kernel.pid_max and kernel.threads-max, and what is in
// use is the kernel's task count (sysinfo procs), which /proc/loadavg's fourth field also shows.
export async function readPids(): Promise<MachineReadings['pids']> {
  const [pidMax, threadsMax, loadavg] = await Promise.all([
    readFile('/proc/sys/kernel/pid_max', 'utf8'),
    readFile('/proc/sys/kernel/threads-max', 'utf8').catch(() => ''),
    readFile('/proc/loadavg', 'utf8'),
  ]);
  const limits = [Number(pidMax), Number(threadsMax)].filter((n) => Number.isFinite(n) && n > 0);
  const inUse = Number(/\s\d+\/(\d+)\s/.exec(loadavg)?.[1]);
  return { max: Math.min(...limits), inUse: Number.isFinite(inUse) ? inUse : 0 };
}
