// When probes run. Every worker asks for a callback at an absolute time on a monotonic clock
// (performance.now(), immune to wall-clock jumps). One timer serves them all: a min-heap of due
// times and a single setTimeout for the earliest, so 500 probes cost one timer, and stop()
// provably leaves no timer behind.
import { performance } from 'node:perf_hooks';

export type Cancel = () => void;

export interface Scheduler {
  /** Monotonic milliseconds. */
  now(): number;
  /** Call fn once at `dueMs` (or as soon as possible after it). */
  at(dueMs: number, fn: () => void): Cancel;
  /** Callbacks still waiting. */
  pending(): number;
  /** Cancel everything. */
  stop(): void;
}

interface Entry {
  due: number;
  seq: number;
  fn: () => void;
  cancelled: boolean;
}

/** A binary min-heap by (due, seq): equal due times run in the order they were asked for. */
class Heap {
  private a: Entry[] = [];
  get size(): number {
    return this.a.length;
  }
  peek(): Entry | undefined {
    return this.a[0];
  }
  clear(): void {
    this.a = [];
  }
  push(e: Entry): void {
    const a = this.a;
    a.push(e);
    let i = a.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(a[i]!, a[p]!)) break;
      [a[i], a[p]] = [a[p]!, a[i]!];
      i = p;
    }
  }
  pop(): Entry | undefined {
    const a = this.a;
    const top = a[0];
    const last = a.pop();
    if (a.length > 0 && last) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && less(a[l]!, a[m]!)) m = l;
        if (r < a.length && less(a[r]!, a[m]!)) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m]!, a[i]!];
        i = m;
      }
    }
    return top;
  }
}

const less = (x: Entry, y: Entry) => x.due < y.due || (x.due === y.due && x.seq < y.seq);

abstract class HeapScheduler implements Scheduler {
  protected heap = new Heap();
  private seq = 0;
  private live = 0;

  abstract now(): number;
  /** (Re)arm whatever wakes us for the heap's earliest entry, or disarm when it is empty. */
  protected abstract arm(): void;

  at(dueMs: number, fn: () => void): Cancel {
    const e: Entry = { due: dueMs, seq: this.seq++, fn, cancelled: false };
    const head = this.heap.peek();
    this.heap.push(e);
    this.live++;
    if (!head || less(e, head)) this.arm();
    return () => {
      if (e.cancelled) return;
      e.cancelled = true;
      this.live--;
      // Cancelled entries are dropped lazily; with none left alive, drop them all now so no
      // timer stays armed for nothing.
      if (this.live === 0) {
        this.heap.clear();
        this.arm();
      }
    };
  }

  pending(): number {
    return this.live;
  }

  stop(): void {
    this.heap.clear();
    this.live = 0;
    this.arm();
  }

  /** Run every entry due by `limit`, in due order. */
  protected runDue(limit: number): void {
    for (;;) {
      const head = this.heap.peek();
      if (!head || head.due > limit) break;
      this.heap.pop();
      if (head.cancelled) continue;
      head.cancelled = true;
      this.live--;
      head.fn();
    }
  }
}

/** The real scheduler: one setTimeout, always for the earliest entry. */
export class TimerScheduler extends HeapScheduler {
  private timer: NodeJS.Timeout | undefined;
  private timerDue = Infinity;

  now(): number {
    return performance.now();
  }

  protected arm(): void {
    let head = this.heap.peek();
    while (head?.cancelled) {
      this.heap.pop();
      head = this.heap.peek();
    }
    if (!head) {
      if (this.timer) clearTimeout(this.timer);
      this.timer = undefined;
      this.timerDue = Infinity;
      return;
    }
    if (this.timer && this.timerDue <= head.due) return;
    if (this.timer) clearTimeout(this.timer);
    this.timerDue = head.due;
    this.timer = setTimeout(this.fire, Math.max(0, head.due - this.now()));
  }

  private fire = (): void => {
    this.timer = undefined;
    this.timerDue = Infinity;
    // libuv counts whole milliseconds, so a timer may wake a fraction of a millisecond before
    // the fractional due time: treat that as due rather than arming a 0 ms timer again.
    this.runDue(this.now() + 1);
    this.arm();
  };
}

/** A scheduler whose clock moves only when a test says so. */
export class ManualScheduler extends HeapScheduler {
  private t = 0;

  constructor(start = 0) {
    super();
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  protected arm(): void {}

  /** Move the clock forward, running what falls due on the way, each at its own due time. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      const head = this.nextDue();
      if (head === undefined || head > end) break;
      this.t = Math.max(this.t, head);
      this.runDue(this.t);
    }
    this.t = end;
  }

  private nextDue(): number | undefined {
    let head = this.heap.peek();
    while (head?.cancelled) {
      this.heap.pop();
      head = this.heap.peek();
    }
    return head?.due;
  }
}
