// Turn planned rules into iptables-restore input (pure). Only our chains are declared, so with
// --noflush nobody else's rules are touched; declaring a chain (":NAME - [0:0]") flushes it,
// which is what makes rewriting a chain atomic within one restore.
//
// Full sync: every chain of ours is declared and written, stale chains of ours are flushed and
// deleted, missing jump rules are inserted into the built-in chains.
// Partial sync (upstream 1.26+): only the chains of Services that changed are written, and the
// shared chains (KUBE-SERVICES, KUBE-NODEPORTS, filter chains) are edited rule by rule with -D
// and -A/-I instead of being rewritten, so the input for one endpoint change is the same ten
// lines at 10 Services as at 10,000 (the kernel's validation of the table still grows with it).
import { type AppliedRules, bodyDigest, chainDigests, sharedRules } from './applied.js';
import { isServiceChain } from './names.js';
import type { PlanConfig } from './types.js';
import type { ServiceRules, SharedRule } from './service-rules.js';
import {
  forwardRules,
  type JumpRule,
  jumpSpec,
  KUBE_FIREWALL,
  KUBE_MARK_MASQ,
  localhostFirewallRules,
  markMasqRules,
  nodePortsJumpRules,
  postroutingRules,
  STATIC_CHAINS,
  type Table,
} from './static-rules.js';

const chainLine = (name: string) => `:${name} - [0:0]\n`;

export interface FullSyncInput {
  /** Planned Services; may be produced lazily, each is consumed once. */
  services: Iterable<ServiceRules>;
  cfg: PlanConfig;
  /** Jump rules to insert into built-in chains (those found missing). */
  missingJumps: readonly JumpRule[];
  /** nat chains present in the kernel: ours among them that no Service needs are deleted. */
  existingChains: ReadonlySet<string>;
  /**
   * Split the Services' own chains over several transactions (COMMIT sections of one restore
   * input) of at most this many chains each. iptables-nft 1.8.x keeps the chains a --noflush
   * transaction mentions in a sorted linked list, which makes one transaction quadratic in its
   * chain count (about 60 s for 10,000 Services with 5 endpoints, under 10 s when split). Each
   * transaction stays atomic and whole Services move together; the shared chains, which make
   * new chains reachable, are written by the last one. Infinity: one transaction, as upstream.
   */
  maxChainsPerRestore: number;
}

/** Counts filled in while the input is produced. */
export interface SyncStats {
  natRules: number;
  filterRules: number;
  chainsWritten: number;
  staleChains: number;
}

export const newStats = (): SyncStats => ({ natRules: 0, filterRules: 0, chainsWritten: 0, staleChains: 0 });

/**
 * The full sync's restore input, one COMMIT section (transaction) at a time, so that it can be
 * streamed into iptables-restore while later Services are still being planned: at 10,000
 * Services the whole input is 25 MB that never needs to exist at once.
 */
export function* renderFullSync(input: FullSyncInput, stats: SyncStats): Generator<string, void, undefined> {
  const { cfg } = input;
  const active = new Set<string>();

  // Shared chains are assembled while the Services' own chains are laid out in chunks.
  const shared: Record<Table, Map<string, string[]>> = { nat: new Map(), filter: new Map() };
  for (const t of ['nat', 'filter'] as const) for (const c of STATIC_CHAINS[t]) shared[t].set(c, []);

  // KUBE-MARK-MASQ is the target of many Service chains: it is written before any of them.
  let chunk = { decl: [chainLine(KUBE_MARK_MASQ)], rules: markMasqRules(cfg).map((l) => l + '\n'), chains: 1 };
  for (const svc of input.services) {
    for (const r of svc.shared) shared[r.table].get(r.line.slice(3, r.line.indexOf(' ', 3)))!.push(r.line + '\n');
    if (chunk.chains + svc.chains.length > input.maxChainsPerRestore) {
      yield `*nat\n${chunk.decl.join('')}${chunk.rules.join('')}COMMIT\n`;
      chunk = { decl: [], rules: [], chains: 0 };
    }
    for (const c of svc.chains) {
      chunk.decl.push(chainLine(c.name));
      chunk.rules.push(c.body);
      chunk.chains++;
      active.add(c.name);
      stats.chainsWritten++;
      stats.natRules += c.rules;
    }
  }
  // Service chains left from Services deleted while we were not running, or by a sync that
  // failed half-way.
  const stale = [...input.existingChains].filter((c) => isServiceChain(c) && !active.has(c));
  stats.staleChains = stale.length;

  // The last transaction: the rest of the Service chains, the shared chains (which make new
  // Service chains reachable), missing jumps, and removal of what is stale.
  const nat = chunk.decl;
  const natBody = chunk.rules;
  for (const c of STATIC_CHAINS.nat) if (c !== KUBE_MARK_MASQ) nat.push(chainLine(c));
  for (const s of stale) nat.push(chainLine(s));
  for (const l of postroutingRules(cfg)) natBody.push(l + '\n');
  for (const lines of shared.nat.values()) natBody.push(...lines);
  for (const l of nodePortsJumpRules(cfg)) natBody.push(l + '\n');
  for (const j of input.missingJumps) if (j.table === 'nat') natBody.push(`-I ${j.builtin} 1 ${jumpSpec(j)}\n`);
  for (const s of stale) natBody.push(`-X ${s}\n`);

  const filter: string[] = [];
  const filterBody: string[] = [];
  for (const c of STATIC_CHAINS.filter) filter.push(chainLine(c));
  for (const l of forwardRules(cfg)) filterBody.push(l + '\n');
  // KUBE-FIREWALL exists before INPUT and OUTPUT jump to it (the jumps come below).
  const firewall = cfg.localhostNodePorts ? localhostFirewallRules() : [];
  if (firewall.length) filter.push(chainLine(KUBE_FIREWALL));
  for (const l of firewall) filterBody.push(l + '\n');
  for (const lines of shared.filter.values()) filterBody.push(...lines);
  for (const j of input.missingJumps) if (j.table === 'filter') filterBody.push(`-I ${j.builtin} 1 ${jumpSpec(j)}\n`);

  stats.natRules += markMasqRules(cfg).length + postroutingRules(cfg).length + nodePortsJumpRules(cfg).length;
  for (const lines of shared.nat.values()) stats.natRules += lines.length;
  stats.filterRules += forwardRules(cfg).length + firewall.length;
  for (const lines of shared.filter.values()) stats.filterRules += lines.length;

  yield `*filter\n${filter.join('')}${filterBody.join('')}COMMIT\n*nat\n${nat.join('')}${natBody.join('')}COMMIT\n`;
}

export interface ServiceChange {
  service: string;
  /** What the last successful sync applied for this Service (compact form). */
  old: AppliedRules | undefined;
  next: ServiceRules | undefined;
}

/** The restore input for a partial sync, or '' when the changes need no rule edits at all. */
export function renderPartialSync(changes: Iterable<ServiceChange>): { input: string; chainsWritten: number } {
  const decl: string[] = [];
  const deletes: Record<Table, string[]> = { nat: [], filter: [] };
  const bodies: string[] = [];
  const adds: Record<Table, string[]> = { nat: [], filter: [] };
  const removeChains: string[] = [];
  let chainsWritten = 0;

  for (const { old, next } of changes) {
    const oldChains = chainDigests(old);
    const nextNames = new Set<string>();
    for (const c of next?.chains ?? []) {
      nextNames.add(c.name);
      if (oldChains.get(c.name) === bodyDigest(c.body)) continue;
      decl.push(chainLine(c.name));
      bodies.push(c.body);
      chainsWritten++;
    }
    for (const name of oldChains.keys()) {
      if (nextNames.has(name)) continue;
      decl.push(chainLine(name));
      removeChains.push(`-X ${name}\n`);
    }
    const key = (r: SharedRule) => `${r.table} ${r.line}`;
    const oldRules = sharedRules(old);
    const oldShared = new Set(oldRules.map(key));
    const nextShared = new Set((next?.shared ?? []).map(key));
    for (const r of oldRules) if (!nextShared.has(key(r))) deletes[r.table].push(`-D${r.line.slice(2)}\n`);
    for (const r of next?.shared ?? []) {
      if (oldShared.has(key(r))) continue;
      // ClusterIP rules are appended: a ClusterIP is never a local address, so landing after
      // the NodePort rule changes nothing (the next full sync puts it back in order); -I
      // would make iptables-nft fetch the whole chain (tens of ms at 10,000 Services).
      if (r.insert) {
        const chainEnd = r.line.indexOf(' ', 3);
        adds[r.table].push(`-I ${r.line.slice(3, chainEnd)} 1${r.line.slice(chainEnd)}\n`);
      } else {
        adds[r.table].push(r.line + '\n');
      }
    }
  }

  let input = '';
  if (deletes.filter.length || adds.filter.length)
    input += `*filter\n${deletes.filter.join('')}${adds.filter.join('')}COMMIT\n`;
  // References go before the chains they point to are deleted; new chains exist before
  // anything jumps to them (all within one transaction, in this order).
  if (decl.length || deletes.nat.length || adds.nat.length) {
    input += `*nat\n${decl.join('')}${deletes.nat.join('')}${bodies.join('')}${adds.nat.join('')}${removeChains.join('')}COMMIT\n`;
  }
  return { input, chainsWritten };
}
