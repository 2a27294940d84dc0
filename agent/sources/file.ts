// The static manifest directory (--pod-manifest-path). Watched with inotify (fs.watch) so that an
// added, changed or deleted file is seen within a second, and rescanned on a timer as kubelet does
// (--file-check-frequency) in case an event was missed. Every scan sends a complete snapshot.
// Files whose names start with "." are ignored, as kubelet ignores them (editors' swap files).
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { readManifests } from './manifest.js';
import type { ManifestError, PodSource, SourceUpdate } from './types.js';
import { errorMessage } from '../../lib/errors.js';

export interface FileSourceOptions {
  dir: string;
  nodeName: string;
  checkFrequencyMs: number;
  logger: Logger;
}

export class FileSource implements PodSource {
  readonly name = 'file' as const;
  private watcher?: FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private emit?: (u: SourceUpdate) => void;
  private scanning = false;
  private rescan = false;
  private stopped = false;
  /** Parsed files by path, reused while size and mtime are unchanged. */
  private cache = new Map<string, { key: string; pods: V1Pod[]; errors: ManifestError[] }>();

  constructor(private readonly opts: FileSourceOptions) {}

  async start(emit: (u: SourceUpdate) => void): Promise<void> {
    this.emit = emit;
    await this.scan();
    this.timer = setInterval(() => void this.scan(), this.opts.checkFrequencyMs);
    this.timer.unref();
  }

  private ensureWatch(): void {
    if (this.watcher || this.stopped) return;
    try {
      this.watcher = watch(this.opts.dir, { persistent: false }, () => this.schedule());
      this.watcher.on('error', (e) => {
        this.opts.logger.warn('manifest directory watch failed; relying on rescans', { dir: this.opts.dir, error: e });
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      // The directory does not exist yet: scans retry every second until it does.
    }
  }

  /** Coalesce bursts of inotify events (an editor writes, renames, chmods) into one scan. */
  private schedule(): void {
    if (this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      void this.scan();
    }, 50);
  }

  private async scan(): Promise<void> {
    if (this.stopped) return;
    if (this.scanning) {
      this.rescan = true;
      return;
    }
    this.scanning = true;
    try {
      do {
        this.rescan = false;
        await this.scanOnce();
      } while (this.rescan && !this.stopped);
    } finally {
      this.scanning = false;
    }
  }

  private async scanOnce(): Promise<void> {
    this.ensureWatch();
    let names: string[];
    try {
      names = (await readdir(this.opts.dir)).filter((n) => !n.startsWith('.')).sort();
    } catch (e) {
      const err = e as NodeJS.ErrnoException;
      if (err.code === 'ENOENT') {
        // kubelet treats a missing directory as "no static pods" and keeps looking for it.
        this.opts.logger.debug('manifest directory does not exist yet', { dir: this.opts.dir });
        if (!this.watcher && !this.debounce)
          this.debounce = setTimeout(() => {
            this.debounce = undefined;
            void this.scan();
          }, 1000);
        this.send([], []);
      } else {
        this.opts.logger.error('cannot read manifest directory', { dir: this.opts.dir, error: err });
      }
      return;
    }
    const pods: V1Pod[] = [];
    const errors: ManifestError[] = [];
    const seen = new Set<string>();
    for (const n of names) {
      const path = join(this.opts.dir, n);
      try {
        const st = await stat(path);
        if (!st.isFile()) continue;
        seen.add(path);
        const key = `${st.size}:${st.mtimeMs}:${st.ino}`;
        let entry = this.cache.get(path);
        if (!entry || entry.key !== key) {
          const text = await readFile(path, 'utf8');
          entry = { key, ...readManifests(text, { source: 'file', origin: path, nodeName: this.opts.nodeName }) };
          this.cache.set(path, entry);
        }
        pods.push(...entry.pods);
        errors.push(...entry.errors);
      } catch (e) {
        // Deleted between readdir and read: the next event rescans.
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
          errors.push({ source: 'file', origin: path, object: '<file>', field: '<file>', reason: errorMessage(e) });
      }
    }
    for (const p of this.cache.keys()) if (!seen.has(p)) this.cache.delete(p);
    this.send(pods, errors);
  }

  private send(pods: V1Pod[], errors: ManifestError[]): void {
    if (!this.stopped) this.emit?.({ source: 'file', op: 'snapshot', pods, errors });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.watcher?.close();
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }
}
