// Keeps CNI GC from releasing an address that an ADD has just reserved. GC is given the
// attachments that are valid *when the runtime is listed*; a sandbox created after that list,
// whose ADD ran before GC reached the IPAM store, would lose its address. So GC is exclusive
// with ADD, as a read-write lock: ADDs share it (any number at once), a GC waits for the ADDs in
// flight, holds back new ones while it lists the sandboxes and runs the plugins, then lets them go.
export class GcGate {
  private adds = 0;
  private drained?: () => void;
  private gc?: Promise<void>;

  /** Run one ADD (waits while a GC holds the gate). */
  async add<T>(fn: () => Promise<T>): Promise<T> {
    while (this.gc) await this.gc;
    this.adds++;
    try {
      return await fn();
    } finally {
      if (--this.adds === 0) this.drained?.();
    }
  }

  /** Run a GC alone: after the ADDs in flight end, before any new one starts. */
  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.gc) await this.gc;
    let release!: () => void;
    this.gc = new Promise<void>((r) => (release = r));
    try {
      if (this.adds > 0) await new Promise<void>((r) => (this.drained = r));
      this.drained = undefined;
      return await fn();
    } finally {
      this.gc = undefined;
      release();
    }
  }
}
