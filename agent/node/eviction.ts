// The hard eviction thresholds the node's pressure conditions are measured against, and which
// allocatable keeps back. The defaults are kubelet's on Linux
// (https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/#hard-eviction-thresholds):
// memory.available<100Mi, nodefs.available<10%, nodefs.inodesFree<5%.
//
// kubelet has no default for pid.available, so upstream PIDPressure stays False unless an
// operator sets one. A condition that can never change tells a reader nothing, so kubenode uses
// pid.available<10% (the same proportion as nodefs) by default; pass evictionHard to change it.
export interface EvictionThresholds {
  /** memory.available: bytes of memory that must stay available. */
  memoryAvailableBytes: number;
  /** nodefs.available: fraction (0..1) of the node filesystem that must stay free. */
  nodefsAvailable: number;
  /** nodefs.inodesFree: fraction (0..1) of the node filesystem's inodes that must stay free. */
  nodefsInodesFree: number;
  /** pid.available: fraction (0..1) of the process-id space that must stay free. */
  pidAvailable: number;
}

export const DEFAULT_EVICTION_HARD: EvictionThresholds = {
  memoryAvailableBytes: 100 * 1024 * 1024,
  nodefsAvailable: 0.1,
  nodefsInodesFree: 0.05,
  pidAvailable: 0.1,
};

/**
 * The node-status view of --eviction-hard (kubelet's syntax, agent/eviction/thresholds.ts): the
 * memory and nodefs thresholds as bytes and fractions of the given capacities; a signal without
 * a threshold keeps nothing back. pid.available keeps kubenode's default unless one is given.
 */
export function nodeThresholds(
  list: readonly { signal: string; quantity?: number; percentage?: number }[],
  capacity: { memoryBytes: number; nodefsBytes: number },
): EvictionThresholds {
  const of = (signal: string, total: number, asFraction: boolean): number => {
    const t = list.find((x) => x.signal === signal);
    if (!t) return 0;
    if (t.percentage !== undefined) return asFraction ? t.percentage : Math.trunc(total * t.percentage);
    return asFraction ? (total > 0 ? Math.min(1, t.quantity! / total) : 0) : t.quantity!;
  };
  const pid = list.find((x) => x.signal === 'pid.available');
  return {
    memoryAvailableBytes: of('memory.available', capacity.memoryBytes, false),
    nodefsAvailable: of('nodefs.available', capacity.nodefsBytes, true),
    nodefsInodesFree: list.find((x) => x.signal === 'nodefs.inodesFree')?.percentage ?? 0,
    pidAvailable: pid ? (pid.percentage ?? 0) : DEFAULT_EVICTION_HARD.pidAvailable,
  };
}
