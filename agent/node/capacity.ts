// Node capacity and allocatable, as kubelet computes them (pure):
//   capacity     what the machine has: cpu, memory, pods (max pods), ephemeral-storage (nodefs)
//   allocatable  capacity - reserved (kube-reserved + system-reserved) - hard eviction thresholds
// Subtracting the eviction thresholds is what keeps the scheduler from filling a node up to the
// point where the agent would have to evict. Nothing is ever below zero.
// https://kubernetes.io/docs/tasks/administer-cluster/reserve-compute-resources/#node-allocatable
import { formatBytes, parseQuantity, quantityMilliValue, quantityValue } from '../../lib/quantity.js';
import type { EvictionThresholds } from './eviction.js';
import type { MachineReadings } from './readings.js';

export interface Reserved {
  cpu?: string;
  memory?: string;
}

/** The resources as numbers: CPU in millicores, memory and storage in bytes. */
export interface NodeResources {
  cpuMilli: number;
  memoryBytes: number;
  pods: number;
  ephemeralStorageBytes: number;
}

export function capacityOf(r: MachineReadings, maxPods: number): NodeResources {
  return {
    cpuMilli: r.cpuCores * 1000,
    memoryBytes: r.memoryTotalBytes,
    pods: maxPods,
    ephemeralStorageBytes: r.nodefs.capacityBytes,
  };
}

export function allocatableOf(
  capacity: NodeResources,
  reserved: Reserved,
  evictionHard: EvictionThresholds,
): NodeResources {
  const reservedCpu = reserved.cpu ? quantityMilliValue(reserved.cpu) : 0;
  const reservedMemory = reserved.memory ? quantityValue(reserved.memory) : 0;
  // kubelet turns a percentage threshold into bytes of this capacity, rounding down.
  const nodefsKept = Math.floor(capacity.ephemeralStorageBytes * evictionHard.nodefsAvailable);
  return {
    cpuMilli: Math.max(0, capacity.cpuMilli - reservedCpu),
    memoryBytes: Math.max(0, capacity.memoryBytes - reservedMemory - evictionHard.memoryAvailableBytes),
    pods: capacity.pods,
    ephemeralStorageBytes: Math.max(0, capacity.ephemeralStorageBytes - nodefsKept),
  };
}

/** The resource list as the Node API carries it: {cpu: "2", memory: "24683656Ki", ...}. */
export function resourceList(r: NodeResources): Record<string, string> {
  return {
    cpu: r.cpuMilli % 1000 === 0 ? String(r.cpuMilli / 1000) : `${r.cpuMilli}m`,
    'ephemeral-storage': formatBytes(r.ephemeralStorageBytes),
    memory: formatBytes(r.memoryBytes),
    pods: String(r.pods),
  };
}

/**
 * Two resource lists hold the same amounts. Compared by value, not text: the apiserver
 * rewrites quantities in canonical form ("5000" comes back as "5k"), and that is not a change.
 */
export function sameResources(a: Record<string, string> | undefined, b: Record<string, string> | undefined): boolean {
  const ka = Object.keys(a ?? {}).sort();
  const kb = Object.keys(b ?? {}).sort();
  if (ka.join('\0') !== kb.join('\0')) return false;
  return ka.every((k) => sameQuantity(a![k]!, b![k]!));
}

function sameQuantity(x: string, y: string): boolean {
  try {
    const p = parseQuantity(String(x));
    const q = parseQuantity(String(y));
    return p.numerator * q.denominator === q.numerator * p.denominator;
  } catch {
    return x === y;
  }
}
