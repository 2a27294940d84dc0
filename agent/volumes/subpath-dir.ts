// The path a volumeMount's subPath names inside its volume, made ready as kubelet does in
// makeMounts with SafeMakeDir (pkg/volume/util/subpath/subpath_linux.go): each missing directory
// gets the volume root's permission bits (setgid and sticky included), applied with chmod after
// mkdir so that the umask cannot narrow them; an emptyDir is 0777, so its subdirectories are too
// and a container of any user can write there. A subPath that resolves outside the volume
// (through a symlink a container made in it) is refused, as kubelet refuses it.
import { chmod, lstat, mkdir, realpath, stat } from 'node:fs/promises';
import { dirname, join, sep } from 'node:path';

export class SubPathError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SubPathError';
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await lstat(path);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw e;
  }
}

async function assertWithin(root: string, path: string): Promise<void> {
  const [r, p] = await Promise.all([realpath(root), realpath(path)]);
  if (p !== r && !p.startsWith(r.endsWith(sep) ? r : r + sep))
    throw new SubPathError(`subpath "${path}" not within volume path "${root}"`);
}

/**
 * The host path of `subPath` (relative, already checked for '..') in the volume at `root`.
 * `create`: make missing directories (not for read-only API-data volumes, whose keys exist).
 */
export async function prepareSubPath(root: string, subPath: string, create: boolean): Promise<string> {
  const full = join(root, subPath);
  if (create && !(await exists(full))) {
    const mode = (await stat(root)).mode & 0o7777;
    let current = root;
    for (const part of subPath.split('/').filter((p) => p !== '' && p !== '.')) {
      current = join(current, part);
      if (await exists(current)) continue;
      await assertWithin(root, dirname(current)); // never create through a symlink leading out
      await mkdir(current, { mode });
      await chmod(current, mode);
    }
  }
  if (await exists(full)) await assertWithin(root, full);
  return full;
}
