// What the main program needs from a proxy mode. The iptables proxier implements it here; the
// IPVS proxier (proxy/ipvs/) implements the same, from the same ProxyState.
import type { IPv4Network } from '../lib/ip.js';
import type { Logger } from '../lib/log.js';
import type { ProxyFlags } from './flags.js';
import type { ProxyState, ServicePort } from './model/types.js';

/** What the NAT-programming modes (iptables, nftables) take from the flags alike. */
export interface ServiceNatOptions {
  log: Logger;
  nodeName: string;
  clusterCIDR?: IPv4Network;
  /** --nodeport-addresses; empty: every local address. */
  nodePortCIDRs: readonly IPv4Network[];
  masqueradeAll?: boolean;
  /** --iptables-masquerade-bit (default 14 -> 0x4000). */
  masqueradeBit?: number;
  /** Delete stale UDP conntrack entries (needs conntrack(8)). */
  conntrack?: boolean;
  /** Where the node's addresses come from (tests may pin them). */
  nodeAddresses?: () => Promise<string[]>;
}

export function serviceNatOptions(flags: ProxyFlags, log: Logger): ServiceNatOptions {
  return {
    log,
    nodeName: flags.hostnameOverride,
    clusterCIDR: flags.clusterCIDR,
    nodePortCIDRs: flags.nodePortAddresses,
    masqueradeAll: flags.masqueradeAll,
    masqueradeBit: flags.masqueradeBit,
  };
}

/**
 * The Services a partial sync rewrites: for each changed one, what the last sync applied (`old`)
 * and the new plan (`next`; none when the Service is gone). Shared by the iptables and nftables
 * modes, whose plans differ but whose partial syncs start alike.
 */
export function changedServices<Applied, Plan>(
  state: ProxyState,
  applied: ReadonlyMap<string, Applied>,
  plan: (service: string, ports: readonly ServicePort[]) => Plan,
): Array<{ service: string; old: Applied | undefined; next: Plan | undefined }> {
  return [...state.changed].map((service) => {
    const ports = state.services.get(service);
    return { service, old: applied.get(service), next: ports ? plan(service, ports) : undefined };
  });
}

export interface SyncResult {
  /** Whether every chain was rewritten (versus only those of changed Services). */
  full: boolean;
  durationMs: number;
  /** Rules in place after the sync, by table, as the proxy counts them. */
  rules: Record<string, number>;
  /** Chains (or virtual servers) written by this sync. */
  objectsWritten: number;
  /** Processes that programmed the kernel during this sync. */
  restores: number;
}

export interface SyncOptions {
  /** Rewrite everything, repairing whatever someone changed by hand. */
  full?: boolean;
  /**
   * This full sync is the runner's periodic one (--sync-period). A mode that can check cheaply
   * that its rules are intact may then write only what changed (iptables does, as upstream).
   */
  periodic?: boolean;
}

export interface Proxier {
  /** Bring the kernel in line with state. Throws when programming failed (the next sync will be full). */
  sync(state: ProxyState, opts?: SyncOptions): Promise<SyncResult>;
  /** Remove everything this mode installs (--cleanup). */
  cleanup(): Promise<void>;
  /** Release what the mode holds open (userspace mode's sockets) when the proxy stops; rules stay. */
  close?(): void | Promise<void>;
}
