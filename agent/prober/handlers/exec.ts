// exec: the command runs in the container through ProbeTarget.exec (docker exec for the
// agent), which must kill it when the probe's timeout passes. Exit 0 is success. A command that
// could not be run at all (the container is going away, docker is busy) is kubelet's "unknown":
// it moves no threshold.
import type { ProbeTarget, ProbeOutcome } from '../types.js';
import { truncate } from './common.js';
import { errorMessage } from '../../../lib/errors.js';

/** Thrown by a ProbeTarget.exec whose command outlived its timeout (and was killed). */
export class ExecTimeoutError extends Error {
  constructor(
    readonly timeoutMs: number,
    detail = '',
  ) {
    super(`command timed out after ${timeoutMs / 1000}s${detail ? `: ${detail}` : ''}`);
    this.name = 'ExecTimeoutError';
  }
}

export async function execProbe(target: ProbeTarget, command: string[], timeoutMs: number): Promise<ProbeOutcome> {
  let r: { exitCode: number; output: string };
  try {
    r = await target.exec(command, timeoutMs);
  } catch (e) {
    if (e instanceof ExecTimeoutError || (e as Error)?.name === 'ExecTimeoutError') {
      return { result: 'failure', message: `timeout after ${timeoutMs / 1000}s: ${errorMessage(e)}` };
    }
    return { result: 'unknown', message: `exec ${JSON.stringify(command)} could not run: ${errorMessage(e)}` };
  }
  if (r.exitCode === 0) return { result: 'success', message: 'exit code 0' };
  const out = truncate(r.output ?? '');
  return { result: 'failure', message: `exit code ${r.exitCode}${out ? `: ${out}` : ''}` };
}
