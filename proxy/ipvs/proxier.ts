// The IPVS proxier: plans with the pure planner and writes the difference from what the kernel
// has: kube-ipvs0 addresses (one ip -batch), ipsets (one ipset restore), the constant iptables
// chains (one iptables-restore) and virtual servers (one netlink batch, or one ipvsadm -R), each
// only when something differs. A full sync (the first, and every --sync-period) reads the kernel
// first, so what someone changed by hand is repaired; a partial sync diffs against what the last
// sync left. Draining real servers are deleted by the first sync that sees them without
// connections.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../lib/log.js';
import { clearConntrack } from '../conntrack/clear.js';
import { staleConntrack } from '../conntrack/plan.js';
import type { IptablesBackend } from '../iptables/backend.js';
import { cleanupRules as cleanupIptablesMode } from '../iptables/cleanup.js';
import { isServiceChain } from '../iptables/names.js';
import type { ProxyState } from '../model/types.js';
import { isLoopbackAddress, containsAddress, type IPv4Network } from '../../lib/ip.js';
import type { Proxier, SyncOptions, SyncResult } from '../proxier.js';
import type { JumpRule } from '../iptables/static-rules.js';
import { planDummyAddresses } from './addresses.js';
import { diffIpvs, needsConnectionCounts, stateAfter } from './diff.js';
import type { ConnectionCounts, KernelVirtualServer } from './ipvsadm.js';
import { IPVS_JUMP_RULES, missingJumpRules, renderIpvsIptables } from './iptables.js';
import { diffIpsets, parseIpsetSave } from './ipset-restore.js';
import {
  applySysctls,
  checkIpvsAvailable,
  DUMMY_INTERFACE,
  ipBatch,
  ipsetRestore,
  ipsetSave,
  readAddresses,
} from './kernel.js';
import { type IpvsBackendKind, type IpvsTable, IpvsadmTable, openIpvsTable } from './table.js';
import { ownership, parseAddresses } from './ownership.js';
import { planIpvs } from './planner.js';
import { cleanupIpvs } from './cleanup.js';
import type { IpvsPlanConfig } from './types.js';

export interface IpvsProxierOptions {
  log: Logger;
  /** For the iptables pieces (and to clear the iptables mode's rules when switching modes). */
  iptables: IptablesBackend;
  nodeName: string;
  /** --ipvs-scheduler (validated). */
  scheduler: string;
  clusterCIDR?: IPv4Network;
  /** --nodeport-addresses; empty: every address of the node. */
  nodePortCIDRs: readonly IPv4Network[];
  masqueradeAll?: boolean;
  masqueradeBit?: number;
  /** Delete stale UDP conntrack entries (needs conntrack(8)). */
  conntrack?: boolean;
  /** How to reach IPVS: generic netlink (default) or ipvsadm. */
  ipvsBackend?: IpvsBackendKind;
}

/** What a sync knows of the kernel: read (full sync) or left by the previous sync (partial). */
interface KernelView {
  services: ReadonlyMap<string, KernelVirtualServer>;
  counts?: ReadonlyMap<string, ConnectionCounts>;
  sets: ReadonlyMap<string, ReadonlySet<string>>;
  bound: readonly string[];
  linkExists: boolean;
  nodeAddresses: readonly string[];
  missingJumps: readonly JumpRule[];
}

export class IpvsProxier implements Proxier {
  private lastState: ProxyState | undefined;
  private lastIptables = '';
  private firstSync = true;
  /** The kernel as the last successful sync left it; undefined: the next sync must be full. */
  private applied: Omit<KernelView, 'counts' | 'missingJumps'> | undefined;

  private constructor(
    private readonly opts: IpvsProxierOptions,
    private readonly table: IpvsTable,
  ) {}

  /** Checks that the kernel has IPVS: a clear error now beats failing syncs later. */
  static async create(opts: IpvsProxierOptions): Promise<IpvsProxier> {
    await checkIpvsAvailable();
    const table = await openIpvsTable(opts.log, opts.ipvsBackend);
    opts.log.info('IPVS mode', { scheduler: opts.scheduler, programmedWith: table.kind });
    return new IpvsProxier(opts, table);
  }

  /** For --cleanup: no IPVS check (there may be nothing to clean). */
  static forCleanup(opts: IpvsProxierOptions): IpvsProxier {
    return new IpvsProxier(opts, new IpvsadmTable());
  }

  /** Close the netlink socket (the proxier is not used after this). */
  close(): void {
    this.table.close();
  }

  private config(nodeAddresses: readonly string[]): IpvsPlanConfig {
    const o = this.opts;
    // Loopback NodePorts would need route_localnet; upstream's IPVS mode does not serve them either.
    const candidates = nodeAddresses.filter((a) => !isLoopbackAddress(a));
    return {
      nodeName: o.nodeName,
      scheduler: o.scheduler,
      nodePortIPs: o.nodePortCIDRs.length
        ? candidates.filter((a) => o.nodePortCIDRs.some((c) => containsAddress(c, a)))
        : candidates,
      clusterCIDR: o.clusterCIDR?.text,
      masqueradeAll: o.masqueradeAll ?? false,
      masqueradeMark: '0x' + (1 << (o.masqueradeBit ?? 14)).toString(16),
    };
  }

  async sync(state: ProxyState, opts: SyncOptions = {}): Promise<SyncResult> {
    const t0 = performance.now();
    const { log } = this.opts;
    // A full sync reads the kernel (addresses, IPVS table, ipsets, jump rules) and repairs
    // whatever differs, as the periodic resync must. A partial sync diffs against what the
    // previous sync left in place, so one endpoint change costs a few requests, not a re-read.
    const full = opts.full === true || this.applied === undefined;
    const prev = this.applied;
    // Until this sync succeeds, the kernel is in an unknown state: the next one must be full.
    this.applied = undefined;
    if (this.firstSync) {
      applySysctls(log);
      await this.removeIptablesModeRules();
      log.debug('first sync: sysctls set, iptables mode rules checked', { ms: Math.round(performance.now() - t0) });
    }
    const k = full || !prev ? await this.readKernel(t0) : { ...prev, counts: undefined, missingJumps: [] };
    const ch = await this.planChanges(state, k);
    const restores = await this.applyChanges(ch, full);
    this.firstSync = false;
    this.applied = {
      services: stateAfter(ch.plan.virtualServers, ch.ipvs),
      sets: ch.plan.ipsets,
      bound: ch.plan.boundAddresses,
      linkExists: true,
      nodeAddresses: k.nodeAddresses,
    };

    for (const d of ch.ipvs.drainStarted)
      log.info('real server draining: weight 0 until its connections end', { ...d });
    for (const d of ch.ipvs.drained) log.info('drained real server deleted', { ...d });
    if (this.opts.conntrack !== false) {
      const deletions = staleConntrack(this.lastState, state, this.opts.nodeName);
      if (deletions.length) await clearConntrack(deletions, log);
    }
    this.lastState = state;
    return syncResult(ch, full, performance.now() - t0, restores);
  }

  /** A full sync's view of the kernel: addresses, the IPVS table, ipsets and the jump rules. */
  private async readKernel(t0: number): Promise<KernelView> {
    const [addrJson, kernel, ipsetText, builtins] = await Promise.all([
      readAddresses(),
      this.table.read(),
      ipsetSave(),
      this.opts.iptables.builtinRules(IPVS_JUMP_RULES),
    ]);
    const links = parseAddresses(addrJson);
    this.opts.log.debug('full sync: kernel state read', {
      ms: Math.round(performance.now() - t0),
      virtualServers: kernel.services.size,
    });
    return {
      services: kernel.services,
      counts: kernel.counts,
      sets: parseIpsetSave(ipsetText),
      bound: links.addresses.filter((a) => a.ifname === DUMMY_INTERFACE).map((a) => a.address),
      linkExists: links.links.has(DUMMY_INTERFACE),
      nodeAddresses: links.addresses.filter((a) => a.ifname !== DUMMY_INTERFACE).map((a) => a.address),
      missingJumps: missingJumpRules(builtins),
    };
  }

  /** The plan for `state`, and what differs between it and the kernel view. */
  private async planChanges(state: ProxyState, k: KernelView): Promise<IpvsChanges> {
    const cfg = this.config(k.nodeAddresses);
    const plan = planIpvs(state, cfg);
    for (const c of plan.conflicts)
      this.opts.log.warn('two Service ports claim one virtual server; keeping the first', c);

    const owned = ownership({
      serviceAddresses: [...k.bound, ...plan.boundAddresses],
      nodeAddresses: k.nodeAddresses,
      nodePortSets: [k.sets, plan.ipsets],
    });
    let counts = k.counts;
    if (!counts && needsConnectionCounts(plan.virtualServers, k.services, owned)) {
      counts = await this.table.readCounts(
        [...k.services.values()].filter((v) => v.realServers.some((r) => r.weight === 0)),
      );
    }
    return {
      plan,
      ipvs: diffIpvs({ desired: plan.virtualServers, current: k.services, owned, counts }),
      addresses: planDummyAddresses(k.linkExists, k.bound, plan.boundAddresses),
      sets: diffIpsets(plan.ipsets, k.sets),
      rendered: renderIpvsIptables(cfg, k.missingJumps),
    };
  }

  /** Writes the changes, each kind in one batch; returns how many batches it took. */
  private async applyChanges(ch: IpvsChanges, full: boolean): Promise<number> {
    const { addresses, sets, rendered, ipvs } = ch;
    let restores = 0;
    // Addresses and ipsets first: a new virtual server is reachable, and masqueraded correctly,
    // from the moment it exists. Addresses go last when they are removed, after their servers.
    if (addresses.before.length) {
      await ipBatch(addresses.before);
      restores++;
    }
    if (sets.input) {
      await ipsetRestore(sets.input);
      restores++;
    }
    if (full || rendered.input !== this.lastIptables) {
      await this.opts.iptables.restore(rendered.input);
      this.lastIptables = rendered.input;
      restores++;
    }
    if (ipvs.ops.length) {
      await this.table.apply(ipvs.ops);
      restores++;
    }
    if (addresses.after.length) {
      await ipBatch(addresses.after);
      restores++;
    }
    return restores;
  }

  /** Switching from iptables mode: its per-Service chains would capture Service traffic before IPVS. */
  private async removeIptablesModeRules(): Promise<void> {
    const chains = await this.opts.iptables.listChains();
    const leftovers =
      [...chains.nat].some((c) => isServiceChain(c) || c === 'KUBE-NODEPORTS') ||
      chains.filter.has('KUBE-EXTERNAL-SERVICES');
    if (!leftovers) return;
    this.opts.log.info('removing the iptables mode rules left on this node');
    await cleanupIptablesMode(this.opts.iptables, this.opts.log);
  }

  async cleanup(): Promise<void> {
    await cleanupIpvs(this.opts.iptables, this.table, this.opts.log);
    this.lastIptables = '';
    this.firstSync = true;
    this.applied = undefined;
  }
}

/** One sync's plan and the changes that bring the kernel to it. */
interface IpvsChanges {
  plan: ReturnType<typeof planIpvs>;
  ipvs: ReturnType<typeof diffIpvs>;
  addresses: ReturnType<typeof planDummyAddresses>;
  sets: ReturnType<typeof diffIpsets>;
  rendered: ReturnType<typeof renderIpvsIptables>;
}

function syncResult(ch: IpvsChanges, full: boolean, durationMs: number, restores: number): SyncResult {
  const { plan, ipvs, addresses, sets, rendered } = ch;
  let realServers = 0;
  for (const vs of plan.virtualServers.values()) realServers += vs.realServers.length;
  let ipsetEntries = 0;
  for (const s of plan.ipsets.values()) ipsetEntries += s.size;
  return {
    full,
    durationMs,
    rules: {
      nat: rendered.rules.nat,
      filter: rendered.rules.filter,
      virtualServers: plan.virtualServers.size,
      realServers,
      draining: ipvs.draining.length,
      ipsetEntries,
    },
    objectsWritten:
      ipvs.virtualServersAdded +
      ipvs.virtualServersEdited +
      ipvs.virtualServersDeleted +
      ipvs.realServersAdded +
      ipvs.realServersDeleted +
      ipvs.drainStarted.length +
      addresses.added +
      addresses.removed +
      sets.added +
      sets.deleted,
    restores,
  };
}
