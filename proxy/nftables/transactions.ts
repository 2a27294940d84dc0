// Turn Service plans into nft scripts (pure). Each script is one `nft -f` run, which nft makes
// one atomic transaction. Nothing here ever asks nft to list anything, and rules and elements
// are written as chain and map blocks, which spare nft reading the table into its cache (see
// skeleton.ts): what is in the table is known from what earlier syncs wrote.
//
// Full sync: every chain of ours declared, flushed and rewritten, maps emptied and refilled,
// stale chains and sets deleted, all in the last transaction; a large sync may first create
// the Services' chains in transactions of their own (unreachable until the maps point at them).
// Partial sync: only the chains of changed Services are rewritten (flush + rules), only their
// map elements are deleted and added; an endpoint change rewrites the one Service chain
// (endpoints.ts). Chains no longer used are emptied at once (nothing can reach them); they and
// unused affinity sets are deleted later, together, by the next transaction that must make nft
// read its cache anyway (one deleting elements, or a full sync), or once PENDING_LIMIT of them
// have gathered: deleting is the one thing a block cannot express.
import { affinitySetLine, type Applied, type ElementOwners, recordOf } from './applied.js';
import { HAIRPINS } from './names.js';
import { chainBlock, elementsBlock, FIXED_CHAINS, prelude, skeleton, type SkeletonConfig, T } from './skeleton.js';
import type { NftElement, ServicePlan } from './service-plan.js';

export interface SyncCounts {
  chainsWritten: number;
  chainsDeleted: number;
  elementsWritten: number;
}

/** Emptied chains and unused affinity sets waiting to be deleted (set name -> timeout). */
export interface Pending {
  chains: Set<string>;
  sets: Map<string, number | undefined>;
}

export const noPending = (): Pending => ({ chains: new Set(), sets: new Map() });

/** Delete the pending objects once this many have gathered, even without other deletions. */
export const PENDING_LIMIT = 1000;

const elementText = (e: NftElement) => (e.value === undefined ? e.key : `${e.key} : ${e.value}`);

function byMap(elements: readonly NftElement[], text: (e: NftElement) => string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const e of elements) {
    let l = out.get(e.map);
    if (!l) out.set(e.map, (l = []));
    l.push(text(e));
  }
  return out;
}

const addElements = (elements: readonly NftElement[]) =>
  [...byMap(elements, elementText)].map(([map, items]) => elementsBlock(map, items)).join('');
const deleteElements = (elements: readonly NftElement[]) =>
  [...byMap(elements, (e) => e.key)]
    .map(([map, keys]) => `delete element ${T} ${map} { ${keys.join(', ')} }\n`)
    .join('');

export interface FullSyncInput {
  plans: Iterable<ServicePlan>;
  skeleton: SkeletonConfig;
  /** Per-Service chains of ours that exist now (from memory or a listing), pending ones included. */
  existingChains: ReadonlySet<string>;
  /** Affinity set name -> its timeout in seconds (undefined: not known). */
  existingSets: ReadonlyMap<string, number | undefined>;
  /** Put Services' chains in transactions of their own, this many chains each (Infinity: one transaction). */
  maxChainsPerTransaction: number;
}

export interface FullSyncOutput {
  /** Scripts to run in order, one transaction each. */
  scripts: string[];
  applied: Map<string, Applied>;
  owners: ElementOwners;
  /** The @endpoint-hairpins elements written. */
  hairpins: Set<string>;
  /** Elements another Service already claimed (first one wins), for a warning. */
  conflicts: Array<{ service: string; map: string; key: string; owner: string }>;
  counts: SyncCounts;
}

/** What a full sync gathers over the plans, for its last transaction. */
interface FullState {
  out: FullSyncOutput;
  existingSets: ReadonlyMap<string, number | undefined>;
  active: Set<string>;
  activeSets: Set<string>;
  elements: NftElement[];
}

/** One Service's sets and chains for a full sync's script, and its elements kept for the last transaction. */
function writePlan(plan: ServicePlan, chunk: string[], st: FullState): void {
  const { out } = st;
  // Declared and emptied first (a chain may jump to another of the same Service), then refilled.
  for (const c of plan.chains) chunk.push(`add chain ${T} ${c.name}\nflush chain ${T} ${c.name}\n`);
  for (const s of plan.sets) {
    if (st.activeSets.has(s.name)) continue;
    st.activeSets.add(s.name);
    // A set's timeout cannot be changed in place: replaced, once this Service's chains (its
    // only users) have been emptied above.
    if (st.existingSets.has(s.name) && st.existingSets.get(s.name) !== s.timeoutSeconds)
      chunk.push(`delete set ${T} ${s.name}\n`);
    chunk.push(affinitySetLine(s));
  }
  for (const c of plan.chains) {
    chunk.push(chainBlock(c.name, c.rules));
    st.active.add(c.name);
  }
  for (const h of plan.hairpins) out.hairpins.add(h);
  out.counts.chainsWritten += plan.chains.length;
  const kept: NftElement[] = [];
  for (const e of plan.elements) {
    const k = `${e.map} ${e.key}`;
    const owner = out.owners.get(k);
    if (owner !== undefined) {
      out.conflicts.push({ service: plan.service, map: e.map, key: e.key, owner });
      continue;
    }
    out.owners.set(k, plan.service);
    kept.push(e);
  }
  st.elements.push(...kept);
  out.counts.elementsWritten += kept.length;
  out.applied.set(plan.service, recordOf(plan, kept));
}

export function renderFullSync(input: FullSyncInput): FullSyncOutput {
  const out: FullSyncOutput = {
    scripts: [],
    applied: new Map(),
    owners: new Map(),
    hairpins: new Set(),
    conflicts: [],
    counts: { chainsWritten: 0, chainsDeleted: 0, elementsWritten: 0 },
  };
  const st: FullState = {
    out,
    existingSets: input.existingSets,
    active: new Set(),
    activeSets: new Set(),
    elements: [],
  };
  let chunk: string[] = [];
  let chunkChains = 0;
  for (const plan of input.plans) {
    if (chunkChains > 0 && chunkChains + plan.chains.length > input.maxChainsPerTransaction) {
      out.scripts.push(prelude() + chunk.join(''));
      chunk = [];
      chunkChains = 0;
    }
    writePlan(plan, chunk, st);
    chunkChains += plan.chains.length;
  }
  // The last transaction: the fixed part (which empties the maps), every element, and the
  // deletion of whatever is stale, now that nothing refers to it any more.
  const last = [prelude(), chunk.join(''), skeleton(input.skeleton), addElements(st.elements)];
  if (out.hairpins.size) last.push(elementsBlock(HAIRPINS, [...out.hairpins]));
  for (const c of input.existingChains) {
    if (st.active.has(c) || FIXED_CHAINS.includes(c)) continue;
    last.push(`delete chain ${T} ${c}\n`);
    out.counts.chainsDeleted++;
  }
  for (const s of input.existingSets.keys()) if (!st.activeSets.has(s)) last.push(`delete set ${T} ${s}\n`);
  out.scripts.push(last.join(''));
  return out;
}

export interface ServiceChange {
  service: string;
  old: Applied | undefined;
  next: ServicePlan | undefined;
}

interface PartialParts {
  /** Affinity sets: written before the chains that refer to them. */
  addSets: string[];
  newChains: string[];
  bodies: string[];
  delElements: NftElement[];
  addElements: NftElement[];
  counts: SyncCounts;
}

/** The chains and sets of one changed Service: what to create, rewrite, and leave to pending. */
function changeChains({ old, next }: ServiceChange, parts: PartialParts, pending: Pending): void {
  const oldChains = old?.chains ?? new Map<string, string>();
  const nextNames = new Set(next?.chains.map((c) => c.name));
  for (const c of next?.chains ?? []) {
    const before = oldChains.get(c.name);
    if (before === c.rules.join('\n')) continue;
    // An emptied chain waiting for deletion is used again as it is.
    const exists = before !== undefined || pending.chains.delete(c.name);
    if (exists) parts.bodies.push(`flush chain ${T} ${c.name}\n`);
    else parts.newChains.push(`add chain ${T} ${c.name}\n`);
    parts.bodies.push(chainBlock(c.name, c.rules));
    parts.counts.chainsWritten++;
  }
  for (const name of oldChains.keys()) {
    if (nextNames.has(name)) continue;
    parts.bodies.push(`flush chain ${T} ${name}\n`);
    pending.chains.add(name);
  }
  const oldSets = new Map((old?.sets ?? []).map((s) => [s.name, s.timeoutSeconds]));
  const nextSets = new Set((next?.sets ?? []).map((s) => s.name));
  for (const s of next?.sets ?? []) {
    const had = oldSets.has(s.name) ? oldSets.get(s.name) : pending.sets.get(s.name);
    pending.sets.delete(s.name);
    // Declared again even when unchanged (a no-op): nft must know a set to evaluate a rule that
    // names it, and reads none it is not told of (a chain block reads no sets).
    if (had !== s.timeoutSeconds && (had !== undefined || oldSets.has(s.name)))
      parts.addSets.push(`delete set ${T} ${s.name}\n`);
    parts.addSets.push(affinitySetLine(s));
  }
  for (const [name, timeout] of oldSets) if (!nextSets.has(name)) pending.sets.set(name, timeout);
}

/** The elements of one changed Service: what it no longer owns goes, what it wants and nobody owns comes. */
function changeElements(
  { service, old, next }: ServiceChange,
  parts: PartialParts,
  owners: ElementOwners,
): NftElement[] {
  const oldEls = new Map((old?.elements ?? []).map((e) => [`${e.map} ${e.key}`, e]));
  const wanted = new Map((next?.elements ?? []).map((e) => [`${e.map} ${e.key}`, e]));
  const kept: NftElement[] = [];
  for (const [k, e] of oldEls) {
    if (wanted.get(k)?.value === e.value && wanted.has(k)) continue;
    parts.delElements.push(e);
    owners.delete(k);
  }
  for (const [k, e] of wanted) {
    if (oldEls.has(k) && oldEls.get(k)!.value === e.value) {
      kept.push(e);
      continue;
    }
    if (owners.has(k)) continue;
    owners.set(k, service);
    parts.addElements.push(e);
    kept.push(e);
    parts.counts.elementsWritten++;
  }
  return kept;
}

/** Hairpin pairs not written yet (only ever added to; see skeleton.ts). `hairpins` is updated. */
function newHairpins(changes: readonly ServiceChange[], hairpins: Set<string>): string {
  const added: string[] = [];
  for (const { next } of changes) {
    for (const h of next?.hairpins ?? []) {
      if (hairpins.has(h)) continue;
      hairpins.add(h);
      added.push(h);
    }
  }
  return added.length ? elementsBlock(HAIRPINS, added) : '';
}

/** The batched deletions, when they are due (see the top of this file); `pending` is emptied then. */
function pendingDeletions(pending: Pending, due: boolean, counts: SyncCounts): string {
  if (!due && pending.chains.size + pending.sets.size < PENDING_LIMIT) return '';
  const deletes: string[] = [];
  for (const c of pending.chains) deletes.push(`delete chain ${T} ${c}\n`);
  for (const s of pending.sets.keys()) deletes.push(`delete set ${T} ${s}\n`);
  counts.chainsDeleted = pending.chains.size;
  pending.chains.clear();
  pending.sets.clear();
  return deletes.join('');
}

/**
 * One transaction for the changed Services, or '' when nothing in the kernel changes. `pending`,
 * `owners` and `hairpins` (the @endpoint-hairpins elements written) are updated.
 */
export function renderPartialSync(
  changes: Iterable<ServiceChange>,
  owners: ElementOwners,
  pending: Pending,
  hairpins: Set<string>,
): { script: string; applied: Map<string, Applied | undefined>; counts: SyncCounts } {
  const parts: PartialParts = {
    addSets: [],
    newChains: [],
    bodies: [],
    delElements: [],
    addElements: [],
    counts: { chainsWritten: 0, chainsDeleted: 0, elementsWritten: 0 },
  };
  const applied = new Map<string, Applied | undefined>();
  const list = [...changes];
  for (const change of list) {
    changeChains(change, parts, pending);
    const kept = changeElements(change, parts, owners);
    applied.set(change.service, change.next ? recordOf(change.next, kept) : undefined);
  }
  // Deleting costs nft a read of the table: done when elements must go anyway, or when enough
  // has gathered.
  const deletes = pendingDeletions(pending, parts.delElements.length > 0, parts.counts);
  // New sets and chains exist before anything refers to them; references go before the
  // chains and sets they point to are deleted, all within this one transaction.
  const script =
    parts.addSets.join('') +
    parts.newChains.join('') +
    parts.bodies.join('') +
    deleteElements(parts.delElements) +
    addElements(parts.addElements) +
    newHairpins(list, hairpins) +
    deletes;
  return { script, applied, counts: parts.counts };
}
