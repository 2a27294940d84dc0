// The allocation store on disk, in host-local's format so that either plugin can read the other's
// state: <dataDir>/<network>/<ip> holds "<containerID>\r\n<ifname>", and
// <dataDir>/<network>/last_reserved_ip.<rangeSetIndex> the address handed out last.
//
// Two layers of safety against handing out one address twice:
//  - every allocation file is created with O_EXCL ("wx"), so two processes can never both own one
//    address, even a host-local sharing the directory;
//  - a store-wide lock (.kubenode.lock, created with O_EXCL, holding our pid) serialises the
//    read-decide-write sequence so concurrent ADDs do not spin on the same candidate, and so GC
//    and DEL see a consistent directory. Node.js has no flock(2); a lock whose holder died is
//    detected by its pid and broken. Host-local's own "lock" file (flock) is left alone.
import {
  closeSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { formatIP, parseIP, type IP } from '../../lib/ip.js';
import { CniError, ErrorCode } from '../spec/errors.js';

export interface Allocation {
  ip: IP;
  file: string;
  containerId: string;
  ifName: string;
}

const LOCK = '.kubenode.lock';
const LAST = 'last_reserved_ip.';
const pause = new Int32Array(new SharedArrayBuffer(4));
const sleep = (ms: number) => Atomics.wait(pause, 0, 0, ms);

export interface LockOptions {
  /** Give up (code 11, try again later) after this long. */
  timeoutMs?: number;
  /** A lock older than this is considered abandoned even if its pid seems alive (pid reuse, other pid namespace). */
  staleMs?: number;
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class DiskStore {
  readonly dir: string;

  constructor(dataDir: string, network: string) {
    this.dir = join(dataDir, network);
  }

  /** Run fn with the store locked. */
  withLock<T>(fn: () => T, opts: LockOptions = {}): T {
    this.lock(opts);
    try {
      return fn();
    } finally {
      try {
        unlinkSync(join(this.dir, LOCK));
      } catch {
        /* already broken by someone else: nothing to release */
      }
    }
  }

  private lock({ timeoutMs = 60_000, staleMs = 30_000 }: LockOptions): void {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const path = join(this.dir, LOCK);
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        const fd = openSync(path, 'wx', 0o644);
        writeSync(fd, String(process.pid));
        closeSync(fd);
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      // Checking for an abandoned lock costs three system calls; a live holder needs about a
      // millisecond, so look only now and then.
      if (attempt % 8 === 7) this.breakIfAbandoned(path, staleMs);
      if (Date.now() > deadline) {
        throw new CniError(
          ErrorCode.TryAgainLater,
          'IPAM store is busy',
          `could not lock ${path} within ${timeoutMs} ms`,
        );
      }
      // Randomised, growing waits (1 ms up to 16 ms): a hundred waiters polling every millisecond
      // would steal the CPU from the one holder they wait for.
      sleep(1 + Math.floor(Math.random() * Math.min(16, 2 ** Math.min(attempt, 4))));
    }
  }

  private breakIfAbandoned(path: string, staleMs: number): void {
    let pid: number, age: number;
    try {
      age = Date.now() - statSync(path).mtimeMs;
      pid = Number(readFileSync(path, 'utf8'));
    } catch {
      return; // released meanwhile
    }
    // An empty file is a lock being written right now; give its writer a moment.
    const dead = pid > 0 ? !alive(pid) : age > 1000;
    if (dead || age > staleMs) {
      try {
        unlinkSync(path);
      } catch {
        /* someone else broke it first */
      }
    }
  }

  /** Every allocation in the store. */
  allocations(): Allocation[] {
    let names: string[];
    try {
      names = readdirSync(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: Allocation[] = [];
    for (const file of names) {
      const ip = parseIP(file);
      if (!ip) continue; // lock files, last_reserved_ip.N, anything else
      let text: string;
      try {
        text = readFileSync(join(this.dir, file), 'utf8');
      } catch {
        continue; // released between readdir and read
      }
      // host-local writes "id\r\nifname"; very old versions wrote only the id.
      const [containerId = '', ifName = ''] = text.split(/\r?\n/).map((s) => s.trim());
      out.push({ ip, file, containerId, ifName });
    }
    return out;
  }

  /** Claim an address; false if it is taken. */
  reserve(ip: IP, containerId: string, ifName: string, rangeSetIndex: number): boolean {
    mkdirSync(this.dir, { recursive: true, mode: 0o755 });
    const name = formatIP(ip);
    try {
      writeFileSync(join(this.dir, name), `${containerId}\r\n${ifName}`, { flag: 'wx', mode: 0o644 });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw e;
    }
    writeFileSync(join(this.dir, LAST + rangeSetIndex), name);
    return true;
  }

  release(a: Allocation): void {
    try {
      unlinkSync(join(this.dir, a.file));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
  }

  lastReserved(rangeSetIndex: number): IP | undefined {
    try {
      return parseIP(readFileSync(join(this.dir, LAST + rangeSetIndex), 'utf8').trim());
    } catch {
      return undefined;
    }
  }
}
