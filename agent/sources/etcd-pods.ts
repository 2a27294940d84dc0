// The pods of the etcd source (--manifest-etcd-endpoints), kept by key: each key under the prefix
// holds one Pod (YAML or JSON), read with the same code as a manifest file, with the key as its
// origin. A bad value is one error naming the key, the field and the reason; it replaces only that
// key's pod, as a broken file replaces only that file's pods. Pure: keys and values in, data out.
import type { V1Pod } from '@kubernetes/client-node';
import { readManifests, type ParsedManifests } from './manifest.js';
import type { ManifestError } from './types.js';

/** One key's value as pods and errors: exactly one Pod, or an error that names the key. */
export function readEtcdValue(key: string, value: string, nodeName: string): ParsedManifests {
  const base = { source: 'etcd' as const, origin: key };
  if (!value.trim())
    return {
      pods: [],
      errors: [
        { ...base, object: 'document 1', field: '<value>', reason: 'empty value: expected one Pod (YAML or JSON)' },
      ],
    };
  const parsed = readManifests(value, { ...base, nodeName });
  const found = parsed.pods.length + new Set(parsed.errors.map((e) => e.object)).size;
  // One key, one pod: the key is how a person finds, changes and deletes it (etcdctl put/del).
  if (found > 1)
    return {
      pods: [],
      errors: [
        { ...base, object: 'document 1', field: '<value>', reason: `expected one Pod per key, got ${found} objects` },
      ],
    };
  return parsed;
}

export class EtcdPods {
  private readonly byKey = new Map<string, ParsedManifests>();

  constructor(private readonly nodeName: string) {}

  /** A fresh list of the prefix: everything not in it is gone. */
  replaceAll(kvs: { key: string; value: string }[]): void {
    this.byKey.clear();
    for (const kv of kvs) this.put(kv.key, kv.value);
  }

  put(key: string, value: string): void {
    this.byKey.set(key, readEtcdValue(key, value, this.nodeName));
  }

  delete(key: string): void {
    this.byKey.delete(key);
  }

  /** Every pod and every refused value, in key order (the merger's tie-break is stable). */
  snapshot(): { pods: V1Pod[]; errors: ManifestError[] } {
    const keys = [...this.byKey.keys()].sort();
    return {
      pods: keys.flatMap((k) => this.byKey.get(k)!.pods),
      errors: keys.flatMap((k) => this.byKey.get(k)!.errors),
    };
  }
}
