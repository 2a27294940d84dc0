// iproute2 in batch mode: many link/addr/route operations in one process (`ip -batch -`),
// on the host or inside a pod's network namespace (through nsenter, which works for any
// namespace path: /run/netns/NAME and /proc/PID/ns/net alike, where `ip -n` takes only names).
import { trace } from '../skel/trace.js';
import { runSync } from './exec.js';

export interface BatchFailure {
  /** 1-based line of the batch that failed. */
  line: number;
  message: string;
}

export interface BatchResult {
  ok: boolean;
  failures: BatchFailure[];
  /** With json: each command's JSON output, in order (commands printing nothing add nothing). */
  outputs: unknown[];
  /** stderr that was not about a batch line (nsenter failing, for example). */
  otherErrors: string;
}

export interface BatchOptions {
  /** Run inside this network namespace (a path). */
  netns?: string;
  json?: boolean;
  details?: boolean;
  /** Keep going after a failed line (`ip -force`), so tolerated failures do not stop the rest. */
  force?: boolean;
}

export function ipBatch(lines: readonly string[], opts: BatchOptions = {}): BatchResult {
  const flags = [
    ...(opts.json ? ['-j'] : []),
    ...(opts.details ? ['-d'] : []),
    ...(opts.force ? ['-force'] : []),
    '-batch',
    '-',
  ];
  const input = lines.join('\n') + '\n';
  const named = opts.netns ? namedNetns(opts.netns) : undefined;
  const r = !opts.netns
    ? runSync('ip', flags, { input, allowFailure: true })
    : named
      ? runSync('ip', ['-n', named, ...flags], { input, allowFailure: true })
      : runSync('nsenter', [`--net=${opts.netns}`, '--', 'ip', ...flags], { input, allowFailure: true });
  trace(`ip -batch ${opts.netns ?? 'host'} (${lines.length} lines) done`);
  return parseBatchOutput(r.code, r.stdout, r.stderr, !!opts.json);
}

/** A namespace under /run/netns can be entered by `ip -n NAME` itself: one exec instead of two. */
export function namedNetns(path: string): string | undefined {
  return /^\/(?:var\/)?run\/netns\/([^/]+)$/.exec(path)?.[1];
}

/** ip reports "<reason>\nCommand failed -:N" for each failed line. Pure. */
export function parseBatchOutput(code: number, stdout: string, stderr: string, json: boolean): BatchResult {
  const failures: BatchFailure[] = [];
  let pending: string[] = [];
  for (const l of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)$/.exec(l.trim());
    if (m) {
      failures.push({ line: Number(m[1]), message: pending.join('; ') });
      pending = [];
    } else if (l.trim()) {
      pending.push(l.trim());
    }
  }
  const outputs: unknown[] = [];
  if (json) {
    for (const l of stdout.split('\n')) {
      const t = l.trim();
      if (!t) continue;
      try {
        outputs.push(JSON.parse(t));
      } catch {
        /* not JSON: ignore */
      }
    }
  }
  return { ok: code === 0, failures, outputs, otherErrors: pending.join('; ') };
}

export const isExists = (f: BatchFailure) => /File exists/i.test(f.message);
export const isNoDevice = (msg: string) => /Cannot find device|does not exist|No such device/i.test(msg);
