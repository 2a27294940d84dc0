// The nftables proxier: decides full versus partial sync, plans with the pure planner, and
// applies with `nft -f -` (one transaction per script). Keeps, per Service, what it wrote, so a
// partial sync writes only the difference and nft never has to read the table.
import { performance } from 'node:perf_hooks';
import { clearConntrack } from '../conntrack/clear.js';
import { staleConntrack } from '../conntrack/plan.js';
import type { ProxyState } from '../model/types.js';
import { addressesInCidrs, nodeIPv4Addresses } from '../node-addresses.js';
import {
  changedServices,
  type Proxier,
  type SyncOptions,
  type SyncResult,
  type ServiceNatOptions,
} from '../proxier.js';
import type { Applied, ElementOwners } from './applied.js';
import { deleteTables, type ExistingObjects, listExisting, nftApply, tableExists } from './nft.js';
import { type NftPlanConfig, planNftService } from './service-plan.js';
import type { SkeletonConfig } from './skeleton.js';
import { noPending, type Pending, renderFullSync, renderPartialSync, type ServiceChange } from './transactions.js';

/**
 * Per-Service chains per transaction in a full sync. One nft transaction costs about the same
 * per chain at any size here (see bench/proxy-sync-nft.ts), so one transaction is the default;
 * a smaller figure bounds how long each transaction holds the nftables lock.
 */
export const CHAINS_PER_TRANSACTION = Infinity;

/**
 * How often the periodic sync rewrites everything (upstream's nftables mode: hourly). In between,
 * a --sync-period tick checks that our table is still there (see tableExists: nft reads no
 * chain for it) and otherwise writes only what changed: a full rewrite at 10,000 Services costs
 * seconds of CPU, which every 30 s would be a sixth of a core spent on an idle node.
 */
export const FULL_REWRITE_PERIOD_MS = 3_600_000;

export interface NftablesProxierOptions extends ServiceNatOptions {
  maxChainsPerTransaction?: number;
  /** Override FULL_REWRITE_PERIOD_MS. */
  fullRewritePeriodMs?: number;
  /** How a script reaches the kernel (the benchmark records them). */
  apply?: (script: string) => Promise<void>;
}

export class NftablesProxier implements Proxier {
  private applied = new Map<string, Applied>();
  private owners: ElementOwners = new Map();
  /** Chains and sets left by partial syncs, deleted later (see transactions.ts). */
  private pending: Pending = noPending();
  /** The @endpoint-hairpins elements in the kernel (partial syncs only add). */
  private hairpins = new Set<string>();
  private lastState: ProxyState | undefined;
  private needFull = true;
  /** Whether `applied` is exactly what the kernel holds of ours (the last sync succeeded). */
  private known = false;
  private cfg: NftPlanConfig | undefined;
  private chainCount = 0;
  private elementCount = 0;
  private lastRewrite = -Infinity;

  constructor(private readonly opts: NftablesProxierOptions) {}

  private async configs(): Promise<{ plan: NftPlanConfig; skeleton: SkeletonConfig }> {
    const o = this.opts;
    const needAddrs = o.nodePortCIDRs.length > 0;
    const addrs = needAddrs ? await (o.nodeAddresses ?? nodeIPv4Addresses)() : [];
    return {
      plan: {
        nodeName: o.nodeName,
        clusterCIDR: o.clusterCIDR?.text,
        masqueradeAll: o.masqueradeAll ?? false,
        nodeIPs: addrs,
      },
      skeleton: {
        masqueradeMark: '0x' + (1 << (o.masqueradeBit ?? 14)).toString(16),
        nodePortIPs: needAddrs ? addressesInCidrs(addrs, o.nodePortCIDRs) : 'all',
      },
    };
  }

  private get apply(): (script: string) => Promise<void> {
    return this.opts.apply ?? nftApply;
  }

  async sync(state: ProxyState, opts: SyncOptions = {}): Promise<SyncResult> {
    const t0 = performance.now();
    let full = opts.full === true || this.needFull || this.cfg === undefined;
    // A periodic full sync (not the first, not after a failure) rewrites only when it is due or
    // when our table was removed behind our back.
    const periodic = full && !this.needFull && this.known && this.cfg !== undefined;
    if (
      periodic &&
      Date.now() - this.lastRewrite < (this.opts.fullRewritePeriodMs ?? FULL_REWRITE_PERIOD_MS) &&
      (await tableExists())
    )
      full = false;
    // Until this sync succeeds, the kernel is in an unknown state: the next one must be full.
    this.needFull = true;
    const known = this.known;
    this.known = false;
    const { restores, objectsWritten } = full ? await this.fullSync(state, known) : await this.partialSync(state);
    this.needFull = false;
    this.known = true;

    if (this.opts.conntrack !== false) {
      const deletions = staleConntrack(this.lastState, state, this.opts.nodeName);
      if (deletions.length) await clearConntrack(deletions, this.opts.log);
    }
    this.lastState = state;
    return {
      full,
      durationMs: performance.now() - t0,
      rules: { chains: this.chainCount, elements: this.elementCount },
      objectsWritten,
      restores,
    };
  }

  /** Every chain and set written from the state (in transactions of a bounded size); stale ones deleted. */
  private async fullSync(state: ProxyState, known: boolean): Promise<{ restores: number; objectsWritten: number }> {
    const written = { restores: 0, objectsWritten: 0 };
    const [cfgs, existing] = await Promise.all([this.configs(), known ? this.existingFromMemory() : listExisting()]);
    this.cfg = cfgs.plan;
    this.applied = new Map();
    const cfg = cfgs.plan;
    const plans = function* () {
      for (const [svc, ports] of state.services) yield planNftService(svc, ports, state.endpoints, cfg);
    };
    const out = renderFullSync({
      plans: plans(),
      skeleton: cfgs.skeleton,
      existingChains: existing.chains,
      existingSets: existing.sets,
      maxChainsPerTransaction: this.opts.maxChainsPerTransaction ?? CHAINS_PER_TRANSACTION,
    });
    for (const c of out.conflicts.slice(0, 10))
      this.opts.log.warn('two Services claim one address and port; keeping the first', c);
    for (const script of out.scripts) {
      await this.apply(script);
      written.restores++;
    }
    if (out.counts.chainsDeleted) this.opts.log.info('deleted stale chains', { count: out.counts.chainsDeleted });
    this.applied = out.applied;
    this.lastRewrite = Date.now();
    this.owners = out.owners;
    this.hairpins = out.hairpins;
    this.pending = noPending();
    this.chainCount = out.counts.chainsWritten;
    this.elementCount = out.counts.elementsWritten;
    written.objectsWritten = out.counts.chainsWritten;
    return written;
  }

  /** Only the changed Services' chains, in one transaction; nothing listed from the kernel. */
  private async partialSync(state: ProxyState): Promise<{ restores: number; objectsWritten: number }> {
    const written = { restores: 0, objectsWritten: 0 };
    const cfg = this.cfg!;
    const changes: ServiceChange[] = changedServices(state, this.applied, (svc, ports) =>
      planNftService(svc, ports, state.endpoints, cfg),
    );
    const { script, applied, counts } = renderPartialSync(changes, this.owners, this.pending, this.hairpins);
    if (script) {
      await this.apply(script);
      written.restores++;
    }
    for (const [svc, a] of applied) {
      const old = this.applied.get(svc);
      this.chainCount += (a?.chains.size ?? 0) - (old?.chains.size ?? 0);
      this.elementCount += (a?.elements.length ?? 0) - (old?.elements.length ?? 0);
      if (a) this.applied.set(svc, a);
      else this.applied.delete(svc);
    }
    written.objectsWritten = counts.chainsWritten + counts.chainsDeleted;
    return written;
  }

  /** After a successful sync, the chains and sets that exist are exactly those it left. */
  private async existingFromMemory(): Promise<ExistingObjects> {
    const chains = new Set<string>(this.pending.chains);
    const sets = new Map<string, number | undefined>(this.pending.sets);
    for (const a of this.applied.values()) {
      for (const c of a.chains.keys()) chains.add(c);
      for (const s of a.sets) sets.set(s.name, s.timeoutSeconds);
    }
    return { chains, sets };
  }

  async cleanup(): Promise<void> {
    await deleteTables();
    this.opts.log.info('removed the kubenode nftables table');
    this.applied.clear();
    this.owners.clear();
    this.hairpins.clear();
    this.pending = noPending();
    this.needFull = true;
    this.known = false;
  }
}
