// A node reboot (`cluster.sh reboot`) watched from outside: the Node's Ready condition over time,
// a pod pinned to the node, the node's kubenode-ipam store and the pods' addresses.
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { demoManifests, type EmulatedCluster } from './cluster.js';
import { sleep } from './until.js';

/** A demo pod bound to node i that tolerates the node being away (as a DaemonSet's pods do), so
 * that the reboot's NotReady does not evict it and its own agent must make it run again. It joins
 * the demo Service (label app=demo); no ReplicaSet adopts it (theirs select a pod-template-hash). */
export function pinnedDemoPod(c: EmulatedCluster, i: number, name: string): Record<string, any> {
  const template = demoManifests().find((d) => d.kind === 'Deployment')!.spec.template;
  const tolerate = (key: string) => ({ key, operator: 'Exists', effect: 'NoExecute' });
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { ...template.metadata.labels } },
    spec: {
      ...template.spec,
      nodeName: c.nodeName(i),
      tolerations: [tolerate('node.kubernetes.io/not-ready'), tolerate('node.kubernetes.io/unreachable')],
    },
  };
}

/** The addresses node i's kubenode-ipam store holds (files named by address, host-local's format). */
export function ipamAddresses(c: EmulatedCluster, i: number): string[] {
  const store = join(c.dir, 'nodes', c.nodeName(i), 'ipam', 'kubenode');
  return readdirSync(store)
    .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
    .sort();
}

/** The pod addresses of node i's pods that hold one (not hostNetwork, not finished). */
export async function podAddresses(c: EmulatedCluster, i: number): Promise<string[]> {
  const out = await c.kubectl([
    'get',
    'pods',
    '-A',
    '-o',
    'json',
    '--field-selector',
    `spec.nodeName=${c.nodeName(i)}`,
  ]);
  return (JSON.parse(out.stdout).items as any[])
    .filter((p) => !p.spec.hostNetwork && p.status?.podIP && !['Succeeded', 'Failed'].includes(p.status.phase))
    .map((p) => p.status.podIP as string)
    .sort();
}

export async function nodeReady(c: EmulatedCluster, i: number): Promise<string> {
  const out = await c.kubectl(
    ['get', 'node', c.nodeName(i), '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'],
    { allowFailure: true },
  );
  return out.stdout.trim() || 'unknown';
}

/** Node i's Ready condition every second until stop() (changes only, with their time). */
export function watchReady(c: EmulatedCluster, i: number): { stop: () => Promise<{ status: string; at: number }[]> } {
  const seen: { status: string; at: number }[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const s = await nodeReady(c, i).catch(() => 'error');
      if (seen[seen.length - 1]?.status !== s) seen.push({ status: s, at: Date.now() });
      await sleep(1000);
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      return seen;
    },
  };
}

/** Poll fn until it returns a truthy value or the time is up; the last value either way. */
export async function pollUntil<T>(
  fn: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs: number,
  everyMs = 1000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let v = await fn();
  while (!ok(v) && Date.now() < deadline) {
    await sleep(everyMs);
    v = await fn();
  }
  return v;
}
