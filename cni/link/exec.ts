// Running iproute2/iptables from a CNI plugin. Same rules as lib/exec.ts (argument arrays, never
// a shell; missing programs named with what to install) but synchronous: a plugin runs one step
// at a time anyway, and child_process.spawnSync costs a few milliseconds less on first use than
// the asynchronous spawn (which loads Node's stream/net machinery), which matters in a process
// that lives ~60 ms (measured in bench/cni-latency).
import { spawnSync } from 'node:child_process';
import { ExecError, MissingProgramError, type RunResult } from '../../lib/exec.js';

export interface SyncRunOptions {
  input?: string | Buffer;
  env?: NodeJS.ProcessEnv;
  allowFailure?: boolean;
  timeoutMs?: number;
}

export function runSync(file: string, args: readonly string[], opts: SyncRunOptions = {}): RunResult {
  const r = spawnSync(file, args, {
    input: opts.input ?? '',
    env: opts.env ?? process.env,
    timeout: opts.timeoutMs ?? 30_000,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error) {
    if ((r.error as NodeJS.ErrnoException).code === 'ENOENT') throw new MissingProgramError(file);
    throw r.error;
  }
  const result: RunResult = {
    code: r.status ?? -1,
    signal: r.signal,
    stdout: r.stdout?.toString() ?? '',
    stderr: r.stderr?.toString() ?? '',
  };
  if (result.code !== 0 && !opts.allowFailure) throw new ExecError(file, args, result);
  return result;
}
