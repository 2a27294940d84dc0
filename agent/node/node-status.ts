// The Node's status as this agent would write it, whether that differs from what the apiserver
// has, and whether it is time to write (all pure). kubelet computes the status every
// nodeStatusUpdateFrequency (10 s) but, since node Leases carry the heartbeat, writes it only
// when it changed or nodeStatusReportFrequency (5 min) has passed since the last write.
// https://kubernetes.io/docs/reference/node/node-status/#heartbeats
import type { V1NodeAddress, V1NodeStatus, V1NodeSystemInfo } from '@kubernetes/client-node';
import { allocatableOf, capacityOf, resourceList, sameResources, type Reserved } from './capacity.js';
import {
  CONDITION_TYPES,
  pressureConditions,
  readyCondition,
  withTimes,
  type PressureDecision,
  type Readiness,
} from './conditions.js';
import type { EvictionThresholds } from './eviction.js';
import type { MachineReadings } from './readings.js';
import type { SystemFacts } from './system-info.js';
import { KUBELET_VERSION } from './version.js';

export interface StatusInputs {
  readings: MachineReadings;
  readiness: Readiness;
  facts: SystemFacts;
  runtimeVersion: string;
  nodeIP?: string;
  hostname: string;
  maxPods: number;
  reserved: Reserved;
  evictionHard: EvictionThresholds;
  /** The eviction manager's pressure conditions, where it decides them. */
  pressure?: PressureDecision;
  kubeletPort: number;
}

export function nodeAddresses(nodeIP: string | undefined, hostname: string): V1NodeAddress[] {
  return [...(nodeIP ? [{ type: 'InternalIP', address: nodeIP }] : []), { type: 'Hostname', address: hostname }];
}

export function nodeInfo(facts: SystemFacts, runtimeVersion: string): V1NodeSystemInfo {
  return {
    ...facts,
    containerRuntimeVersion: runtimeVersion,
    kubeletVersion: KUBELET_VERSION,
    // Deprecated and no longer set by kubelet (it could not know which kube-proxy runs);
    // the field is still required by the API types, so it is sent empty.
    kubeProxyVersion: '',
  };
}

/** `current` is the status the apiserver has (for lastTransitionTime); `now` is this write's time. */
export function desiredNodeStatus(inp: StatusInputs, current: V1NodeStatus | undefined, now: Date): V1NodeStatus {
  const capacity = capacityOf(inp.readings, inp.maxPods);
  return {
    capacity: resourceList(capacity),
    allocatable: resourceList(allocatableOf(capacity, inp.reserved, inp.evictionHard)),
    conditions: withTimes(
      [...pressureConditions(inp.readings, inp.evictionHard, inp.pressure), readyCondition(inp.readiness)],
      current?.conditions,
      now,
    ),
    addresses: nodeAddresses(inp.nodeIP, inp.hostname),
    daemonEndpoints: { kubeletEndpoint: { Port: inp.kubeletPort } },
    nodeInfo: nodeInfo(inp.facts, inp.runtimeVersion),
  };
}

/**
 * What differs between the apiserver's status and ours, ignoring the times (a heartbeat alone
 * is not a change) and conditions other components own (NetworkUnavailable...). Returns the
 * names of what changed, for the log; empty means unchanged.
 */
export function statusChanges(current: V1NodeStatus | undefined, desired: V1NodeStatus): string[] {
  if (!current) return ['no status yet'];
  const changed: string[] = [];
  for (const type of CONDITION_TYPES) {
    const a = current.conditions?.find((c) => c.type === type);
    const b = desired.conditions?.find((c) => c.type === type);
    if (!a || !b || a.status !== b.status || a.reason !== b.reason || (a.message ?? '') !== (b.message ?? ''))
      changed.push(`condition ${type}`);
  }
  if (!sameResources(current.capacity, desired.capacity)) changed.push('capacity');
  if (!sameResources(current.allocatable, desired.allocatable)) changed.push('allocatable');
  const addr = (s: V1NodeStatus) => JSON.stringify((s.addresses ?? []).map((a) => [a.type, a.address]));
  if (addr(current) !== addr(desired)) changed.push('addresses');
  if (current.daemonEndpoints?.kubeletEndpoint?.Port !== desired.daemonEndpoints?.kubeletEndpoint?.Port)
    changed.push('daemonEndpoints');
  const info = desired.nodeInfo as unknown as Record<string, unknown>;
  const had = (current.nodeInfo ?? {}) as unknown as Record<string, unknown>;
  for (const k of Object.keys(info)) if ((had[k] ?? '') !== (info[k] ?? '')) changed.push(`nodeInfo.${k}`);
  return changed;
}

/** Write when something changed, or when the last write is reportFrequency old (or never happened). */
export function statusWriteDue(o: {
  changed: boolean;
  lastWriteMs: number | undefined;
  nowMs: number;
  reportFrequencyMs: number;
}): boolean {
  return o.changed || o.lastWriteMs === undefined || o.nowMs - o.lastWriteMs >= o.reportFrequencyMs;
}
