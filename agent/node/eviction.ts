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
