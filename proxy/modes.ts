// --proxy-mode -> a Proxier. Each mode builds itself from the flags; the rest of the program
// only sees the Proxier interface. What other modes left behind is removed by other-modes.ts.
import type { Logger } from '../lib/log.js';
import type { ProxyFlags } from './flags.js';
import { IptablesBackend } from './iptables/backend.js';
import { IptablesProxier } from './iptables/proxier.js';
import { createIpvsProxier } from './ipvs/mode.js';
import { createNftablesProxier } from './nftables/mode.js';
import { serviceNatOptions, type Proxier } from './proxier.js';
import { createUserspaceProxier } from './userspace/mode.js';

export type ProxierFactory = (flags: ProxyFlags, log: Logger) => Promise<Proxier>;

export const PROXY_MODES: Record<ProxyFlags['proxyMode'], ProxierFactory> = {
  iptables: async (flags, log) =>
    new IptablesProxier({
      ...serviceNatOptions(flags, log),
      backend: await IptablesBackend.open(flags.iptablesBackend),
      localhostNodePorts: flags.iptablesLocalhostNodePorts,
    }),
  // IPVS mode (proxy/ipvs/) reuses the sources, trackers and model.
  ipvs: createIpvsProxier,
  // nftables mode (proxy/nftables/): its own table, verdict maps, same model.
  nftables: createNftablesProxier,
  // Userspace mode (proxy/userspace/): the proxy accepts the connections itself.
  userspace: createUserspaceProxier,
};
