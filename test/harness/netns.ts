// Network namespaces for tests: created with the run prefix, always removed in teardown.
import { run } from '../../lib/exec.js';
import { requireProgram, requireRoot } from './require.js';

export interface Teardownable {
  teardown(fn: () => unknown): void;
}

/** Create a named network namespace (under /run/netns) with loopback up; removed at teardown. */
export async function createNetns(t: Teardownable, name: string): Promise<string> {
  requireRoot();
  requireProgram('ip');
  await run('ip', ['netns', 'add', name]);
  t.teardown(() => deleteNetns(name));
  await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export async function deleteNetns(name: string): Promise<void> {
  // Deleting a namespace destroys the veth ends inside it, and with them their peers.
  await run('ip', ['netns', 'delete', name], { allowFailure: true });
}

/** Run a command in a namespace and return stdout; throws on a non-zero exit. */
export async function inNetns(name: string, file: string, args: string[], timeoutMs = 30_000): Promise<string> {
  return (await run('ip', ['netns', 'exec', name, file, ...args], { timeoutMs })).stdout;
}

/** Links in the root namespace whose names start with prefix (to prove nothing was left). */
export async function linksWithPrefix(prefix: string, netns?: string): Promise<string[]> {
  const args = netns ? ['-n', netns, '-o', 'link', 'show'] : ['-o', 'link', 'show'];
  const out = (await run('ip', args)).stdout;
  return out
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => n.startsWith(prefix));
}
