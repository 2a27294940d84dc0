// kubelet gives Guaranteed pods and sandboxes a negative oom_score_adj (-997, -998) so the kernel
// kills them last. Lowering a score below the current one needs CAP_SYS_RESOURCE; where the agent
// (and so runc) lacks it, asking for a negative score makes every container start fail. Find out
// once, at start, by trying on ourselves (raising it back is always allowed).
import { readFileSync, writeFileSync } from 'node:fs';

/** The lowest oom_score_adj containers can be given here: -1000, or the current value if it cannot be lowered. */
export function minimumOomScoreAdj(): number {
  const file = '/proc/self/oom_score_adj';
  let current: number;
  try {
    current = Number(readFileSync(file, 'utf8').trim());
  } catch {
    return -1000;
  }
  try {
    writeFileSync(file, String(current - 1));
    writeFileSync(file, String(current));
    return -1000;
  } catch {
    return current;
  }
}
