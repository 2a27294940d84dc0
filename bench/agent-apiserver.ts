// Pods through the real control plane on two kubenode agents: from `kubectl apply` to Ready in the
// API, for one pod and for a 30-replica Deployment spread over both nodes (median of 5 runs each);
// beside the floor measured in the same run: the same single pod as a static manifest on the same
// agent (file -> Ready in the agent's own API), i.e. the agent without the apiserver round trips.
// Prints; never fails on a number. Run: sudo bash scripts/bench.sh agent-apiserver
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, AppsV1Api, type V1Pod } from '@kubernetes/client-node';
import { printMachine, report, ratio } from './harness.js';
import { createWorld, testPod, podReady, IMAGES, type AgentProcess } from '../test/fixtures/agent/world.js';
import { startControlPlane } from '../test/harness/control-plane.js';

const teardowns: (() => unknown)[] = [];
const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const ready = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function until(what: string, timeoutMs: number, fn: () => Promise<boolean>, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

async function main() {
  printMachine('kubenode-agent with the real control plane: kubectl apply -> Ready in the API');
  const cp = await startControlPlane(t, {});
  const worlds = [await createWorld(t), await createWorld(t)];
  const agents: AgentProcess[] = [];
  for (const w of worlds) {
    const creds = await cp.nodeCredentials(w.nodeName, ['127.0.0.1']);
    agents.push(await w.startAgent([`--kubeconfig=${join(creds, 'kubeconfig')}`], 90_000));
  }
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await until('both nodes Ready', 60_000, async () => {
    const nodes = (await core.listNode()).items;
    return worlds.every((w) => nodes.some((n) => n.metadata?.name === w.nodeName && n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')));
  }, 300);
  const ns = worlds[0]!.prefix;
  await cp.kubectl(['create', 'namespace', ns]);
  await until('the default ServiceAccount', 30_000, async () => (await cp.kubectl(['-n', ns, 'get', 'sa', 'default'], { allowFailure: true })).code === 0, 300);
  const podSpec = {
    automountServiceAccountToken: false, terminationGracePeriodSeconds: 2,
    containers: [{ name: 'web', image: IMAGES.demo, imagePullPolicy: 'Never', readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 } }],
  };
  const gone = async () => (await core.listNamespacedPod({ namespace: ns })).items.length === 0 && (await Promise.all(worlds.map((w) => w.containers()))).every((c) => c.length === 0);

  // Floor: the same pod as a static manifest on agent 0, to Ready in the agent's own /pods.
  const w0 = worlds[0]!;
  const floor: number[] = [];
  for (let i = -1; i < RUNS; i++) {
    const name = `floor${i + 1}`;
    const t0 = performance.now();
    await w0.writeManifest(`${name}.yaml`, testPod(w0, name, podSpec.containers, { terminationGracePeriodSeconds: 2 }));
    await until('the static pod Ready', 60_000, async () => (await agents[0]!.pods()).some((p) => p.metadata?.name === `${w0.prefix}-${name}-${w0.nodeName}` && podReady(p)));
    if (i >= 0) floor.push(performance.now() - t0);
    await w0.removeManifest(`${name}.yaml`);
    await until('cleanup', 60_000, gone, 200);
  }

  const single: number[] = [];
  for (let i = -1; i < RUNS; i++) {
    const name = `${ns}-one${i + 1}`;
    const t0 = performance.now();
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: podSpec }) });
    await until('the pod Ready in the API', 60_000, async () => ready(await core.readNamespacedPod({ name, namespace: ns })));
    if (i >= 0) single.push(performance.now() - t0);
    await core.deleteNamespacedPod({ name, namespace: ns });
    await until('cleanup', 60_000, gone, 200);
  }

  const deploy: number[] = [];
  const labels = { app: `${ns}-web` };
  for (let i = 0; i < RUNS; i++) {
    const name = `${ns}-web${i}`;
    const t0 = performance.now();
    await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns },
      spec: { replicas: 30, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec } },
    }) });
    await until('30 ready replicas', 300_000, async () => (await apps.readNamespacedDeployment({ name, namespace: ns })).status?.readyReplicas === 30, 100);
    deploy.push(performance.now() - t0);
    const nodes = new Set((await core.listNamespacedPod({ namespace: ns })).items.map((p) => p.spec?.nodeName));
    console.log(`# run ${i}: 30 replicas Ready in ${(performance.now() - t0).toFixed(0)} ms on ${nodes.size} nodes`);
    await apps.deleteNamespacedDeployment({ name, namespace: ns });
    await until('cleanup', 180_000, gone, 500);
  }

  const f = report('static pod file -> Ready (agent API), floor', floor);
  const s = report('kubectl apply 1 pod -> Ready in the API', single);
  ratio('1 pod through the apiserver vs static', s, f);
  report('kubectl apply 30-replica Deployment -> 30 Ready', deploy);
}

try {
  await main();
} finally {
  for (const fn of teardowns.reverse()) await Promise.resolve(fn()).catch((e) => console.error('teardown:', (e as Error).message));
}
