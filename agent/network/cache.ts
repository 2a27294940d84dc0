// The result cache: what ADD returned, with the configuration it used, kept under cacheDir so
// that DEL and CHECK get the same configuration and the prevResult the spec requires even if the
// configuration on disk changed or vanished since (libcni keeps the same, in
// <cacheDir>/results/<network>-<container>-<ifname>).
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface CachedAttachment {
  kind: 'kubenodeCniCacheV1';
  networkName: string;
  cniVersion: string;
  /** The configuration list as it was read at ADD. */
  config: Record<string, unknown>;
  configFile: string;
  containerId: string;
  ifName: string;
  netnsPath: string;
  cniArgs: [string, string][];
  capabilityArgs: Record<string, unknown>;
  result: unknown;
}

const safe = (s: string) => s.replace(/[^a-zA-Z0-9_.-]/g, '_');

export class ResultCache {
  private readonly dir: string;

  constructor(cacheDir: string) {
    this.dir = join(cacheDir, 'results');
  }

  private file(containerId: string, ifName: string): string {
    return join(this.dir, `${safe(containerId)}-${safe(ifName)}.json`);
  }

  async write(entry: CachedAttachment): Promise<void> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const f = this.file(entry.containerId, entry.ifName);
    const tmp = `${f}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await rename(tmp, f);
  }

  async read(containerId: string, ifName: string): Promise<CachedAttachment | undefined> {
    try {
      const e = JSON.parse(await readFile(this.file(containerId, ifName), 'utf8')) as CachedAttachment;
      return e.kind === 'kubenodeCniCacheV1' ? e : undefined;
    } catch {
      return undefined;
    }
  }

  async remove(containerId: string, ifName: string): Promise<void> {
    await rm(this.file(containerId, ifName), { force: true });
  }

  async list(): Promise<CachedAttachment[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return [];
    }
    const out: CachedAttachment[] = [];
    for (const n of names.filter((x) => x.endsWith('.json'))) {
      try {
        const e = JSON.parse(await readFile(join(this.dir, n), 'utf8')) as CachedAttachment;
        if (e.kind === 'kubenodeCniCacheV1') out.push(e);
      } catch {
        /* half-written or foreign: ignore */
      }
    }
    return out;
  }
}
