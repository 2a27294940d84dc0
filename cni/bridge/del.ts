// DEL: undo an ADD, best effort and idempotent (SPEC.md: succeed when the namespace, the
// interface or the addresses are already gone). Every step runs even if an earlier one failed;
// the first failure is reported at the end.
import { parseCIDR, type Family } from '../../lib/ip.js';
import { hostLinks } from '../link/host.js';
import { ipBatch, isNoDevice } from '../link/iproute.js';
import { netnsState } from '../link/netns.js';
import type { CommandContext } from '../skel/skel.js';
import { parseBridgeConf } from './config.js';
import { removeMasq } from './firewall.js';
import { ipamClient } from './ipam-client.js';
import { attachmentNames } from './names.js';

export async function cmdDel(ctx: CommandContext): Promise<void> {
  const { env, conf: netconf } = ctx;
  const conf = parseBridgeConf(netconf, env.args);
  const names = attachmentNames(netconf.name, env.containerId, env.ifName);
  const errors: unknown[] = [];
  const step = async (fn: () => Promise<void> | void) => {
    try {
      await fn();
    } catch (e) {
      errors.push(e);
    }
  };

  const ipam = ipamClient(ctx);
  if (ipam) await step(() => ipam.del());

  await step(async () => {
    // Deleting the host end removes the pair. Its name follows from the attachment, so this works
    // without the namespace; if the host end is gone but the namespace still holds the pod end
    // (deleted by hand, say), remove that one.
    const deleted = await (await hostLinks()).deleteLink(names.hostVeth);
    if (!deleted && env.netns && netnsState(env.netns) === 'ok') {
      const r = ipBatch([`link del dev ${env.ifName}`], { netns: env.netns });
      if (!r.ok && !isNoDevice(r.failures[0]?.message ?? r.otherErrors))
        throw new Error(`failed to delete ${env.ifName} in ${env.netns}: ${r.failures[0]?.message ?? r.otherErrors}`);
    }
  });

  if (conf.ipMasq) {
    await step(() => {
      const fams = (netconf.prevResult?.ips ?? []).map((i) => parseCIDR(i.address)!.ip.family);
      removeMasq(new Set([names.masqChain]), fams.length ? fams : ([4, 6] as Family[]));
    });
  }
  if (errors.length) throw errors[0];
}
