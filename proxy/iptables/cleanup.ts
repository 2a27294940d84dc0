// --cleanup: remove every jump, chain and rule we install, and nothing else.
import type { Logger } from '../../lib/log.js';
import { type IptablesBackend, ourChains } from './backend.js';
import { hasJump, JUMP_RULES, STATIC_CHAINS, type Table } from './static-rules.js';

/** Referrers before the chains they jump to, so each chain is unreferenced when it is deleted. */
const RANK: ReadonlyArray<string> = ['KUBE-FW-', 'KUBE-EXT-', 'KUBE-SVC-', 'KUBE-SVL-', 'KUBE-SEP-'];
const rank = (c: string) => RANK.findIndex((p) => c.startsWith(p));

/** Restore inputs that remove our rules (pure, given what the kernel holds). */
export function planCleanup(
  builtins: ReadonlyMap<string, readonly string[]>,
  chains: Record<Table, Iterable<string>>,
  maxChainsPerRestore: number,
): string[] {
  const inputs: string[] = [];
  const ours: Record<Table, string[]> = {
    nat: ourChains('nat', chains.nat),
    filter: ourChains('filter', chains.filter),
  };
  const statics = (t: Table) => ours[t].filter((c) => STATIC_CHAINS[t].includes(c));
  let first = '';
  for (const table of ['filter', 'nat'] as const) {
    const lines: string[] = [];
    for (const j of JUMP_RULES) {
      if (j.table !== table) continue;
      for (const l of builtins.get(`${table} ${j.builtin}`) ?? [])
        if (hasJump([l], j) && !lines.includes(`-D${l.slice(2)}\n`)) lines.push(`-D${l.slice(2)}\n`);
    }
    // Flush the shared chains first: then no Service chain is referenced any more.
    for (const c of statics(table)) lines.push(`:${c} - [0:0]\n`);
    if (table === 'filter') for (const c of statics(table)) lines.push(`-X ${c}\n`);
    if (lines.length) first += `*${table}\n${lines.join('')}COMMIT\n`;
  }
  if (first) inputs.push(first);
  const serviceChains = ours.nat.filter((c) => rank(c) >= 0).sort((a, b) => rank(a) - rank(b));
  for (let i = 0; i < serviceChains.length; i += maxChainsPerRestore) {
    const part = serviceChains.slice(i, i + maxChainsPerRestore);
    inputs.push(`*nat\n${part.map((c) => `:${c} - [0:0]\n`).join('')}${part.map((c) => `-X ${c}\n`).join('')}COMMIT\n`);
  }
  const natStatics = statics('nat');
  if (natStatics.length) inputs.push(`*nat\n${natStatics.map((c) => `-X ${c}\n`).join('')}COMMIT\n`);
  return inputs;
}

export async function cleanupRules(backend: IptablesBackend, log: Logger): Promise<void> {
  const [builtins, chains] = await Promise.all([backend.builtinRules(JUMP_RULES), backend.listChains()]);
  const inputs = planCleanup(builtins, chains, backend.kind === 'nft' ? 3000 : Infinity);
  if (inputs.length) await backend.restore(inputs.join(''));
  log.info('removed kubenode-proxy iptables rules', {
    chains: ourChains('nat', chains.nat).length + ourChains('filter', chains.filter).length,
  });
}
