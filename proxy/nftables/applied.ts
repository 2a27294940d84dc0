// What the proxier remembers of each Service between syncs: the text of each of its chains (to
// tell whether a chain changed), the map elements it owns, and its affinity sets. With this, a
// partial sync knows exactly what to flush, add and delete without asking nft what is there.
import { T } from './skeleton.js';
import type { AffinitySet, NftElement, ServicePlan } from './service-plan.js';

export interface Applied {
  /** Chain name -> its rules joined by "\n". */
  chains: Map<string, string>;
  /** The elements this Service owns in the shared maps (another Service may have claimed a key first). */
  elements: NftElement[];
  sets: AffinitySet[];
}

/** "map key" -> the Service that owns that element. */
export type ElementOwners = Map<string, string>;

export function recordOf(plan: ServicePlan, ownedElements: NftElement[]): Applied {
  return { chains: new Map(plan.chains.map((c) => [c.name, c.rules.join('\n')])), elements: ownedElements, sets: plan.sets };
}

export function affinitySetLine(s: AffinitySet): string {
  return `add set ${T} ${s.name} { type ipv4_addr ; flags dynamic,timeout ; timeout ${s.timeoutSeconds}s ; }\n`;
}
