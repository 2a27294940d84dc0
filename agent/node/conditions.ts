// The node's four conditions, decided from readings (pure). Reasons are kubelet's, because
// `kubectl describe node`, dashboards and people look for them; messages say what kubenode saw.
// https://kubernetes.io/docs/reference/node/node-status/#condition
import type { V1NodeCondition } from '@kubernetes/client-node';
import { formatBytes } from '../../lib/quantity.js';
import type { EvictionThresholds } from './eviction.js';
import type { MachineReadings } from './readings.js';

export type ConditionType = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure' | 'Ready';
/** kubelet's order, which `kubectl describe node` shows. */
export const CONDITION_TYPES: readonly ConditionType[] = ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'];

/** A condition without its times: what the agent decides. Times come from withTimes(). */
export interface ConditionState {
  type: ConditionType;
  status: 'True' | 'False';
  reason: string;
  message: string;
}

export interface Readiness {
  ready: boolean;
  /** Why (not) ready, in one word, e.g. "NetworkPluginNotReady"; may be empty. */
  reason: string;
  message: string;
}

const pct = (f: number) => `${Math.round(f * 100)}%`;

/**
 * The eviction manager's decision, for the conditions it decides (those it has thresholds for):
 * the thresholds that hold each one True (kept True for the pressure transition period), or an
 * empty list for False. Conditions absent here are judged from the readings.
 */
export type PressureDecision = Partial<Record<'MemoryPressure' | 'DiskPressure' | 'PIDPressure', string[]>>;

// Messages name the threshold, never the current reading: a reading changes every few seconds
// and a changed message is a changed status, which would be written to the apiserver each time.
export function pressureConditions(
  r: MachineReadings,
  t: EvictionThresholds,
  decided: PressureDecision = {},
): ConditionState[] {
  const memory = decided.MemoryPressure
    ? decided.MemoryPressure.length > 0
    : r.memoryAvailableBytes < t.memoryAvailableBytes;
  const diskBytes = r.nodefs.availableBytes < r.nodefs.capacityBytes * t.nodefsAvailable;
  const diskInodes = r.nodefs.inodes > 0 && r.nodefs.inodesFree < r.nodefs.inodes * t.nodefsInodesFree;
  const disk = decided.DiskPressure ? decided.DiskPressure.length > 0 : diskBytes || diskInodes;
  const pids = decided.PIDPressure
    ? decided.PIDPressure.length > 0
    : r.pids.max - r.pids.inUse < r.pids.max * t.pidAvailable;
  const memLimit = decided.MemoryPressure?.join(', ') || `memory.available<${formatBytes(t.memoryAvailableBytes)}`;
  const diskLimit =
    decided.DiskPressure?.join(', ') ||
    (diskBytes ? `nodefs.available<${pct(t.nodefsAvailable)}` : `nodefs.inodesFree<${pct(t.nodefsInodesFree)}`);
  const pidLimit = decided.PIDPressure?.join(', ') || `pid.available<${pct(t.pidAvailable)}`;
  return [
    memory
      ? {
          type: 'MemoryPressure',
          status: 'True',
          reason: 'KubeletHasInsufficientMemory',
          message: `available memory is below the hard eviction threshold ${memLimit}`,
        }
      : {
          type: 'MemoryPressure',
          status: 'False',
          reason: 'KubeletHasSufficientMemory',
          message: `available memory is above the hard eviction threshold ${memLimit}`,
        },
    disk
      ? {
          type: 'DiskPressure',
          status: 'True',
          reason: 'KubeletHasDiskPressure',
          message: `the node filesystem is below the hard eviction threshold ${diskLimit}`,
        }
      : {
          type: 'DiskPressure',
          status: 'False',
          reason: 'KubeletHasNoDiskPressure',
          message: `the node filesystem is above the hard eviction thresholds nodefs.available<${pct(t.nodefsAvailable)}, nodefs.inodesFree<${pct(t.nodefsInodesFree)}`,
        },
    pids
      ? {
          type: 'PIDPressure',
          status: 'True',
          reason: 'KubeletHasInsufficientPID',
          message: `available process ids are below the hard eviction threshold ${pidLimit}`,
        }
      : {
          type: 'PIDPressure',
          status: 'False',
          reason: 'KubeletHasSufficientPID',
          message: `available process ids are above the hard eviction threshold pid.available<${pct(t.pidAvailable)}`,
        },
  ];
}

/**
 * Ready, from the agent's own readiness check (container runtime reachable, pod network
 * configured...). The reason is kubelet's KubeletReady / KubeletNotReady; the check's own reason
 * leads the message, as kubelet's "container runtime network not ready: NetworkReady=false ...".
 */
export function readyCondition(r: Readiness): ConditionState {
  if (r.ready)
    return {
      type: 'Ready',
      status: 'True',
      reason: 'KubeletReady',
      message: r.message || 'kubenode is posting ready status',
    };
  const why = r.reason && r.reason !== 'KubeletNotReady' ? `${r.reason}: ` : '';
  return { type: 'Ready', status: 'False', reason: 'KubeletNotReady', message: `${why}${r.message || 'not ready'}` };
}

/**
 * The conditions as written to the Node: lastHeartbeatTime is now (this write is the heartbeat);
 * lastTransitionTime is kept from the condition the apiserver has while the status stays the
 * same, and is now when it changes (including from the node controller's "Unknown").
 */
export function withTimes(
  states: ConditionState[],
  current: V1NodeCondition[] | undefined,
  now: Date,
): V1NodeCondition[] {
  return states.map((s) => {
    const prev = current?.find((c) => c.type === s.type);
    const since = prev && prev.status === s.status && prev.lastTransitionTime ? new Date(prev.lastTransitionTime) : now;
    return { ...s, lastHeartbeatTime: now, lastTransitionTime: since };
  });
}
