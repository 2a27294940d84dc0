// The nftables side of "is the change in the kernel yet" for bench/proxy-upstream.ts: a
// listener on nftables' netlink notifications inside a node's namespace (nft-events-listen.ts;
// why not `nft monitor` or polling `nft list ruleset`: see there). It reports each address it was
// given the first time a committed transaction carries it.
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export class NftEvents {
  private readonly seen = new Map<string, number>();
  private readonly waiters = new Map<string, () => void>();
  /** Notifications were dropped at least once (a `when` then gives up at once: the caller polls instead). */
  overrun = false;

  private constructor(private readonly proc: ChildProcess) {}

  /** Start listening in `netns` for these IPv4 addresses; resolves once the socket is bound. */
  static async start(netns: string, addrs: readonly string[]): Promise<NftEvents> {
    const proc = spawn(
      'ip',
      [
        'netns',
        'exec',
        netns,
        process.execPath,
        join(fileURLToPath(new URL('.', import.meta.url)), 'nft-events-listen.js'),
        ...addrs,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const ev = new NftEvents(proc);
    const lines = createInterface({ input: proc.stdout! });
    await new Promise<void>((resolve, reject) => {
      proc.once('error', reject);
      proc.once('exit', (code) =>
        reject(new Error(`nft-events-listen.js exited (${String(code)}) before it listened`)),
      );
      lines.on('line', (line) => {
        if (line === 'ready') resolve();
        else if (line === 'overrun') ev.dropped();
        else if (line.startsWith('seen ')) ev.sighted(line.slice(5));
      });
    });
    // A listener that dies later cannot report anything more: its waiters give up (the caller
    // polls) instead of waiting out their timeout, an hour for a cold start.
    proc.once('exit', () => ev.dropped());
    return ev;
  }

  private dropped(): void {
    this.overrun = true;
    for (const w of this.waiters.values()) w();
    this.waiters.clear();
  }

  private sighted(addr: string): void {
    this.seen.set(addr, performance.now());
    this.waiters.get(addr)?.();
    this.waiters.delete(addr);
  }

  /** When `addr` was first seen (performance.now() time); waits for it, or gives up after `timeoutMs` or an overrun (undefined). */
  async when(addr: string, timeoutMs: number): Promise<number | undefined> {
    if (!this.seen.has(addr) && !this.overrun) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, timeoutMs);
        this.waiters.set(addr, () => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return this.seen.get(addr);
  }

  stop(): void {
    this.proc.kill('SIGTERM');
  }
}
