// The standalone source (--services-dir): Service and EndpointSlice manifests in a directory,
// for nodes with no control plane. The directory is watched; a change re-reads only the files
// whose content changed and reports objects added, changed and removed. A file that cannot be
// read as YAML keeps its previous objects (a half-saved file must not delete Services), and so
// does a file larger than MAX_MANIFEST_BYTES: parsing one 18 MB file took the proxy 20 s and
// about 900 MiB (found by the --services-dir fuzz test).
import { createHash } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../lib/log.js';
import { type ManifestObject, parseManifest } from './manifest.js';
import type { Source, SourceHandler } from './source.js';

interface FileState {
  /** sha256 of the content: what we keep to notice a change (not the text, not the objects). */
  digest: string;
  /** Object key -> just enough of the object to report its deletion. */
  objects: Map<string, ManifestObject>;
}

const MANIFEST = /\.(ya?ml|json)$/;

/**
 * The largest file read: the apiserver's default limit on a request body (3 MiB), so nothing
 * the apiserver would take is refused here. An object in etcd is smaller still (1.5 MiB).
 */
export const MAX_MANIFEST_BYTES = 3 * 1024 * 1024;

export const tooLarge = (file: string, bytes: number) =>
  `${file}: ${bytes} bytes is more than the ${MAX_MANIFEST_BYTES} bytes a manifest may have (the apiserver's request limit); not read, its previous objects are kept`;

export class DirectorySource implements Source {
  private readonly files = new Map<string, FileState>();
  /** Object key -> file that owns it (the first file to define an object keeps it). */
  private readonly owners = new Map<string, string>();
  /** Files too large to read, by size: reported once per size, not at every rescan. */
  private readonly oversized = new Map<string, number>();
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private debounce: NodeJS.Timeout | undefined;
  private scanning: Promise<void> | undefined;
  private again = false;
  private handler: SourceHandler | undefined;

  constructor(
    readonly dir: string,
    private readonly log: Logger,
    /** A rescan also runs this often, in case a watch event was lost. */
    private readonly pollMs = 10_000,
  ) {}

  async start(handler: SourceHandler): Promise<void> {
    this.handler = handler;
    await readdir(this.dir).catch((e: NodeJS.ErrnoException) => {
      throw new Error(`--services-dir ${this.dir}: ${e.code === 'ENOENT' ? 'no such directory' : e.message}`);
    });
    this.watcher = watch(this.dir, () => this.soon());
    this.watcher.on('error', (e) => this.log.warn('watching services dir failed', { dir: this.dir, error: e.message }));
    this.poll = setInterval(() => this.soon(), this.pollMs);
    await this.rescan();
    handler.synced();
  }

  async stop(): Promise<void> {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
    if (this.debounce) clearTimeout(this.debounce);
    this.handler = undefined;
    await this.scanning;
  }

  /** Editors write files in several steps: wait for the burst of events to end. */
  private soon(): void {
    if (this.debounce) clearTimeout(this.debounce);
    this.debounce = setTimeout(() => void this.rescan(), 50);
  }

  private rescan(): Promise<void> {
    if (this.scanning) {
      this.again = true;
      return this.scanning;
    }
    this.scanning = this.scanOnce()
      .catch((e: Error) => this.log.error('reading services dir failed', { dir: this.dir, error: e.message }))
      .finally(() => {
        this.scanning = undefined;
        if (this.again) {
          this.again = false;
          void this.rescan();
        }
      });
    return this.scanning;
  }

  private async scanOnce(): Promise<void> {
    const names = (await readdir(this.dir)).filter((n) => MANIFEST.test(n) && !n.startsWith('.')).sort();
    const present = new Set(names);
    for (const name of [...this.files.keys()]) if (!present.has(name)) this.replaceFile(name, undefined);
    for (const name of [...this.oversized.keys()]) if (!present.has(name)) this.oversized.delete(name);
    for (const name of names) {
      let text: string;
      try {
        const { size } = await stat(join(this.dir, name));
        if (size > MAX_MANIFEST_BYTES) {
          if (this.oversized.get(name) !== size)
            this.log.error('bad manifest skipped', { dir: this.dir, reason: tooLarge(name, size) });
          this.oversized.set(name, size);
          continue;
        }
        this.oversized.delete(name);
        text = await readFile(join(this.dir, name), 'utf8');
      } catch {
        continue; // removed between readdir and readFile: the next scan sees it gone
      }
      const digest = createHash('sha256').update(text).digest('hex');
      if (this.files.get(name)?.digest === digest) continue;
      const parsed = parseManifest(name, text);
      for (const err of parsed.errors) this.log.error('bad manifest skipped', { dir: this.dir, reason: err });
      if (parsed.unreadable && this.files.has(name)) {
        this.log.warn('keeping the previous objects of a file that cannot be read', { file: name });
        continue;
      }
      const objects = new Map<string, ManifestObject>();
      for (const o of parsed.objects) {
        const key = objectKey(o);
        if (objects.has(key))
          this.log.error('bad manifest skipped', { reason: `${name}: ${key} is defined twice; the first one is used` });
        else objects.set(key, o);
      }
      this.replaceFile(name, { digest, objects });
    }
  }

  private replaceFile(name: string, next: FileState | undefined): void {
    const h = this.handler;
    const old = this.files.get(name);
    if (next) this.files.set(name, next);
    else this.files.delete(name);
    for (const [key, o] of old?.objects ?? []) {
      if (next?.objects.has(key) || this.owners.get(key) !== name) continue;
      this.owners.delete(key);
      if (o.kind === 'Service') h?.serviceDeleted(o.obj);
      else h?.endpointSliceDeleted(o.obj);
    }
    for (const [key, o] of next?.objects ?? []) {
      const owner = this.owners.get(key);
      if (owner !== undefined && owner !== name) {
        this.log.error('bad manifest skipped', { reason: `${name}: ${key} is already defined in ${owner}` });
        continue;
      }
      this.owners.set(key, name);
      if (o.kind === 'Service') h?.serviceUpdated(o.obj);
      else h?.endpointSliceUpdated(o.obj);
      // The trackers keep what they need; the whole object is not worth 10,000 copies here.
      next!.objects.set(key, {
        kind: o.kind,
        obj: { metadata: { name: o.obj.metadata?.name, namespace: o.obj.metadata?.namespace } },
      } as ManifestObject);
    }
  }
}

function objectKey(o: ManifestObject): string {
  return `${o.kind} ${o.obj.metadata?.namespace ?? 'default'}/${o.obj.metadata?.name ?? ''}`;
}
