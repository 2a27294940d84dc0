// The iptables proxier: decides full versus partial sync, plans with the pure planner, and
// applies with one iptables-restore per sync (a large full sync on iptables-nft is several
// transactions within it; see restore.ts). Keeps a compact record of what it applied per
// Service so that a partial sync writes only the difference.
//
// When everything is rewritten (upstream 1.34 syncProxyRules and its iptables Monitor): at start,
// after a failed sync, hourly, and when the periodic check (every --sync-period) finds our canary
// chain or a jump rule gone, or the node's NodePort addresses changed. Otherwise a periodic sync
// writes only what changed, so packet counters of unchanged rules keep counting, an idle proxy
// costs one small process per period, and an endpoint change never waits behind a full rewrite.
import { performance } from 'node:perf_hooks';
import { clearConntrack } from '../conntrack/clear.js';
import { staleConntrack } from '../conntrack/plan.js';
import type { ProxyState } from '../model/types.js';
import { addressesInCidrs, nodeIPv4Addresses } from '../node-addresses.js';
import { enableRouteLocalnet, localhostNodePortsInEffect } from './localhost.js';
import {
  changedServices,
  type Proxier,
  type SyncOptions,
  type SyncResult,
  type ServiceNatOptions,
} from '../proxier.js';
import type { IptablesBackend } from './backend.js';
import { type AppliedRules, chainNames, compactRules } from './applied.js';
import { cleanupRules } from './cleanup.js';
import { newStats, renderFullSync, renderPartialSync, type ServiceChange } from './restore.js';
import type { PlanConfig } from './types.js';
import { largeClusterMode, planService, type ServiceRules } from './service-rules.js';
import { FIREWALL_JUMP_RULES, JUMP_RULES, jumpRules, KUBE_PROXY_CANARY, missingJumps } from './static-rules.js';

/**
 * Chains per transaction on iptables-nft (see restore.ts). Each transaction costs a list
 * insertion quadratic in its chains plus one kernel validation of the whole jump graph
 * (~170 ms at 10,000 Services here); about 3,000 balances the two.
 */
export const NFT_CHAINS_PER_COMMIT = 3000;

/** Upstream's proxyutil.FullSyncPeriod: everything is rewritten at least this often. */
export const FULL_SYNC_PERIOD_MS = 3_600_000;

export interface IptablesProxierOptions extends ServiceNatOptions {
  backend: IptablesBackend;
  /** Override the chunking of large full syncs (see restore.ts). */
  maxChainsPerRestore?: number;
  /** --iptables-localhost-nodeports (default true, as upstream). */
  localhostNodePorts?: boolean;
  /** Override FULL_SYNC_PERIOD_MS (tests). */
  fullSyncPeriodMs?: number;
}

export class IptablesProxier implements Proxier {
  private applied = new Map<string, AppliedRules>();
  private lastState: ProxyState | undefined;
  private needFull = true;
  /** Whether the previous sync completed (so `applied` is exactly what the kernel holds of ours). */
  private lastSucceeded = false;
  private cfg: PlanConfig | undefined;
  /** Rules in our chains, by table: from the last full render, then kept up to date. */
  private rules = { nat: 0, filter: 0 };
  private lastFullAt = -Infinity;
  private routeLocalnetSet = false;

  constructor(private readonly opts: IptablesProxierOptions) {}

  private async planConfig(): Promise<PlanConfig> {
    const o = this.opts;
    const needAddrs = o.nodePortCIDRs.length > 0;
    const addrs = needAddrs ? await (o.nodeAddresses ?? nodeIPv4Addresses)() : [];
    const localhostNodePorts = localhostNodePortsInEffect(o.localhostNodePorts ?? true, o.nodePortCIDRs);
    return {
      nodeName: o.nodeName,
      clusterCIDR: o.clusterCIDR?.text,
      masqueradeAll: o.masqueradeAll ?? false,
      masqueradeMark: '0x' + (1 << (o.masqueradeBit ?? 14)).toString(16),
      nodePortIPs: needAddrs ? addressesInCidrs(addrs, o.nodePortCIDRs, localhostNodePorts) : 'all',
      nodeIPs: addrs,
      localhostNodePorts,
      largeCluster: false,
    };
  }

  /**
   * The periodic sync's question: must everything be rewritten? One iptables-restore lists the
   * canary chains and the built-in chains we jump from (a few lines, whatever the Service count).
   */
  private async periodicNeedsFull(): Promise<string | undefined> {
    if (performance.now() - this.lastFullAt >= (this.opts.fullSyncPeriodMs ?? FULL_SYNC_PERIOD_MS))
      return 'hourly full resync';
    const jumps = jumpRules(this.cfg!);
    const [cfg, chains] = await Promise.all([
      this.planConfig(),
      this.opts.backend.chainRules([
        { table: 'nat', chain: KUBE_PROXY_CANARY },
        { table: 'filter', chain: KUBE_PROXY_CANARY },
        ...jumps.map((j) => ({ table: j.table, chain: j.builtin })),
      ]),
    ]);
    if (!chains) return `the ${KUBE_PROXY_CANARY} chain is gone (rules flushed behind our back)`;
    const missing = missingJumps(chains, jumps);
    if (missing.length)
      return `jump rules are gone: ${missing.map((j) => `${j.table} ${j.builtin} -> ${j.target}`).join(', ')}`;
    if (JSON.stringify({ ...cfg, largeCluster: false }) !== JSON.stringify({ ...this.cfg, largeCluster: false }))
      return 'node addresses for NodePorts changed';
    return undefined;
  }

  async sync(state: ProxyState, opts: SyncOptions = {}): Promise<SyncResult> {
    const t0 = performance.now();
    let full = this.needFull || this.cfg === undefined || (opts.full === true && opts.periodic !== true);
    if (!full && opts.periodic === true) {
      const reason = await this.periodicNeedsFull();
      if (reason) this.opts.log.info('periodic sync rewrites every rule', { reason });
      full = reason !== undefined;
    }
    const largeCluster = largeClusterMode(state.services, state.endpoints);
    // Until this sync succeeds, the kernel is in an unknown state: the next one must be full.
    this.needFull = true;
    const lastSucceeded = this.lastSucceeded;
    this.lastSucceeded = false;
    const { restores, objectsWritten } = full
      ? await this.fullSync(state, largeCluster, lastSucceeded)
      : await this.partialSync(state, largeCluster);
    this.needFull = false;
    this.lastSucceeded = true;

    if (this.opts.conntrack !== false) {
      const deletions = staleConntrack(this.lastState, state, this.opts.nodeName);
      if (deletions.length) await clearConntrack(deletions, this.opts.log);
    }
    this.lastState = state;
    return {
      full,
      durationMs: performance.now() - t0,
      rules: { ...this.rules },
      objectsWritten,
      restores,
    };
  }

  /** Everything rewritten in one iptables-restore (see renderFullSync); stale chains deleted. */
  private async fullSync(
    state: ProxyState,
    largeCluster: boolean,
    lastSucceeded: boolean,
  ): Promise<{ restores: number; objectsWritten: number }> {
    // Which of our chains exist: after a successful sync, exactly those it left (a full sync
    // declares every chain it needs, so one deleted by hand comes back anyway); otherwise
    // (first sync, after a failure) ask the kernel, to find leftovers.
    const known = lastSucceeded ? new Set([...this.applied.values()].flatMap(chainNames)) : undefined;
    const [planned, existing, builtins] = await Promise.all([
      this.planConfig(),
      known ?? this.opts.backend.listChains().then((c) => c.nat),
      this.opts.backend.builtinRules([...JUMP_RULES, ...FIREWALL_JUMP_RULES]),
    ]);
    const cfg: PlanConfig = { ...planned, largeCluster };
    if (cfg.localhostNodePorts && !this.routeLocalnetSet) {
      enableRouteLocalnet();
      this.routeLocalnetSet = true;
    }
    this.cfg = cfg;
    // What the previous sync applied is not needed by a full one: let it go before the new
    // records are built (on failure the next sync is full anyway).
    this.applied = new Map();
    // Services are planned as iptables-restore consumes the input, and only a compact record
    // of each is kept (see applied.ts).
    const applied = new Map<string, AppliedRules>();
    const plans = function* () {
      for (const [svc, ports] of state.services) {
        const r = planService(svc, ports, state.endpoints, cfg);
        applied.set(svc, compactRules(r));
        yield r;
      }
    };
    const stats = newStats();
    const input = renderFullSync(
      {
        services: plans(),
        cfg,
        missingJumps: missingJumps(builtins, jumpRules(cfg)),
        existingChains: existing,
        maxChainsPerRestore:
          this.opts.maxChainsPerRestore ?? (this.opts.backend.kind === 'nft' ? NFT_CHAINS_PER_COMMIT : Infinity),
      },
      stats,
    );
    // One process; each chunk is its own COMMIT, i.e. its own transaction.
    await this.opts.backend.restoreStream(input);
    if (stats.staleChains) this.opts.log.info('deleted stale chains', { count: stats.staleChains });
    this.applied = applied;
    this.rules = { nat: stats.natRules, filter: stats.filterRules };
    this.lastFullAt = performance.now();
    return { restores: 1, objectsWritten: stats.chainsWritten };
  }

  /** Only the chains and shared rules of the Services that changed (see renderPartialSync). */
  private async partialSync(
    state: ProxyState,
    largeCluster: boolean,
  ): Promise<{ restores: number; objectsWritten: number }> {
    // Upstream recomputes largeClusterMode on every sync; chains of unchanged Services keep
    // the form they were written in until the next full sync.
    const cfg: PlanConfig = { ...this.cfg!, largeCluster };
    const changes: ServiceChange[] = changedServices(state, this.applied, (svc, ports) =>
      planService(svc, ports, state.endpoints, cfg),
    );
    const { input, chainsWritten } = renderPartialSync(changes);
    if (input) await this.opts.backend.restore(input);
    for (const c of changes) {
      this.adjustCounts(c.old, -1);
      this.adjustCounts(c.next, 1);
      if (c.next) this.applied.set(c.service, compactRules(c.next));
      else this.applied.delete(c.service);
    }
    return { restores: input ? 1 : 0, objectsWritten: chainsWritten };
  }

  private adjustCounts(r: AppliedRules | ServiceRules | undefined, sign: 1 | -1): void {
    if (!r) return;
    this.rules.nat += sign * r.natRules;
    this.rules.filter += sign * r.filterRules;
  }

  async cleanup(): Promise<void> {
    await cleanupRules(this.opts.backend, this.opts.log);
    this.applied.clear();
    this.needFull = true;
    this.lastSucceeded = false;
  }
}
