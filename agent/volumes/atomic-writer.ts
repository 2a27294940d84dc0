// Writes a payload into a volume directory the AtomicWriter way (the plan and its reasons are in
// atomic-plan.ts): a running container sees an update appear all at once. Nothing is written when
// the contents are unchanged, so a periodic refresh of an unchanged ConfigMap touches no file.
import { randomBytes } from 'node:crypto';
import {
  chmod,
  lchown,
  lstat,
  mkdir,
  readdir,
  readFile,
  readlink,
  rename,
  rm,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import {
  DATA_DIR_NAME,
  NEW_DATA_DIR_NAME,
  dataDirName,
  invalidPathReason,
  planWrite,
  type CurrentVolume,
  type WritePlan,
} from './atomic-plan.js';
import type { FileContent, Payload } from './payload.js';
import { ProjectionError } from './payload.js';
import { namingPath } from '../../lib/fs-errors.js';

async function readTree(
  root: string,
  rel = '',
  out = new Map<string, FileContent>(),
): Promise<Map<string, FileContent>> {
  for (const e of await readdir(join(root, rel), { withFileTypes: true })) {
    const p = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) await readTree(root, p, out);
    else if (e.isFile()) {
      const full = join(root, p);
      out.set(p, { data: await readFile(full), mode: (await lstat(full)).mode & 0o7777 });
    }
  }
  return out;
}

async function readCurrent(dir: string): Promise<{ current: CurrentVolume; oldDataDir?: string }> {
  const visible = new Set<string>();
  for (const name of await readdir(dir)) if (!name.startsWith('..')) visible.add(name);
  let target: string | undefined;
  try {
    target = await readlink(join(dir, DATA_DIR_NAME));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
  }
  if (!target) return { current: { visible } };
  try {
    return { current: { visible, files: await readTree(join(dir, target)) }, oldDataDir: target };
  } catch {
    // A dangling ..data (a write interrupted by a crash): rewrite everything.
    return { current: { visible }, oldDataDir: target };
  }
}

/** The payload's files under a new timestamped directory; an error names the file. */
async function writeData(tsDir: string, payload: Payload): Promise<void> {
  for (const [p, c] of payload) {
    const file = join(tsDir, p);
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o755 });
      await writeFile(file, c.data, { mode: c.mode });
      await chmod(file, c.mode); // writeFile's mode passes through the umask
      if (c.uid !== undefined) await lchown(file, c.uid, -1);
    } catch (e) {
      throw namingPath(file, e);
    }
  }
}

/** Write `payload` under `dir` (which must exist). Returns the plan that was carried out. */
export async function writeAtomically(dir: string, payload: Payload, now = new Date()): Promise<WritePlan> {
  for (const p of payload.keys()) {
    const reason = invalidPathReason(p);
    if (reason) throw new ProjectionError(`invalid path ${JSON.stringify(p)}: ${reason}`);
  }
  const { current, oldDataDir } = await readCurrent(dir);
  const plan = planWrite(payload, current);
  if (plan.replaceData) {
    const name = dataDirName(now, randomBytes(4).toString('hex'));
    const tsDir = join(dir, name);
    await mkdir(tsDir, { mode: 0o755 });
    try {
      await writeData(tsDir, payload);
    } catch (e) {
      // A full disk (ENOSPC) must not leave half a payload taking space; the old data stays visible.
      await rm(tsDir, { recursive: true, force: true }).catch(() => {});
      throw e;
    }
    await rm(join(dir, NEW_DATA_DIR_NAME), { force: true });
    await symlink(name, join(dir, NEW_DATA_DIR_NAME));
    // rename(2) over the old symlink: the one atomic step readers can observe.
    await rename(join(dir, NEW_DATA_DIR_NAME), join(dir, DATA_DIR_NAME));
  }
  for (const n of plan.addVisible) await symlink(join(DATA_DIR_NAME, n), join(dir, n));
  for (const n of plan.removeVisible) await rm(join(dir, n), { recursive: true, force: true });
  if (plan.replaceData && oldDataDir?.startsWith('..') && !oldDataDir.includes('/')) {
    await rm(join(dir, oldDataDir), { recursive: true, force: true });
  }
  return plan;
}
