// Applying ipMasq rules: one iptables-restore --noflush per family per change, never one
// iptables process per rule. The rule text comes from masq.ts.
import type { Family } from '../../lib/ip.js';
import { runSync } from '../link/exec.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { masqChainsInSave, masqDeletion, masqRules, type MasqTarget } from './masq.js';

const restoreBin = (f: Family) => (f === 4 ? 'iptables-restore' : 'ip6tables-restore');
const saveBin = (f: Family) => (f === 4 ? 'iptables-save' : 'ip6tables-save');

function restore(f: Family, input: string, what: string): void {
  const r = runSync(restoreBin(f), ['--noflush'], { input, allowFailure: true });
  if (r.code !== 0) throw new CniError(ErrorCode.Internal, `failed to ${what}`, `${restoreBin(f)}: ${r.stderr.trim()}`);
}

function save(f: Family): string {
  return runSync(saveBin(f), ['-t', 'nat']).stdout;
}

export function installMasq(t: MasqTarget): void {
  for (const [f, input] of masqRules(t)) restore(f, input, `install ipMasq rules (chain ${t.chain})`);
}

/** Remove chains and the rules jumping to them; absent ones are fine (DEL is idempotent). */
export function removeMasq(chains: Set<string>, families: Iterable<Family>): void {
  for (const f of new Set(families)) {
    const input = masqDeletion(save(f), chains);
    if (input) restore(f, input, `remove ipMasq rules (${[...chains].join(', ')})`);
  }
}

export function masqChainExists(chain: string, f: Family): boolean {
  return save(f)
    .split('\n')
    .some((l) => l === `:${chain} - [0:0]` || l.startsWith(`:${chain} `));
}

/** GC: remove this network's chains whose attachment is no longer valid. */
export function collectMasq(network: string, valid: { containerId: string; ifName: string }[]): number {
  const keep = new Set(valid.map((v) => `${v.containerId}\0${v.ifName}`));
  let removed = 0;
  for (const f of [4, 6] as Family[]) {
    let text: string;
    try {
      text = save(f);
    } catch (e) {
      if (f === 6) continue; // no IPv6 tables on this host: nothing of ours there
      throw e;
    }
    const stale = new Set<string>();
    for (const [chain, a] of masqChainsInSave(text)) {
      if (a.network === network && !keep.has(`${a.containerId}\0${a.ifName}`)) stale.add(chain);
    }
    const input = stale.size ? masqDeletion(text, stale) : undefined;
    if (input) {
      restore(f, input, 'garbage-collect ipMasq rules');
      removed += stale.size;
    }
  }
  return removed;
}
