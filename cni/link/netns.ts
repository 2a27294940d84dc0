// Is CNI_NETNS a network namespace? Checked before anything is changed, so a wrong path fails
// cleanly: a path that does not exist is an unknown container (spec code 3), a path that is not a
// namespace is an invalid CNI_NETNS (code 4). statfs(2) on a namespace file reports nsfs.
import { statfsSync } from 'node:fs';
import { CniError, ErrorCode } from '../spec/errors.js';

const NSFS_MAGIC = 0x6e736673;

export type NetnsState = 'ok' | 'missing' | 'not-a-namespace';

export function netnsState(path: string): NetnsState {
  if (!path) return 'missing';
  // A relative path names nothing a runtime could have meant (the spec's CNI_NETNS is a path to a
  // namespace file such as /run/netns/x or /proc/PID/ns/net); checked first because fuzzing
  // (test/unit/fuzz-cni.test.ts) found a 5,000-character relative path answered as an I/O
  // failure (5, ENAMETOOLONG) instead of the spec's invalid environment (4).
  if (!path.startsWith('/')) return 'not-a-namespace';
  try {
    return statfsSync(path).type === NSFS_MAGIC ? 'ok' : 'not-a-namespace';
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR' || code === 'ESRCH') return 'missing';
    // Too long or otherwise unusable as a path: a bad variable (4), not an I/O failure (5).
    if (code === 'ENAMETOOLONG' || code === 'EINVAL' || code === 'ELOOP') return 'not-a-namespace';
    throw e;
  }
}

export function requireNetns(path: string): void {
  const s = netnsState(path);
  if (s === 'missing')
    throw new CniError(
      ErrorCode.UnknownContainer,
      'network namespace does not exist',
      `CNI_NETNS ${path}: no such file`,
    );
  if (s === 'not-a-namespace')
    throw new CniError(
      ErrorCode.InvalidEnvironment,
      'invalid environment variable CNI_NETNS',
      `CNI_NETNS ${path} is not a network namespace`,
    );
}
