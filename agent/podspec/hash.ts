// Stable hashing of Kubernetes objects. The same spec must hash the same in every agent process
// (a restarted agent compares the hash label on a running container with the desired container to
// decide whether to keep it), so keys are sorted and undefined fields dropped before hashing.
import { createHash } from 'node:crypto';

/** JSON with object keys sorted at every level; undefined values are left out, as JSON does. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (value instanceof Date) return JSON.stringify(value.toISOString());
  if (Array.isArray(value))
    return '[' + value.map((v) => (v === undefined ? 'null' : stableStringify(v))).join(',') + ']';
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + stableStringify(obj[k])).join(',') + '}';
}

/** Hex digest of the stable form; `length` hex characters. */
export function hashObject(value: unknown, length = 16): string {
  return createHash('sha256').update(stableStringify(value)).digest('hex').slice(0, length);
}

/** A deep copy through JSON (Kubernetes objects are plain JSON data). */
export function clone<T>(value: T): T {
  return value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);
}
