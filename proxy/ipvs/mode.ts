// --proxy-mode ipvs: build the IPVS proxier from the flags (the hook proxy/modes.ts calls).
import type { Logger } from '../../lib/log.js';
import type { ProxyFlags } from '../flags.js';
import { IptablesBackend } from '../iptables/backend.js';
import type { Proxier } from '../proxier.js';
import { IpvsProxier, type IpvsProxierOptions } from './proxier.js';
import { parseScheduler } from './scheduler.js';

export async function createIpvsProxier(flags: ProxyFlags, log: Logger): Promise<Proxier> {
  const opts: IpvsProxierOptions = {
    log,
    iptables: await IptablesBackend.open(flags.iptablesBackend),
    nodeName: flags.hostnameOverride,
    scheduler: parseScheduler(flags.ipvsScheduler),
    clusterCIDR: flags.clusterCIDR,
    nodePortCIDRs: flags.nodePortAddresses,
    masqueradeAll: flags.masqueradeAll,
    masqueradeBit: flags.masqueradeBit,
  };
  // --cleanup must work on a kernel without IPVS too (there is simply nothing of IPVS to remove).
  return flags.cleanup ? IpvsProxier.forCleanup(opts) : IpvsProxier.create(opts);
}
