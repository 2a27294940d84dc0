// --cleanup for IPVS mode: our iptables jumps and chains first (they reference the ipsets), then
// the virtual servers we own, the kube-ipvs0 interface with its addresses, and our ipsets.
// Nobody else's virtual servers, chains or sets are touched.
import type { Logger } from '../../lib/log.js';
import { run } from '../../lib/exec.js';
import type { IptablesBackend } from '../iptables/backend.js';
import { IPVS_JUMP_RULES, renderIpvsIptablesCleanup } from './iptables.js';
import { destroyIpsets, parseIpsetSave } from './ipset-restore.js';
import type { IpvsOp } from './types.js';
import { DUMMY_INTERFACE, ipsetRestore, ipsetSave, readAddresses } from './kernel.js';
import { ownership, parseAddresses } from './ownership.js';
import type { IpvsTable } from './table.js';

export async function cleanupIpvs(iptables: IptablesBackend, table: IpvsTable, log: Logger): Promise<void> {
  const [builtins, chains] = await Promise.all([iptables.builtinRules(IPVS_JUMP_RULES), iptables.listChains()]);
  const input = renderIpvsIptablesCleanup(builtins, chains);
  if (input) await iptables.restore(input);

  const [addrJson, sets] = await Promise.all([readAddresses(), ipsetSave().then(parseIpsetSave)]);
  const links = parseAddresses(addrJson);
  // Without IPVS in the kernel there are no virtual servers to remove.
  const ipvs = await table
    .read()
    .then((k) => k.services)
    .catch(() => new Map());
  const owned = ownership({
    serviceAddresses: links.addresses.filter((a) => a.ifname === DUMMY_INTERFACE).map((a) => a.address),
    nodeAddresses: links.addresses.filter((a) => a.ifname !== DUMMY_INTERFACE).map((a) => a.address),
    nodePortSets: [sets],
  });
  const deletes: IpvsOp[] = [...ipvs.values()].filter(owned).map((vs) => ({ kind: 'deleteService', vs }));
  if (deletes.length) await table.apply(deletes);
  if (links.links.has(DUMMY_INTERFACE)) await run('ip', ['link', 'del', DUMMY_INTERFACE], { timeoutMs: 30_000 });
  const destroy = destroyIpsets(sets);
  if (destroy) await ipsetRestore(destroy);
  log.info('removed kubenode-proxy IPVS state', {
    virtualServers: deletes.length,
    ipsets: destroy.split('\n').filter(Boolean).length,
    iptablesChains: input ? 'removed' : 'none',
  });
}
