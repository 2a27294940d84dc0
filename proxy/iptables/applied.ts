// What the proxier remembers of each Service's rules between syncs: enough to compute the next
// partial sync (the exact text of its rules in shared chains, to delete them; a digest of each
// of its own chains, to tell whether it changed), and no more. Each part is one flat string
// per Service: at 10,000 Services, keeping every chain's text would cost about 25 MiB, and
// objects per rule several MiB more; this costs about 4.
import { createHash } from 'node:crypto';
import type { ServiceRules, SharedRule } from './service-rules.js';

export interface AppliedRules {
  /** The shared-chain rules, one per line, each prefixed with its table and insert flag. */
  shared: string;
  /** "NAME DIGEST" per chain, one per line. */
  chains: string;
  natRules: number;
  filterRules: number;
}

export function bodyDigest(body: string): string {
  // 96 bits of sha1: telling our own chain bodies apart, not resisting an adversary.
  return createHash('sha1').update(body).digest('base64').slice(0, 16);
}

const encodeShared = (r: SharedRule) => `${r.table === 'nat' ? 'n' : 'f'}${r.insert ? 'i' : '-'}${r.line}`;

export function compactRules(r: ServiceRules): AppliedRules {
  return {
    shared: flat(r.shared.map(encodeShared).join('\n')),
    chains: flat(r.chains.map((c) => `${c.name} ${bodyDigest(c.body)}`).join('\n')),
    natRules: r.natRules,
    filterRules: r.filterRules,
  };
}

export function sharedRules(a: AppliedRules | undefined): SharedRule[] {
  if (!a || a.shared === '') return [];
  return a.shared
    .split('\n')
    .map((l) => ({ table: l[0] === 'n' ? 'nat' : 'filter', insert: l[1] === 'i', line: l.slice(2) }));
}

/** The names of the chains a Service had. */
export function chainNames(a: AppliedRules): string[] {
  return a.chains === '' ? [] : a.chains.split('\n').map((c) => c.slice(0, c.indexOf(' ')));
}

/** Chain name -> digest, for comparing a Service's chains with what was applied. */
export function chainDigests(a: AppliedRules | undefined): Map<string, string> {
  const out = new Map<string, string>();
  if (!a || a.chains === '') return out;
  for (const c of a.chains.split('\n')) {
    const i = c.indexOf(' ');
    out.set(c.slice(0, i), c.slice(i + 1));
  }
  return out;
}

/**
 * A string built by concatenation is a tree of its pieces in V8 until something flattens it;
 * kept for long, the tree costs several times the text. Converting to a number flattens it.
 */
function flat(s: string): string {
  void Number(s);
  return s;
}
