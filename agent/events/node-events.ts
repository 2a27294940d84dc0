// Which Event a Node condition change is, as kubelet's recordNodeStatusEvent: every condition
// transition (and the first status) is a Normal event on the Node named for the new state,
// "Node <name> status is now: <reason>". Pure.
import type { EventType } from './types.js';

const BY_CONDITION: Record<string, { True: string; False: string }> = {
  Ready: { True: 'NodeReady', False: 'NodeNotReady' },
  MemoryPressure: { True: 'NodeHasInsufficientMemory', False: 'NodeHasSufficientMemory' },
  DiskPressure: { True: 'NodeHasDiskPressure', False: 'NodeHasNoDiskPressure' },
  PIDPressure: { True: 'NodeHasInsufficientPID', False: 'NodeHasSufficientPID' },
};

export interface NodeConditionEvent {
  type: EventType;
  reason: string;
  message: string;
}

/**
 * The events for going from `before` (condition type -> status; empty when the agent just
 * started) to `after`. Unknown and False both read as "not" for Ready.
 */
export function nodeConditionEvents(
  nodeName: string,
  before: ReadonlyMap<string, string>,
  after: ReadonlyMap<string, string>,
): NodeConditionEvent[] {
  const out: NodeConditionEvent[] = [];
  for (const [cond, status] of after) {
    const names = BY_CONDITION[cond];
    if (!names) continue;
    const reason = status === 'True' ? names.True : names.False;
    const was = before.get(cond);
    if (was !== undefined && (was === 'True' ? names.True : names.False) === reason) continue;
    out.push({ type: 'Normal', reason, message: `Node ${nodeName} status is now: ${reason}` });
  }
  return out;
}
