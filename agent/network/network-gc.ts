// When the agent calls CNI GC, and with what. Upstream kubelet leaves this to the runtime:
// containerd and CRI-O give GC the sandboxes they still know, and kubenode, being its own
// runtime, does the same: once after the first relist at start-up (addresses whose sandboxes
// vanished in a node reboot or an agent crash, records and all, are reclaimed) and then
// periodically in housekeeping. The valid list is every sandbox container of this agent, ready or
// not (a not-ready sandbox still holds its address until its teardown DEL). Like containerd, the
// agent assumes it is the only runtime using the network's configuration: sandboxes of another
// --instance sharing the same network name and IPAM store would be collected.
import type { Logger } from '../../lib/log.js';
import type { PodRuntimeStatus } from '../runtime/types.js';
import type { CniNetwork, ValidAttachment } from './cni.js';
import { NoNetworkConfigError } from './conflist.js';
import { errorMessage } from '../../lib/errors.js';

/** A modest period: GC is a safety net for what DEL missed, not the normal way addresses go. */
export const NETWORK_GC_INTERVAL_MS = 5 * 60_000;

export interface SandboxLister {
  podStatuses(): Promise<Map<string, PodRuntimeStatus>>;
}

/** The attachments of the sandboxes that exist (the pod interface is eth0 for every one). Pure. */
export function validAttachments(pods: Map<string, PodRuntimeStatus>): ValidAttachment[] {
  return [...pods.values()].flatMap((p) => p.sandboxes.map((s) => ({ containerId: s.id, ifName: 'eth0' })));
}

/** One GC pass; never throws (a failure is logged and the next pass tries again). */
export async function collectNetworkGarbage(
  network: Pick<CniNetwork, 'garbageCollect'>,
  runtime: SandboxLister,
  logger: Logger,
  when: string,
): Promise<void> {
  let sandboxes = 0;
  try {
    const dropped = await network.garbageCollect(async () => {
      let pods: Map<string, PodRuntimeStatus>;
      try {
        pods = await runtime.podStatuses();
      } catch (e) {
        // Never GC with an empty list because the runtime did not answer: that would release
        // every live pod's address.
        throw new Error(`cannot list the pod sandboxes, so nothing is collected: ${errorMessage(e)}`);
      }
      const valid = validAttachments(pods);
      sandboxes = valid.length;
      return valid;
    });
    logger.info('CNI GC done', { when, validSandboxes: sandboxes, cachedResultsDropped: dropped });
  } catch (e) {
    // A node without any CNI configuration (host-network pods only, or the network add-on not
    // installed yet) has nothing to collect: not worth a warning every pass.
    if (e instanceof NoNetworkConfigError) logger.debug('CNI GC: nothing to collect', { when, reason: e.message });
    else logger.warn('CNI GC failed', { when, error: errorMessage(e) });
  }
}
