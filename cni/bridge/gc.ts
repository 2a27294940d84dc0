// GC (CNI 1.1): given the attachments that are still valid, release everything else this network
// holds: IPAM reservations (forwarded to the IPAM plugin, as the spec requires) and ipMasq
// chains. Interfaces need nothing: they went away with their namespaces. Errors do not stop the
// other steps; the first one is reported.
import { validAttachments } from '../ipam/commands.js';
import type { CommandContext } from '../skel/skel.js';
import { parseBridgeConf } from './config.js';
import { collectMasq } from './firewall.js';
import { ipamClient } from './ipam-client.js';

export async function cmdGc(ctx: CommandContext): Promise<void> {
  const conf = parseBridgeConf(ctx.conf, ctx.env.args);
  const valid = validAttachments(ctx.conf.raw);
  const errors: unknown[] = [];
  const ipam = ipamClient(ctx);
  if (ipam) await ipam.gc().catch((e) => errors.push(e));
  if (conf.ipMasq) {
    try {
      collectMasq(ctx.conf.name, valid);
    } catch (e) {
      errors.push(e);
    }
  }
  if (errors.length) throw errors[0];
}
