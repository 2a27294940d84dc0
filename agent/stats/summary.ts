// /stats/summary in the shape of kubelet's stats API (stats/v1alpha1): the node's CPU and memory
// (from /proc) and each pod's and container's (from their cgroups). usageNanoCores is the rate
// between two samples, so the first call after start reports only cumulative CPU time.
// https://github.com/kubernetes/kubelet/blob/master/pkg/apis/stats/v1alpha1/types.go
import { readFile } from 'node:fs/promises';
import { posix } from 'node:path';
import type { CgroupManager, CgroupUsage } from '../runtime/cgroups.js';
import type { StatusManager } from '../status/status-manager.js';
import { capacityList, type NodeCapacity } from './capacity.js';

interface CpuStats {
  time: string;
  usageNanoCores?: number;
  usageCoreNanoSeconds: number;
}
interface MemoryStats {
  time: string;
  availableBytes?: number;
  usageBytes: number;
  workingSetBytes: number;
}

export class StatsProvider {
  private last = new Map<string, { t: number; ns: number }>();

  constructor(
    private readonly opts: {
      nodeName: string;
      cgroups: CgroupManager;
      status: StatusManager;
      capacity: NodeCapacity;
      startTime: Date;
    },
  ) {}

  private cpu(key: string, usageNs: number, now: number): CpuStats {
    const prev = this.last.get(key);
    this.last.set(key, { t: now, ns: usageNs });
    // nanocores = CPU nanoseconds used per second of wall time.
    const usageNanoCores =
      prev && now > prev.t && usageNs >= prev.ns
        ? Math.round(((usageNs - prev.ns) * 1000) / (now - prev.t))
        : undefined;
    return { time: new Date(now).toISOString(), usageNanoCores, usageCoreNanoSeconds: usageNs };
  }

  private memory(u: CgroupUsage, now: number, available?: number): MemoryStats {
    return {
      time: new Date(now).toISOString(),
      ...(available !== undefined ? { availableBytes: available } : {}),
      usageBytes: u.memoryUsageBytes,
      workingSetBytes: u.memoryWorkingSetBytes,
    };
  }

  private async node(now: number) {
    const stat = await readFile('/proc/stat', 'utf8');
    const f = stat.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // user nice system idle iowait irq softirq steal: busy = all - idle - iowait, in USER_HZ (100/s).
    const busyTicks = f.slice(0, 8).reduce((a, b) => a + b, 0) - (f[3] ?? 0) - (f[4] ?? 0);
    const mem = Object.fromEntries(
      (await readFile('/proc/meminfo', 'utf8')).split('\n').map((l) => {
        const m = /^(\w+):\s+(\d+)/.exec(l);
        return m ? [m[1]!, Number(m[2]) * 1024] : ['', 0];
      }),
    );
    const usage = {
      cpuUsageNs: busyTicks * 1e7,
      memoryUsageBytes: mem.MemTotal - mem.MemFree,
      memoryWorkingSetBytes: mem.MemTotal - mem.MemAvailable,
    };
    return {
      nodeName: this.opts.nodeName,
      startTime: this.opts.startTime.toISOString(),
      cpu: this.cpu('node', usage.cpuUsageNs, now),
      memory: this.memory(usage, now, mem.MemAvailable),
      // Not in kubelet's summary (it is on the Node object there); here for nodes without an apiserver.
      capacity: capacityList(this.opts.capacity),
    };
  }

  async summary(): Promise<unknown> {
    const now = Date.now();
    const pods = [];
    for (const { pod, status } of this.opts.status.list()) {
      const uid = pod.metadata!.uid!;
      const path = await this.opts.cgroups.findPod(uid);
      const podUsage = path ? await this.opts.cgroups.usage(path) : undefined;
      const containers = [];
      for (const cs of status.containerStatuses ?? []) {
        if (!cs.state?.running || !cs.containerID || !path) continue;
        const id = cs.containerID.replace(/^docker:\/\//, '');
        const u = await this.opts.cgroups.usage(posix.join(path, id));
        if (!u) continue;
        containers.push({
          name: cs.name,
          startTime: new Date(cs.state.running.startedAt!).toISOString(),
          cpu: this.cpu(`c/${id}`, u.cpuUsageNs, now),
          memory: this.memory(u, now),
        });
      }
      pods.push({
        podRef: { name: pod.metadata!.name, namespace: pod.metadata!.namespace, uid },
        startTime: status.startTime ? new Date(status.startTime).toISOString() : undefined,
        containers,
        ...(podUsage
          ? { cpu: this.cpu(`p/${uid}`, podUsage.cpuUsageNs, now), memory: this.memory(podUsage, now) }
          : {}),
      });
    }
    return { node: await this.node(now), pods };
  }
}
