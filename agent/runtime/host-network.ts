// Where hostNetwork pods live. On a real node (or a Vagrant VM) the agent runs in the machine's
// root network namespace and Docker's `--network host` is the node's network, as kubelet gets
// with CRI's NamespaceMode NODE. On an emulated node (scripts/cluster.sh: each node is a network
// namespace of one machine) the agent runs in the node's namespace, but `--network host` would
// still be dockerd's (the machine's root one): a hostNetwork pod would see the wrong addresses
// and the wrong iptables. Docker cannot join a namespace by path, only another container's, so
// cluster.sh creates each node's namespace from a long-lived holder container and names it with
// --host-network-container; hostNetwork sandboxes then use `container:<holder>`. Checked at start:
// the holder must run and its namespace must be the agent's own, or the flag is refused.
import { readlink } from 'node:fs/promises';
import type { Logger } from '../../lib/log.js';
import type { DockerRuntime } from './docker.js';

/** The namespace a process is in, as the kernel names it ("net:[4026531840]"). */
async function netnsOf(pid: number | 'self'): Promise<string | undefined> {
  return readlink(`/proc/${pid}/ns/net`).catch(() => undefined);
}

/**
 * The Docker network mode of hostNetwork sandboxes: `container:<id>` of the checked holder with
 * --host-network-container, else `host` (with a warning when the agent is not in the root
 * namespace, where that is not the node's network).
 */
export async function hostNetworkMode(
  runtime: Pick<DockerRuntime, 'inspect'>,
  holder: string | undefined,
  log: Logger,
): Promise<string> {
  const own = await netnsOf('self');
  if (!holder) {
    const root = await netnsOf(1);
    if (own && root && own !== root) {
      log.warn(
        "the agent runs outside the root network namespace but --host-network-container is not set: hostNetwork pods will join the machine's root namespace, not this node's",
        { agent: own, root },
      );
    }
    return 'host';
  }
  const info = await runtime.inspect(holder).catch((e: Error) => {
    throw new Error(`--host-network-container ${holder}: no such container: ${e.message}`);
  });
  if (!info.State.Running || !info.State.Pid)
    throw new Error(`--host-network-container ${holder}: the container is not running (${info.State.Status})`);
  const theirs = await netnsOf(info.State.Pid);
  if (theirs !== own)
    throw new Error(
      `--host-network-container ${holder}: its network namespace ${theirs} is not the agent's ${own}: hostNetwork pods would not be on this node's network`,
    );
  log.info('hostNetwork pods join the network namespace of a holder container (emulated node)', {
    container: holder,
    id: info.Id.slice(0, 12),
    netns: own,
  });
  return `container:${info.Id}`;
}
