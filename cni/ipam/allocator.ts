// Choosing the next free address in a range set, host-local style: continue after the address
// handed out last (so a just-released address is not immediately reused by the next pod, which
// could receive traffic meant for the old one), wrap around, skip gateways and used addresses.
// Pure: the store tells us what is used.
import { compareIP, type IP } from '../../lib/ip.js';
import { rangeFor, type Range, type RangeSet } from './range.js';

export interface Pick {
  ip: IP;
  range: Range;
}

/** The first free address after `last` (or from the start), or undefined if the set is full. */
export function pickFree(set: RangeSet, used: ReadonlySet<bigint>, last?: IP): Pick | undefined {
  if (set.length === 0) return undefined;
  // The walk, as segments [range, from, to]: the rest of the range holding `last`, every other
  // range in order (wrapping), then the beginning of the range holding `last`.
  const segments: [Range, bigint, bigint][] = [];
  const lastRange = last ? rangeFor(set, last) : undefined;
  if (last && lastRange) {
    const ri = set.indexOf(lastRange);
    segments.push([lastRange, last.value + 1n, lastRange.end.value]);
    for (let k = 1; k < set.length; k++) {
      const r = set[(ri + k) % set.length]!;
      segments.push([r, r.start.value, r.end.value]);
    }
    segments.push([lastRange, lastRange.start.value, last.value]);
  } else {
    for (const r of set) segments.push([r, r.start.value, r.end.value]);
  }
  const family = set[0]!.start.family;
  for (const [r, from, to] of segments) {
    for (let v = from; v <= to; v++) {
      if (r.gateway?.value === v || used.has(v)) continue;
      return { ip: { family, value: v }, range: r };
    }
  }
  return undefined;
}

/** A requested address is usable if it lies in the set, is not a gateway and is not used. */
export function checkRequested(set: RangeSet, used: ReadonlySet<bigint>, ip: IP): { range?: Range; problem?: string } {
  const range = rangeFor(set, ip);
  if (!range) return { problem: 'is not in any range of the range set' };
  if (range.gateway && compareIP(range.gateway, ip) === 0) return { problem: 'is the gateway' };
  if (used.has(ip.value)) return { problem: 'is already allocated' };
  return { range };
}
