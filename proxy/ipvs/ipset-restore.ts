// ipset contents, both ways (pure): parse `ipset save`, and write the one `ipset restore` input
// that creates missing sets of ours and adds and deletes only the entries that differ. Entries
// are changed in place rather than by flushing and refilling a set, so a packet never meets a
// set that is momentarily empty.
import { IPSETS, IPSET_NAMES } from './ipsets.js';

/** Set name -> entries, for our sets only, as `ipset save` prints them. */
export function parseIpsetSave(text: string): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const line of text.split('\n')) {
    const m = /^(create|add) (\S+)(?: (\S+))?/.exec(line);
    if (!m || !IPSET_NAMES.has(m[2]!)) continue;
    if (!out.has(m[2]!)) out.set(m[2]!, new Set());
    if (m[1] === 'add' && m[3]) out.get(m[2]!)!.add(normalizeEntry(m[3]));
  }
  return out;
}

/** ipset prints a host-sized net without its "/32"; compare entries the way it prints them. */
export function normalizeEntry(e: string): string {
  return e.replace(/\/32\b/g, '');
}

export interface IpsetDiff {
  input: string;
  added: number;
  deleted: number;
  created: number;
}

export function diffIpsets(
  desired: ReadonlyMap<string, ReadonlySet<string>>,
  current: ReadonlyMap<string, ReadonlySet<string>>,
): IpsetDiff {
  const lines: string[] = [];
  let added = 0;
  let deleted = 0;
  let created = 0;
  for (const spec of IPSETS) {
    const want = desired.get(spec.name) ?? new Set<string>();
    const have = current.get(spec.name);
    if (!have) {
      lines.push(`create ${spec.name} ${spec.type}`);
      created++;
    }
    for (const e of want) {
      if (!have?.has(normalizeEntry(e))) {
        lines.push(`add ${spec.name} ${e}`);
        added++;
      }
    }
    if (have) {
      const wanted = new Set([...want].map(normalizeEntry));
      for (const e of have) {
        if (!wanted.has(e)) {
          lines.push(`del ${spec.name} ${e}`);
          deleted++;
        }
      }
    }
  }
  return { input: lines.length ? lines.join('\n') + '\n' : '', added, deleted, created };
}

/** `ipset restore` input destroying those of our sets that exist (--cleanup). */
export function destroyIpsets(current: ReadonlyMap<string, unknown>): string {
  return IPSETS.filter((s) => current.has(s.name))
    .map((s) => `destroy ${s.name}\n`)
    .join('');
}
