// The pod-level cgroups kubelet keeps: <cgroup-root>/kubepods/pod<uid> for Guaranteed pods,
// kubepods/burstable/pod<uid> and kubepods/besteffort/pod<uid> for the others. Every container of
// the pod (and its sandbox) gets that path as Docker's CgroupParent, and the agent writes the
// pod's summed limits on it first, so that the limit holds for the pod as a whole. cgroup v1
// (one hierarchy per controller) and v2 (the unified hierarchy) are both handled.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/cm/pod_container_manager_linux.go
import { mkdir, readFile, readdir, rmdir, writeFile, access } from 'node:fs/promises';
import { readFileSync } from 'node:fs';
import { join, posix } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { MIN_SHARES, podResourceConfig, sharesToWeight } from '../podspec/resources.js';
import type { QOSClass } from '../podspec/qos.js';
import { errorMessage } from '../../lib/errors.js';

export type CgroupVersion = 1 | 2;

/** A pod cgroup's CPU and memory values; -1 quota and Infinity memory mean no limit, as read from the kernel. */
export interface PodCgroupConfig {
  cpuShares: number;
  cpuQuotaUs: number;
  cpuPeriodUs: number;
  memoryLimitBytes: number;
}

export interface CgroupUsage {
  /** Total CPU time used, in nanoseconds. */
  cpuUsageNs: number;
  memoryUsageBytes: number;
  /** usage minus inactive file cache: what kubelet reports and evicts on. */
  memoryWorkingSetBytes: number;
}

/** Mount points of the cgroup controllers, from /proc/self/mountinfo. */
export function cgroupMounts(mountinfo: string): {
  version: CgroupVersion;
  unified?: string;
  controllers: Map<string, string>;
} {
  const controllers = new Map<string, string>();
  let unified: string | undefined;
  let unifiedIsRoot = false;
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const mountPoint = left[4]!;
    const fsType = right[0];
    if (fsType === 'cgroup2') {
      unified = mountPoint;
      unifiedIsRoot = mountPoint === '/sys/fs/cgroup';
    } else if (fsType === 'cgroup') {
      for (const opt of (right[2] ?? '').split(',')) {
        if (
          [
            'cpu',
            'cpuacct',
            'memory',
            'pids',
            'cpuset',
            'blkio',
            'devices',
            'freezer',
            'net_cls',
            'net_prio',
            'perf_event',
            'hugetlb',
            'rdma',
            'misc',
          ].includes(opt)
        )
          controllers.set(opt, mountPoint);
        else if (opt === 'name=systemd') controllers.set('name=systemd', mountPoint);
      }
    }
  }
  // Hybrid hosts (v1 controllers plus an empty v2 tree at /sys/fs/cgroup/unified) are v1 for us.
  const version: CgroupVersion =
    controllers.has('cpu') && controllers.has('memory')
      ? 1
      : unified && (unifiedIsRoot || controllers.size === 0)
        ? 2
        : 1;
  return { version, unified, controllers };
}

/** kubepods/<qos>/pod<uid> under the cgroup root; Guaranteed pods sit directly under kubepods. */
export function podCgroupPath(root: string, uid: string, qos: QOSClass): string {
  const qosDir = qos === 'Guaranteed' ? '' : qos === 'Burstable' ? 'burstable' : 'besteffort';
  return posix.join('/', root, 'kubepods', qosDir, `pod${uid}`);
}

async function exists(p: string): Promise<boolean> {
  try {
    await access(p);
    return true;
  } catch {
    return false;
  }
}

export class CgroupManager {
  readonly version: CgroupVersion;
  private readonly unified?: string;
  private readonly controllers: Map<string, string>;

  constructor(private readonly opts: { root: string; logger: Logger; mountinfo?: string }) {
    const m = cgroupMounts(opts.mountinfo ?? readFileSync('/proc/self/mountinfo', 'utf8'));
    this.version = m.version;
    this.unified = m.unified;
    this.controllers = m.controllers;
    if (this.version === 1 && (!this.controllers.has('cpu') || !this.controllers.has('memory')))
      throw new Error('cgroup v1 cpu and memory controllers are not mounted');
    if (this.version === 2 && !this.unified) throw new Error('no cgroup filesystem is mounted');
  }

  get root(): string {
    return posix.join('/', this.opts.root);
  }

  /** Directories of a cgroup path in each hierarchy that matters to us. */
  private dirs(path: string, controllers = ['cpu', 'memory']): string[] {
    if (this.version === 2) return [join(this.unified!, path)];
    return [...new Set(controllers.map((c) => this.controllers.get(c)).filter((m): m is string => !!m))].map((m) =>
      join(m, path),
    );
  }

  /** Create <root>/kubepods and its QoS children; on v2 enable the controllers down the tree. */
  async init(): Promise<void> {
    const kubepods = posix.join(this.root, 'kubepods');
    for (const p of [kubepods, posix.join(kubepods, 'burstable'), posix.join(kubepods, 'besteffort')])
      await this.ensure(p);
    // BestEffort pods only get CPU that nobody else wants.
    await this.setCpu(posix.join(kubepods, 'besteffort'), MIN_SHARES, undefined, 100_000);
  }

  private async ensure(path: string): Promise<void> {
    if (this.version === 2) {
      // Controllers must be enabled in every ancestor's subtree_control for the leaf to have them.
      const parts = path.split('/').filter(Boolean);
      let cur = this.unified!;
      for (const part of parts) {
        await this.enableSubtree(cur);
        cur = join(cur, part);
        await mkdir(cur, { recursive: true });
      }
      await this.enableSubtree(cur);
      return;
    }
    for (const d of this.dirs(path)) await mkdir(d, { recursive: true });
  }

  private async enableSubtree(dir: string): Promise<void> {
    const want = ['cpu', 'memory', 'pids'];
    const enabled = (await readFile(join(dir, 'cgroup.subtree_control'), 'utf8').catch(() => '')).split(/\s+/);
    const missing = want.filter((c) => !enabled.includes(c));
    if (missing.length)
      await writeFile(join(dir, 'cgroup.subtree_control'), missing.map((c) => `+${c}`).join(' ')).catch((e) => {
        this.opts.logger.warn('cannot enable cgroup controllers', { dir, controllers: missing, error: e as Error });
      });
  }

  private async setCpu(path: string, shares: number, quotaUs: number | undefined, periodUs: number): Promise<void> {
    if (this.version === 2) {
      const d = join(this.unified!, path);
      await writeFile(join(d, 'cpu.weight'), String(sharesToWeight(shares)));
      await writeFile(join(d, 'cpu.max'), `${quotaUs ?? 'max'} ${periodUs}`);
      return;
    }
    const d = join(this.controllers.get('cpu')!, path);
    await writeFile(join(d, 'cpu.shares'), String(shares));
    await writeFile(join(d, 'cpu.cfs_period_us'), String(periodUs));
    await writeFile(join(d, 'cpu.cfs_quota_us'), String(quotaUs ?? -1));
  }

  private async setMemory(path: string, limitBytes: number | undefined): Promise<void> {
    if (this.version === 2) {
      await writeFile(join(this.unified!, path, 'memory.max'), limitBytes === undefined ? 'max' : String(limitBytes));
      return;
    }
    await writeFile(join(this.controllers.get('memory')!, path, 'memory.limit_in_bytes'), String(limitBytes ?? -1));
  }

  /** Create the pod's cgroup with its summed limits; returns the path to give Docker as CgroupParent. */
  async ensurePod(pod: V1Pod, qos: QOSClass): Promise<string> {
    const path = podCgroupPath(this.opts.root, pod.metadata!.uid!, qos);
    await this.ensure(path);
    const rc = podResourceConfig(pod, qos);
    try {
      await this.setCpu(path, rc.cpuShares, rc.cpuQuotaUs, rc.cpuPeriodUs);
      await this.setMemory(path, rc.memoryLimitBytes);
    } catch (e) {
      throw new Error(`cannot set limits on pod cgroup ${path}: ${errorMessage(e)}`);
    }
    return path;
  }

  /**
   * The pod cgroup's CPU and memory values as the kernel has them (kubelet's GetPodCgroupConfig):
   * quota -1 and memory Infinity when there is no limit.
   */
  async podConfig(path: string): Promise<PodCgroupConfig> {
    const read = async (controller: string, file: string) =>
      (await readFile(join(this.controllerDir(controller, path), file), 'utf8')).trim();
    if (this.version === 2) {
      const [quota, period] = (await read('cpu', 'cpu.max')).split(/\s+/);
      const weight = Number(await read('cpu', 'cpu.weight'));
      const mem = await read('memory', 'memory.max');
      return {
        cpuShares: weightToShares(weight),
        cpuQuotaUs: quota === 'max' ? -1 : Number(quota),
        cpuPeriodUs: Number(period),
        memoryLimitBytes: mem === 'max' ? Infinity : Number(mem),
      };
    }
    const mem = Number(await read('memory', 'memory.limit_in_bytes'));
    return {
      cpuShares: Number(await read('cpu', 'cpu.shares')),
      cpuQuotaUs: Number(await read('cpu', 'cpu.cfs_quota_us')),
      cpuPeriodUs: Number(await read('cpu', 'cpu.cfs_period_us')),
      // v1 reports "no limit" as the largest page-aligned 64-bit value.
      memoryLimitBytes: mem >= 2 ** 62 ? Infinity : mem,
    };
  }

  /** Write some of the pod cgroup's values (kubelet's SetPodCgroupConfig): one resize step. */
  async setPodConfig(path: string, set: Partial<PodCgroupConfig>): Promise<void> {
    if (set.memoryLimitBytes !== undefined)
      await this.setMemory(path, Number.isFinite(set.memoryLimitBytes) ? set.memoryLimitBytes : undefined);
    if (set.cpuQuotaUs === undefined && set.cpuShares === undefined) return;
    const cur = await this.podConfig(path);
    const quota = set.cpuQuotaUs ?? cur.cpuQuotaUs;
    await this.setCpu(
      path,
      set.cpuShares ?? cur.cpuShares,
      quota < 0 ? undefined : quota,
      set.cpuPeriodUs ?? cur.cpuPeriodUs,
    );
  }

  /** The pod's cgroup path if it exists (under whichever QoS it was created). */
  async findPod(uid: string): Promise<string | undefined> {
    for (const qos of ['Guaranteed', 'Burstable', 'BestEffort'] as const) {
      const p = podCgroupPath(this.opts.root, uid, qos);
      if (await exists(this.dirs(p)[0]!)) return p;
    }
    return undefined;
  }

  /** Remove a cgroup path (children first) in every hierarchy. Fails quietly for a busy cgroup. */
  async remove(path: string): Promise<void> {
    // On a hybrid host runc also makes every container's cgroup path in the (controller-less) v2
    // tree at /sys/fs/cgroup/unified: the pod's directory there must go as well.
    const mounts =
      this.version === 2
        ? [this.unified!]
        : [...new Set([...this.controllers.values(), ...(this.unified ? [this.unified] : [])])];
    for (const m of mounts)
      await removeTree(join(m, path)).catch((e) =>
        this.opts.logger.warn('cannot remove cgroup', { path: join(m, path), error: e as Error }),
      );
  }

  async removePod(uid: string): Promise<void> {
    const p = await this.findPod(uid);
    if (p) await this.remove(p);
  }

  /** CPU and memory use of a cgroup path (the pod's, or <root>/kubepods for all pods). */
  async usage(path: string): Promise<CgroupUsage | undefined> {
    try {
      if (this.version === 2) {
        const d = join(this.unified!, path);
        const cpu = parseKeyed(await readFile(join(d, 'cpu.stat'), 'utf8'));
        const usage = Number((await readFile(join(d, 'memory.current'), 'utf8')).trim());
        const mem = parseKeyed(await readFile(join(d, 'memory.stat'), 'utf8'));
        return {
          cpuUsageNs: (cpu.usage_usec ?? 0) * 1000,
          memoryUsageBytes: usage,
          memoryWorkingSetBytes: Math.max(0, usage - (mem.inactive_file ?? 0)),
        };
      }
      const cpuacct = this.controllers.get('cpuacct') ?? this.controllers.get('cpu')!;
      const cpuNs = Number((await readFile(join(cpuacct, path, 'cpuacct.usage'), 'utf8')).trim());
      const memDir = join(this.controllers.get('memory')!, path);
      const usage = Number((await readFile(join(memDir, 'memory.usage_in_bytes'), 'utf8')).trim());
      const mem = parseKeyed(await readFile(join(memDir, 'memory.stat'), 'utf8'));
      return {
        cpuUsageNs: cpuNs,
        memoryUsageBytes: usage,
        memoryWorkingSetBytes: Math.max(0, usage - (mem.total_inactive_file ?? 0)),
      };
    } catch {
      return undefined;
    }
  }

  /** The directory where a controller's files for `path` live (tests read cpu.cfs_quota_us etc.). */
  controllerDir(controller: string, path: string): string {
    return this.version === 2 ? join(this.unified!, path) : join(this.controllers.get(controller)!, path);
  }
}

/** The inverse of sharesToWeight (runc's mapping), for reading a v2 pod cgroup back as shares. */
function weightToShares(weight: number): number {
  return weight <= 0 ? 0 : 2 + Math.round(((weight - 1) * 262142) / 9999);
}

/** "key value" lines (memory.stat, cpu.stat) -> numbers by key. */
export function parseKeyed(text: string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out[k] = Number(v);
  }
  return out;
}

/** rmdir a cgroup and its descendants, deepest first (cgroup directories hold only pseudo-files). */
export async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(join(dir, e.name));
  // A cgroup whose last process just exited may be busy for a moment.
  for (let i = 0; ; i++) {
    try {
      await rmdir(dir);
      return;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || i >= 20) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}
