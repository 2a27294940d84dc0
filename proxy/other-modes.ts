// Starting in one mode removes what the other modes left on this node, as upstream kube-proxy
// does at startup: their rules would otherwise capture Service traffic first (iptables chains
// run beside our nftables table, the userspace mode's redirects before everything, and the other
// way round). --cleanup runs it too, so that it removes every mode's rules, as upstream's does.
// (Between iptables and IPVS mode each mode clears the other itself: they share chains.)
import type { Logger } from '../lib/log.js';
import { run } from '../lib/exec.js';
import type { ProxyFlags } from './flags.js';
import { IptablesBackend } from './iptables/backend.js';
import { cleanupRules } from './iptables/cleanup.js';
import { isServiceChain } from './iptables/names.js';
import { DUMMY_INTERFACE } from './ipvs/kernel.js';
import { createIpvsProxier } from './ipvs/mode.js';
import { deleteTables, tableExists } from './nftables/nft.js';
import { removeUserspaceRules } from './userspace/cleanup.js';

export async function removeOtherModes(flags: ProxyFlags, log: Logger): Promise<void> {
  const mode = flags.proxyMode;
  if (mode !== 'nftables' && (await tableExists())) {
    log.info('removing the nftables mode table left on this node');
    await deleteTables();
  }
  const iptables = await IptablesBackend.open(flags.iptablesBackend).catch(() => undefined);
  if (iptables && mode !== 'userspace') await removeUserspaceRules(iptables, log);
  if (mode !== 'nftables' && mode !== 'userspace') return;

  const ipvsLink = await run('ip', ['link', 'show', DUMMY_INTERFACE], { allowFailure: true });
  if (ipvsLink.code === 0) {
    log.info('removing the IPVS mode state left on this node');
    await (await createIpvsProxier({ ...flags, cleanup: true }, log)).cleanup();
  }
  if (!iptables) return; // no iptables at all: nothing of the iptables mode can be here
  const chains = await iptables.listChains();
  if (
    [...chains.nat].some((c) => isServiceChain(c) || c === 'KUBE-SERVICES' || c === 'KUBE-NODEPORTS') ||
    chains.filter.has('KUBE-EXTERNAL-SERVICES')
  ) {
    log.info('removing the iptables mode rules left on this node');
    await cleanupRules(iptables, log);
  }
}
