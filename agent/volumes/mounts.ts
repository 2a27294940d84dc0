// What is mounted where, from /proc/self/mounts (mount points with their octal escapes decoded):
// volume code mounts tmpfs only where nothing is mounted yet, and unmounts only what lies under a
// pod's own directory.
import { readFile } from 'node:fs/promises';

/** Mount points at or under `dir`. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mounts', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .map((p) => p.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(dir + '/'));
}

export async function isMountPoint(dir: string): Promise<boolean> {
  return (await mountsUnder(dir)).includes(dir);
}
