// The node's capacity, from systeminformation: CPU cores, memory, pods (--max-pods) and the
// ephemeral storage of the filesystem holding --root-dir. Read once at start (it does not change
// under a running agent); shown in /stats/summary and used for downward API defaults.
import si from 'systeminformation';

export interface NodeCapacity {
  cpuMilli: number;
  memoryBytes: number;
  pods: number;
  ephemeralStorageBytes: number;
}

export async function readCapacity(rootDir: string, maxPods: number): Promise<NodeCapacity> {
  const [cpu, mem, fs] = await Promise.all([si.cpu(), si.mem(), si.fsSize().catch(() => [])]);
  // The filesystem whose mount point is the longest prefix of the root dir.
  const disk = fs
    .filter((f) => rootDir === f.mount || rootDir.startsWith(f.mount.endsWith('/') ? f.mount : f.mount + '/'))
    .sort((a, b) => b.mount.length - a.mount.length)[0];
  return { cpuMilli: cpu.cores * 1000, memoryBytes: mem.total, pods: maxPods, ephemeralStorageBytes: disk?.size ?? 0 };
}

/** As the Node object shows capacity: "2", "24680012Ki", "110". */
export function capacityList(c: NodeCapacity): Record<string, string> {
  return {
    cpu: c.cpuMilli % 1000 === 0 ? String(c.cpuMilli / 1000) : `${c.cpuMilli}m`,
    memory: `${Math.floor(c.memoryBytes / 1024)}Ki`,
    pods: String(c.pods),
    'ephemeral-storage': `${Math.floor(c.ephemeralStorageBytes / 1024)}Ki`,
  };
}
