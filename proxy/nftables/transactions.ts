// Turn Service plans into nft scripts (pure). Each script is one `nft -f` run, which nft makes
// one atomic transaction. Nothing here ever asks nft to list anything: what is in the table is
// known from what earlier syncs wrote (applied records), so nft never has to read the table.
//
// Full sync: every chain of ours declared, flushed and rewritten, maps emptied and refilled,
// stale chains and sets deleted, all in the last transaction; a large sync first creates the
// Services' chains in transactions of their own (unreachable until the maps point at them).
// Partial sync: only the chains of changed Services are rewritten (flush + rules), only their
// map elements are deleted and added, and their stale chains are deleted in the same
// transaction: one endpoint change is a few lines.
import { affinitySetLine, type Applied, type ElementOwners, recordOf } from './applied.js';
import { FIXED_CHAINS, prelude, skeleton, type SkeletonConfig, T } from './skeleton.js';
import type { NftChain, NftElement, ServicePlan } from './service-plan.js';

export interface SyncCounts {
  chainsWritten: number;
  chainsDeleted: number;
  elementsWritten: number;
  rules: number;
}

export const newCounts = (): SyncCounts => ({ chainsWritten: 0, chainsDeleted: 0, elementsWritten: 0, rules: 0 });

const chainText = (c: NftChain) => c.rules.map((r) => `add rule ${T} ${c.name} ${r}\n`).join('');
const elementText = (e: NftElement) => (e.value === undefined ? e.key : `${e.key} : ${e.value}`);

/** "add element" commands, one per map, for elements in order. */
function addElements(elements: readonly NftElement[]): string {
  const byMap = new Map<string, string[]>();
  for (const e of elements) {
    let l = byMap.get(e.map);
    if (!l) byMap.set(e.map, (l = []));
    l.push(elementText(e));
  }
  let out = '';
  for (const [map, items] of byMap) out += `add element ${T} ${map} { ${items.join(', ')} }\n`;
  return out;
}

function deleteElements(elements: readonly NftElement[]): string {
  const byMap = new Map<string, string[]>();
  for (const e of elements) {
    let l = byMap.get(e.map);
    if (!l) byMap.set(e.map, (l = []));
    l.push(e.key);
  }
  let out = '';
  for (const [map, keys] of byMap) out += `delete element ${T} ${map} { ${keys.join(', ')} }\n`;
  return out;
}

export interface FullSyncInput {
  plans: Iterable<ServicePlan>;
  skeleton: SkeletonConfig;
  /** Per-Service chains and affinity sets of ours that exist now (from memory or a listing). */
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
  /** Elements another Service already claimed (first one wins), for a warning. */
  conflicts: Array<{ service: string; map: string; key: string; owner: string }>;
  counts: SyncCounts;
}

export function renderFullSync(input: FullSyncInput): FullSyncOutput {
  const counts = newCounts();
  const applied = new Map<string, Applied>();
  const owners: ElementOwners = new Map();
  const conflicts: FullSyncOutput['conflicts'] = [];
  const scripts: string[] = [];
  const active = new Set<string>();
  const activeSets = new Set<string>();
  const elements: NftElement[] = [];
  let chunk: string[] = [];
  let chunkChains = 0;
  for (const plan of input.plans) {
    if (chunkChains > 0 && chunkChains + plan.chains.length > input.maxChainsPerTransaction) {
      scripts.push(prelude() + chunk.join(''));
      chunk = [];
      chunkChains = 0;
    }
    // Declared, emptied, refilled: atomic per chain, whatever the chain held before.
    for (const c of plan.chains) chunk.push(`add chain ${T} ${c.name}\nflush chain ${T} ${c.name}\n`);
    for (const s of plan.sets) {
      if (activeSets.has(s.name)) continue;
      activeSets.add(s.name);
      // A set's timeout cannot be changed in place: replaced, once this Service's chains (its
      // only users) have been emptied above.
      if (input.existingSets.has(s.name) && input.existingSets.get(s.name) !== s.timeoutSeconds) chunk.push(`delete set ${T} ${s.name}\n`);
      chunk.push(affinitySetLine(s));
    }
    for (const c of plan.chains) {
      chunk.push(chainText(c));
      active.add(c.name);
      counts.rules += c.rules.length;
    }
    chunkChains += plan.chains.length;
    counts.chainsWritten += plan.chains.length;
    const kept: NftElement[] = [];
    for (const e of plan.elements) {
      const k = `${e.map} ${e.key}`;
      const owner = owners.get(k);
      if (owner !== undefined) {
        conflicts.push({ service: plan.service, map: e.map, key: e.key, owner });
        continue;
      }
      owners.set(k, plan.service);
      kept.push(e);
    }
    elements.push(...kept);
    counts.elementsWritten += kept.length;
    applied.set(plan.service, recordOf(plan, kept));
  }
  // The last transaction: the fixed part (which empties the maps), every element, and the
  // deletion of whatever is stale, now that nothing refers to it any more.
  const last = [prelude(), chunk.join(''), skeleton(input.skeleton), addElements(elements)];
  for (const c of input.existingChains) {
    if (active.has(c) || FIXED_CHAINS.includes(c)) continue;
    last.push(`delete chain ${T} ${c}\n`);
    counts.chainsDeleted++;
  }
  for (const s of input.existingSets.keys()) if (!activeSets.has(s)) last.push(`delete set ${T} ${s}\n`);
  scripts.push(last.join(''));
  return { scripts, applied, owners, conflicts, counts };
}

export interface ServiceChange {
  service: string;
  old: Applied | undefined;
  next: ServicePlan | undefined;
}

/** One transaction for the changed Services, or '' when nothing in the kernel changes. */
export function renderPartialSync(changes: Iterable<ServiceChange>, owners: ElementOwners): { script: string; applied: Map<string, Applied | undefined>; counts: SyncCounts } {
  const counts = newCounts();
  const addSets: string[] = [];
  const addChains: string[] = [];
  const bodies: string[] = [];
  const delElements: NftElement[] = [];
  const addElementsList: NftElement[] = [];
  const delChains: string[] = [];
  const delSets: string[] = [];
  const applied = new Map<string, Applied | undefined>();
  for (const { service, old, next } of changes) {
    const oldChains = old?.chains ?? new Map<string, string>();
    const nextNames = new Set(next?.chains.map((c) => c.name));
    for (const c of next?.chains ?? []) {
      const text = c.rules.join('\n');
      const before = oldChains.get(c.name);
      if (before === text) continue;
      if (before === undefined) addChains.push(`add chain ${T} ${c.name}\n`);
      else bodies.push(`flush chain ${T} ${c.name}\n`);
      bodies.push(chainText(c));
      counts.chainsWritten++;
    }
    for (const name of oldChains.keys()) {
      if (nextNames.has(name)) continue;
      delChains.push(`delete chain ${T} ${name}\n`);
      counts.chainsDeleted++;
    }
    const oldSets = new Map((old?.sets ?? []).map((s) => [s.name, s.timeoutSeconds]));
    const nextSets = new Map((next?.sets ?? []).map((s) => [s.name, s.timeoutSeconds]));
    for (const s of next?.sets ?? []) {
      if (oldSets.get(s.name) === s.timeoutSeconds) continue;
      if (oldSets.has(s.name)) delSets.push(`delete set ${T} ${s.name}\n`);
      addSets.push(affinitySetLine(s));
    }
    for (const [name] of oldSets) if (!nextSets.has(name)) delSets.push(`delete set ${T} ${name}\n`);

    // Elements: what this Service owned and no longer wants (or wants with another verdict)
    // goes; what it wants and nobody else owns comes.
    const oldEls = new Map((old?.elements ?? []).map((e) => [`${e.map} ${e.key}`, e]));
    const kept: NftElement[] = [];
    const wanted = new Map((next?.elements ?? []).map((e) => [`${e.map} ${e.key}`, e]));
    for (const [k, e] of oldEls) {
      const w = wanted.get(k);
      if (w && w.value === e.value) continue;
      delElements.push(e);
      owners.delete(k);
    }
    for (const [k, e] of wanted) {
      const o = oldEls.get(k);
      if (o && o.value === e.value) {
        kept.push(e);
        continue;
      }
      if (owners.has(k)) continue;
      owners.set(k, service);
      addElementsList.push(e);
      kept.push(e);
      counts.elementsWritten++;
    }
    applied.set(service, next ? recordOf(next, kept) : undefined);
  }
  // New sets and chains exist before anything refers to them; references go before the
  // chains and sets they point to are deleted, all within this one transaction.
  const script = addSets.join('') + addChains.join('') + bodies.join('') + deleteElements(delElements) + addElements(addElementsList) + delChains.join('') + delSets.join('');
  return { script: script ? prelude() + script : '', applied, counts };
}
