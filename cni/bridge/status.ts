// STATUS (CNI 1.1): can this plugin serve ADD right now? It needs iproute2 and nsenter (and
// iptables-restore for ipMasq), and its IPAM must be able to hand out an address (for
// kubenode-ipam: the node's podCIDR is known and the range is not exhausted).
import { accessSync, constants } from 'node:fs';
import { join } from 'node:path';
import { installHint } from '../../lib/exec.js';
import type { CommandContext } from '../skel/skel.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { parseBridgeConf } from './config.js';
import { ipamClient } from './ipam-client.js';
import { errorMessage } from '../../lib/errors.js';

function onPath(file: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':')) {
    try {
      accessSync(join(dir, file), constants.X_OK);
      return true;
    } catch {
      /* next */
    }
  }
  return false;
}

export async function cmdStatus(ctx: CommandContext): Promise<void> {
  const conf = parseBridgeConf(ctx.conf, ctx.env.args);
  const needed = ['ip', 'nsenter', ...(conf.ipMasq ? ['iptables-restore', 'iptables-save'] : [])];
  const missing = needed.filter((f) => !onPath(f));
  if (missing.length) {
    throw new CniError(
      ErrorCode.NotAvailable,
      'kubenode-bridge is not available',
      `${missing.join(', ')} not found on PATH: ${installHint(missing[0]!)}`,
    );
  }
  const ipam = ipamClient(ctx);
  if (ipam) {
    try {
      await ipam.status();
    } catch (e) {
      const err = e instanceof CniError ? e : new CniError(ErrorCode.NotAvailable, errorMessage(e));
      throw new CniError(
        err.code === ErrorCode.NotAvailableLimitedConnectivity ? err.code : ErrorCode.NotAvailable,
        `IPAM ${ipam.type} is not available: ${err.msg}`,
        err.details,
      );
    }
  }
}
