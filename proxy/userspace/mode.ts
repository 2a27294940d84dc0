// --proxy-mode userspace: build the userspace proxier from the flags (the hook proxy/modes.ts calls).
import type { Logger } from '../../lib/log.js';
import { run } from '../../lib/exec.js';
import { isLoopbackAddress } from '../../lib/ip.js';
import type { ProxyFlags } from '../flags.js';
import { IptablesBackend } from '../iptables/backend.js';
import { nodeIPv4Addresses } from '../node-addresses.js';
import type { Proxier } from '../proxier.js';
import { UserspaceProxier } from './proxier.js';

export async function createUserspaceProxier(flags: ProxyFlags, log: Logger): Promise<Proxier> {
  return new UserspaceProxier({
    backend: await IptablesBackend.open(flags.iptablesBackend),
    log,
    nodeName: flags.hostnameOverride,
    udpIdleMs: flags.udpIdleTimeoutMs,
    hostIP: chooseHostIP,
  });
}

/**
 * The node address for traffic from the node itself (upstream: ChooseHostInterface): the
 * preferred source of the default route, else the first address of its device, else the
 * first non-loopback address. Undefined when the node has none.
 */
export async function chooseHostIP(): Promise<string | undefined> {
  const routes = JSON.parse(
    (await run('ip', ['-j', '-4', 'route', 'show', 'default'], { timeoutMs: 10_000 })).stdout || '[]',
  ) as Array<{ dev?: string; prefsrc?: string }>;
  const route = routes[0];
  if (route?.prefsrc) return route.prefsrc;
  if (route?.dev) {
    const onDev = JSON.parse(
      (await run('ip', ['-j', '-4', 'addr', 'show', 'dev', route.dev], { timeoutMs: 10_000 })).stdout || '[]',
    ) as Array<{ addr_info?: Array<{ local?: string }> }>;
    const a = onDev[0]?.addr_info?.find((x) => x.local && !isLoopbackAddress(x.local))?.local;
    if (a) return a;
  }
  return (await nodeIPv4Addresses()).find((a) => !isLoopbackAddress(a));
}
