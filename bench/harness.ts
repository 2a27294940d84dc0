// The project's benchmark harness: time things, print medians and p99 beside a floor measured
// in the same run, and the ratio between them. Benchmarks print; they never fail on a number.
import { performance } from 'node:perf_hooks';
import { spawn, spawnSync } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import { run } from '../lib/exec.js';

export interface Stats {
  n: number;
  min: number;
  median: number;
  p99: number;
  max: number;
  mean: number;
}

export function stats(samples: readonly number[]): Stats {
  if (samples.length === 0) throw new Error('stats: no samples');
  const s = [...samples].sort((a, b) => a - b);
  const q = (p: number) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)]!;
  return {
    n: s.length,
    min: s[0]!,
    median: q(0.5),
    p99: q(0.99),
    max: s[s.length - 1]!,
    mean: s.reduce((a, b) => a + b, 0) / s.length,
  };
}

/** Time an async function `runs` times (after `warmup` untimed runs); milliseconds per run. */
export async function timeRuns(
  runs: number,
  fn: (i: number) => Promise<unknown> | unknown,
  warmup = 2,
): Promise<number[]> {
  for (let i = 0; i < warmup; i++) await fn(-1 - i);
  const out: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

const fmt = (ms: number) => (ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2));

/** One line: "label  n=100  median 12.3 ms  p99 15.0 ms  (min 11.0, max 16.2)". */
export function report(label: string, samples: readonly number[], unit = 'ms'): Stats {
  const st = stats(samples);
  console.log(
    `${label.padEnd(44)} n=${String(st.n).padEnd(4)} median ${fmt(st.median).padStart(7)} ${unit}  p99 ${fmt(st.p99).padStart(7)} ${unit}  (min ${fmt(st.min)}, max ${fmt(st.max)})`,
  );
  return st;
}

/** Print the ratio of a measurement to its floor, by median and by p99. */
export function ratio(label: string, measured: Stats, floor: Stats, goal?: number): void {
  const rm = measured.median / floor.median;
  const rp = measured.p99 / floor.p99;
  const g = goal === undefined ? '' : `  goal <= ${goal}x: ${rm <= goal ? 'met' : 'NOT met'}`;
  console.log(`${label.padEnd(44)} ratio to floor: median ${rm.toFixed(2)}x  p99 ${rp.toFixed(2)}x${g}`);
}

/** The machine the figures came from, printed at the top of every bench. */
export function printMachine(title: string): void {
  let kernel = '';
  try {
    kernel = readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim();
  } catch {
    /* not Linux */
  }
  const cpu = cpus()[0]?.model ?? 'unknown cpu';
  console.log(`# ${title}`);
  console.log(
    `# machine: ${cpus().length} x ${cpu}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, kernel ${kernel}, node ${process.version}`,
  );
  const git = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' });
  if (git.status === 0) console.log(`# commit: ${git.stdout.trim()}  date: ${new Date().toISOString()}`);
}

/** Resident set size of a process in MiB, from /proc. */
export function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /VmRSS:\s+(\d+) kB/.exec(status);
  return m ? Number(m[1]) / 1024 : NaN;
}

/** CPU time (user+system) of a process in seconds, from /proc/PID/stat. */
export function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks / 100; // USER_HZ is 100 on Linux
}

/**
 * Run this bench file again with --inner inside a network namespace of its own (created and
 * removed here), so that the rules it programs never touch the machine's own.
 */
export async function runInnerInNetns(ns: string, file: string): Promise<void> {
  await run('ip', ['netns', 'add', ns]);
  try {
    const child = spawn('ip', ['netns', 'exec', ns, process.execPath, file, '--inner'], { stdio: 'inherit' });
    const code = await new Promise<number | null>((res) => child.once('exit', res));
    if (code !== 0) process.exitCode = 1;
  } finally {
    await run('ip', ['netns', 'delete', ns], { allowFailure: true });
  }
}

/**
 * Waits on a program's JSON log lines (kubenode's structured logs on stderr): the returned
 * function resolves with the first line from now on that `pred` accepts. Lines that are not
 * JSON are passed over.
 */
export function jsonLogWaiter(
  stream: Readable,
): (pred: (line: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>> {
  const lines = createInterface({ input: stream });
  return (pred) =>
    new Promise((resolve) => {
      const on = (text: string) => {
        let line: Record<string, unknown>;
        try {
          line = JSON.parse(text) as Record<string, unknown>;
        } catch {
          return;
        }
        if (pred(line)) {
          lines.off('line', on);
          resolve(line);
        }
      };
      lines.on('line', on);
    });
}
