// Removing userspace mode's rules (--cleanup, and other modes starting on this node), and the
// other modes' rules when userspace mode starts: each mode's rules would capture Service
// traffic before the other's.
import type { Logger } from '../../lib/log.js';
import type { IptablesBackend } from '../iptables/backend.js';
import { cleanupRules as cleanupIptablesMode } from '../iptables/cleanup.js';
import { isServiceChain } from '../iptables/names.js';
import { IPVS_CHAINS, IPVS_JUMP_RULES, renderIpvsIptablesCleanup } from '../ipvs/iptables.js';
import { renderUserspaceCleanup, USERSPACE_CHAINS, USERSPACE_JUMP_RULES } from './rules.js';

/** Delete our jumps and chains; nothing when there are none. */
export async function removeUserspaceRules(backend: IptablesBackend, log: Logger): Promise<void> {
  const [builtins, chains] = await Promise.all([backend.builtinRules(USERSPACE_JUMP_RULES), backend.listChains()]);
  const input = renderUserspaceCleanup(builtins, chains);
  if (!input) return;
  await backend.restore(input);
  log.info('removed kubenode-proxy userspace mode rules', { chains: [...USERSPACE_CHAINS.nat, ...USERSPACE_CHAINS.filter].filter((c) => chains.nat.has(c) || chains.filter.has(c)).length });
}

/** Userspace mode starting: the iptables mode's chains and the IPVS mode's iptables chains go. */
export async function removeOtherModes(backend: IptablesBackend, log: Logger): Promise<void> {
  const chains = await backend.listChains();
  if ([...chains.nat].some((c) => isServiceChain(c) || c === 'KUBE-NODEPORTS') || chains.filter.has('KUBE-EXTERNAL-SERVICES')) {
    log.info('removing the iptables mode rules left on this node');
    await cleanupIptablesMode(backend, log);
  }
  if (IPVS_CHAINS.nat.some((c) => c === 'KUBE-NODE-PORT' && chains.nat.has(c))) {
    // IPVS virtual servers stay (they need the IPVS mode's --cleanup), but without its chains
    // and with our redirects in PREROUTING/OUTPUT ahead of them, no Service traffic reaches them.
    log.info('removing the IPVS mode iptables rules left on this node');
    const input = renderIpvsIptablesCleanup(await backend.builtinRules(IPVS_JUMP_RULES), chains);
    if (input) await backend.restore(input);
  }
}
