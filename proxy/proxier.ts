// What the main program needs from a proxy mode. The iptables proxier implements it here; the
// IPVS proxier (proxy/ipvs/) implements the same, from the same ProxyState.
import type { ProxyState } from './model/types.js';

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
