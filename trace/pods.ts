// The pods behind addresses: this node's from the agent's CNI result cache (<root-dir>/cni-cache/
// results/*.json, one per attachment: the pod's namespace and name in its CNI_ARGS, its address
// and host-side veth in the kubenode-bridge result), and, with --kubeconfig, every pod of the
// cluster from the apiserver (endpoints on other nodes).
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { PodRef } from './modes/types.js';

interface CacheEntry {
  kind?: string;
  cniArgs?: [string, string][];
  result?: { interfaces?: { name: string; sandbox?: string }[]; ips?: { address: string; interface?: number }[] };
}

/** Address -> pod from parsed cache entries (pure). */
export function podsFromCacheEntries(entries: readonly unknown[], node?: string): Map<string, PodRef> {
  const out = new Map<string, PodRef>();
  for (const raw of entries) {
    const e = raw as CacheEntry;
    if (e.kind !== 'kubenodeCniCacheV1' || !e.result) continue;
    const arg = (k: string) => e.cniArgs?.find(([n]) => n === k)?.[1];
    const namespace = arg('K8S_POD_NAMESPACE');
    const name = arg('K8S_POD_NAME');
    if (!namespace || !name) continue;
    // The bridge plugin lists the bridge, then the host end of the veth, then the pod's end.
    const host = (e.result.interfaces ?? [])
      .filter((i) => !i.sandbox)
      .slice(1)
      .pop()?.name;
    for (const ip of e.result.ips ?? []) {
      out.set(ip.address.split('/')[0]!, {
        namespace,
        name,
        ...(node ? { node } : {}),
        ...(host ? { hostInterface: host } : {}),
      });
    }
  }
  return out;
}

export async function podsFromCniCache(dir: string, node?: string): Promise<Map<string, PodRef>> {
  let names: string[];
  try {
    names = (await readdir(join(dir, 'results'))).filter((n) => n.endsWith('.json'));
  } catch {
    return new Map();
  }
  const entries: unknown[] = [];
  for (const n of names) {
    try {
      entries.push(JSON.parse(await readFile(join(dir, 'results', n), 'utf8')));
    } catch {
      /* half-written: skip */
    }
  }
  return podsFromCacheEntries(entries, node);
}

/** Every pod with an IP, from the apiserver (hostNetwork pods share their node's address: skipped). */
export async function podsFromApiserver(kubeconfig: string): Promise<Map<string, PodRef>> {
  const k8s = await import('@kubernetes/client-node');
  const kc = new k8s.KubeConfig();
  kc.loadFromFile(kubeconfig);
  const list = await kc.makeApiClient(k8s.CoreV1Api).listPodForAllNamespaces();
  const out = new Map<string, PodRef>();
  for (const p of list.items) {
    if (p.spec?.hostNetwork || !p.status?.podIP) continue;
    out.set(p.status.podIP, {
      namespace: p.metadata?.namespace ?? 'default',
      name: p.metadata?.name ?? '?',
      ...(p.spec?.nodeName ? { node: p.spec.nodeName } : {}),
    });
  }
  return out;
}

/** --from POD: "NAME" or "NAMESPACE/NAME" -> its address; the error names the pods that exist. */
export function resolvePod(pods: ReadonlyMap<string, PodRef>, ref: string): string {
  const [ns, name] = ref.includes('/') ? (ref.split('/', 2) as [string, string]) : [undefined, ref];
  const hits = [...pods].filter(([, p]) => p.name === name && (ns === undefined || p.namespace === ns));
  if (hits.length === 1) return hits[0]![0];
  const known = [...new Set([...pods.values()].map((p) => `${p.namespace}/${p.name}`))].sort();
  if (hits.length > 1)
    throw new NotFoundError(
      `pod '${ref}' is ambiguous: ${hits.map(([, p]) => `${p.namespace}/${p.name}`).join(', ')}; give NAMESPACE/NAME`,
    );
  throw new NotFoundError(
    `pod '${ref}' not found; pods known on this node${known.length ? `: ${known.join(', ')}` : ': none (no CNI results; give --cni-cache-dir or --kubeconfig, or an address)'}`,
  );
}

export class NotFoundError extends Error {
  override name = 'NotFoundError';
}
