// `nft -a monitor` in the node's namespace, line by line. Not `monitor trace` alone: the ruleset
// events tell us when the monitor is listening (it prints our own "add table" once subscribed),
// so no packet is marked before someone is there to see its trace. setpriv --pdeathsig makes the
// kernel kill nft when we die, even by SIGKILL, so no monitor outlives its trace.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Netns } from './kernel.js';

export interface Monitor {
  child: ChildProcess;
  /** Resolves at the first line matching, or rejects after timeoutMs. */
  waitFor(pred: (line: string) => boolean, timeoutMs: number): Promise<string>;
  stop(): void;
}

export function startMonitor(ns: Netns, onLine: (line: string) => void): Monitor {
  const [file, args] = ns.command('setpriv', ['--pdeathsig', 'KILL', '--', 'nft', '-a', 'monitor']);
  const child = spawn(file, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const waiters = new Set<(line: string) => void>();
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    onLine(line);
    for (const w of waiters) w(line);
  });
  return {
    child,
    waitFor: (pred, timeoutMs) =>
      new Promise((resolve, reject) => {
        const done = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          child.off('exit', exited);
          f();
        };
        const check = (line: string) => {
          if (pred(line)) done(() => resolve(line));
        };
        const exited = (code: number | null) =>
          done(() => reject(new Error(`nft monitor exited ${code}: ${stderr.trim()}`)));
        const timer = setTimeout(
          () =>
            done(() =>
              reject(
                new Error(
                  `nft monitor printed nothing expected within ${timeoutMs} ms${stderr ? `: ${stderr.trim()}` : ''}`,
                ),
              ),
            ),
          timeoutMs,
        );
        waiters.add(check);
        child.once('exit', exited);
      }),
    stop: () => {
      if (child.exitCode === null) child.kill('SIGTERM');
    },
  };
}
