// The podCIDR file the CNI IPAM reads its subnet from: one CIDR and a newline. Written
// atomically (a temporary file in the same directory, then rename) so a plugin running at that
// moment reads the old content or the new, never half of it.
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

/** Returns false when the file already held this CIDR (nothing written). */
export async function writePodCIDRFile(path: string, cidr: string): Promise<boolean> {
  const content = `${cidr}\n`;
  if ((await readFile(path, 'utf8').catch(() => undefined)) === content) return false;
  const dir = dirname(path);
  await mkdir(dir, { recursive: true });
  const tmp = join(dir, `.${basename(path)}.${process.pid}.tmp`);
  await writeFile(tmp, content, { mode: 0o644 });
  await rename(tmp, path);
  return true;
}
