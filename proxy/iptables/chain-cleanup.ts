// Removing a fixed set of chains and the jumps into them (pure): what --cleanup and a mode switch
// need for the IPVS mode's iptables chains and for userspace mode's, given what the kernel
// holds. Jumps are deleted first, so that each chain is unreferenced when it is deleted.
import { hasJump, type JumpRule, type Table } from './static-rules.js';

export function renderChainCleanup(
  jumps: readonly JumpRule[],
  ownChains: Record<Table, readonly string[]>,
  builtinRules: ReadonlyMap<string, readonly string[]>,
  kernelChains: Record<Table, ReadonlySet<string>>,
): string {
  let input = '';
  for (const table of ['filter', 'nat'] as const) {
    const lines: string[] = [];
    for (const j of jumps) {
      if (j.table !== table) continue;
      for (const l of builtinRules.get(`${table} ${j.builtin}`) ?? []) {
        const del = `-D${l.slice(2)}\n`;
        if (hasJump([l], j) && !lines.includes(del)) lines.push(del);
      }
    }
    const ours = ownChains[table].filter((c) => kernelChains[table].has(c));
    for (const c of ours) lines.push(`:${c} - [0:0]\n`);
    for (const c of ours) lines.push(`-X ${c}\n`);
    if (lines.length) input += `*${table}\n${lines.join('')}COMMIT\n`;
  }
  return input;
}
