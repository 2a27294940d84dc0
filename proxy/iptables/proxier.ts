// The iptables proxier: decides full versus partial sync, plans with the pure planner, and
// applies with one iptables-restore per sync (a large full sync on iptables-nft is several
// transactions within it; see restore.ts). Keeps a compact record of what it applied per
// Service so that a partial sync writes only the difference.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../lib/log.js';
import { clearConntrack } from '../conntrack/clear.js';
import { staleConntrack } from '../conntrack/plan.js';
import type { ProxyState } from '../model/types.js';
import { addressesInCidrs, nodeIPv4Addresses } from '../node-addresses.js';
import type { Cidr } from '../model/validation.js';
import type { Proxier, SyncOptions, SyncResult } from '../proxier.js';
import type { IptablesBackend } from './backend.js';
import { type AppliedRules, chainNames, compactRules } from './applied.js';
import { cleanupRules } from './cleanup.js';
import { newStats, renderFullSync, renderPartialSync, type ServiceChange } from './restore.js';
import { type PlanConfig, planService, type ServiceRules } from './service-rules.js';
import { JUMP_RULES, missingJumps } from './static-rules.js';

/**
 * Chains per transaction on iptables-nft (see restore.ts). Each transaction costs a list
 * insertion quadratic in its chains plus one kernel validation of the whole jump graph
 * (~170 ms at 10,000 Services here); about 3,000 balances the two.
 */
export const NFT_CHAINS_PER_COMMIT = 3000;

export interface IptablesProxierOptions {
  backend: IptablesBackend;
  log: Logger;
  nodeName: string;
  clusterCIDR?: Cidr;
  /** --nodeport-addresses; empty: every local address. */
  nodePortCIDRs: readonly Cidr[];
  masqueradeAll?: boolean;
  /** --iptables-masquerade-bit (default 14 -> 0x4000). */
  masqueradeBit?: number;
  /** Delete stale UDP conntrack entries (needs conntrack(8)). */
  conntrack?: boolean;
  /** Override the chunking of large full syncs (see restore.ts). */
  maxChainsPerRestore?: number;
  /** Where the node's addresses come from (tests may pin them). */
  nodeAddresses?: () => Promise<string[]>;
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

  constructor(private readonly opts: IptablesProxierOptions) {}

  private async planConfig(): Promise<PlanConfig> {
    const o = this.opts;
    const needAddrs = o.nodePortCIDRs.length > 0;
    const addrs = needAddrs ? await (o.nodeAddresses ?? nodeIPv4Addresses)() : [];
    return {
      nodeName: o.nodeName,
      clusterCIDR: o.clusterCIDR?.text,
      masqueradeAll: o.masqueradeAll ?? false,
      masqueradeMark: '0x' + (1 << (o.masqueradeBit ?? 14)).toString(16),
      nodePortIPs: needAddrs ? addressesInCidrs(addrs, o.nodePortCIDRs) : 'all',
      nodeIPs: addrs,
    };
  }

  async sync(state: ProxyState, opts: SyncOptions = {}): Promise<SyncResult> {
    const t0 = performance.now();
    const full = opts.full === true || this.needFull || this.cfg === undefined;
    // Until this sync succeeds, the kernel is in an unknown state: the next one must be full.
    this.needFull = true;
    let restores = 0;
    let objectsWritten = 0;
    const lastSucceeded = this.lastSucceeded;
    this.lastSucceeded = false;
    if (full) {
      // Which of our chains exist: after a successful sync, exactly those it left (a full sync
      // declares every chain it needs, so one deleted by hand comes back anyway); otherwise
      // (first sync, after a failure) ask the kernel, to find leftovers.
      const known = lastSucceeded ? new Set([...this.applied.values()].flatMap(chainNames)) : undefined;
      const [cfg, existing, builtins] = await Promise.all([
        this.planConfig(),
        known ?? this.opts.backend.listChains().then((c) => c.nat),
        this.opts.backend.builtinRules(JUMP_RULES),
      ]);
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
      const input = renderFullSync({
        services: plans(),
        cfg,
        missingJumps: missingJumps(builtins),
        existingChains: existing,
        maxChainsPerRestore: this.opts.maxChainsPerRestore ?? (this.opts.backend.kind === 'nft' ? NFT_CHAINS_PER_COMMIT : Infinity),
      }, stats);
      // One process; each chunk is its own COMMIT, i.e. its own transaction.
      await this.opts.backend.restoreStream(input);
      restores++;
      if (stats.staleChains) this.opts.log.info('deleted stale chains', { count: stats.staleChains });
      this.applied = applied;
      objectsWritten = stats.chainsWritten;
      this.rules = { nat: stats.natRules, filter: stats.filterRules };
    } else {
      const cfg = this.cfg!;
      const changes: ServiceChange[] = [];
      for (const svc of state.changed) {
        const ports = state.services.get(svc);
        changes.push({ service: svc, old: this.applied.get(svc), next: ports ? planService(svc, ports, state.endpoints, cfg) : undefined });
      }
      const { input, chainsWritten } = renderPartialSync(changes);
      if (input) {
        await this.opts.backend.restore(input);
        restores++;
      }
      for (const c of changes) {
        this.adjustCounts(c.old, -1);
        this.adjustCounts(c.next, 1);
        if (c.next) this.applied.set(c.service, compactRules(c.next));
        else this.applied.delete(c.service);
      }
      objectsWritten = chainsWritten;
    }
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
