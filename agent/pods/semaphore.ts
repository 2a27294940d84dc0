// At most N pod syncs talk to Docker at once: on a small node, 100 pods arriving together should
// queue rather than all fight for the daemon and the CPU at the same moment.
export class Semaphore {
  private waiters: (() => void)[] = [];
  private active = 0;
  constructor(private readonly limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((r) => this.waiters.push(r));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      this.waiters.shift()?.();
    }
  }
}
