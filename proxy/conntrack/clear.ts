// Delete stale conntrack entries with conntrack(8). The tool has no batch mode, and these
// deletions are rare (a UDP endpoint going away), so it is one process per deletion.
import type { Logger } from '../../lib/log.js';
import { run } from '../../lib/exec.js';
import { conntrackArgs, type ConntrackDeletion } from './plan.js';

export async function clearConntrack(deletions: readonly ConntrackDeletion[], log: Logger): Promise<number> {
  let removed = 0;
  for (const d of deletions) {
    const args = conntrackArgs(d);
    // A missing conntrack(8) must not fail the sync (the rules are in place already): say so.
    const r = await run('conntrack', args, { allowFailure: true, timeoutMs: 10_000 }).catch((e: Error) => {
      log.warn('cannot delete stale UDP conntrack entries', { error: e.message });
      return undefined;
    });
    if (!r) break;
    // conntrack exits 1 when nothing matched, which is the usual case.
    const m = /(\d+) flow entries have been deleted/.exec(r.stderr + r.stdout);
    const n = m ? Number(m[1]) : 0;
    if (r.code !== 0 && n === 0 && !/0 flow entries/.test(r.stderr)) {
      log.warn('conntrack deletion failed', { args: args.join(' '), stderr: r.stderr.trim() });
      continue;
    }
    if (n > 0) log.info('deleted stale UDP conntrack entries', { ...d, entries: n });
    removed += n;
  }
  return removed;
}
