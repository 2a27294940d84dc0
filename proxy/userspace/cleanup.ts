// Removing userspace mode's rules (--cleanup, and other modes starting on this node: see
// proxy/other-modes.ts): its redirects would capture Service traffic before their rules.
import type { Logger } from '../../lib/log.js';
import type { IptablesBackend } from '../iptables/backend.js';
import { renderUserspaceCleanup, USERSPACE_CHAINS, USERSPACE_JUMP_RULES } from './rules.js';

/** Delete our jumps and chains; nothing when there are none. */
export async function removeUserspaceRules(backend: IptablesBackend, log: Logger): Promise<void> {
  const [builtins, chains] = await Promise.all([backend.builtinRules(USERSPACE_JUMP_RULES), backend.listChains()]);
  const input = renderUserspaceCleanup(builtins, chains);
  if (!input) return;
  await backend.restore(input);
  log.info('removed kubenode-proxy userspace mode rules', {
    chains: [...USERSPACE_CHAINS.nat, ...USERSPACE_CHAINS.filter].filter(
      (c) => chains.nat.has(c) || chains.filter.has(c),
    ).length,
  });
}
