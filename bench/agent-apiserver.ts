// Pods through the real control plane on two kubenode agents: from `kubectl apply` to Ready in the
// API, for one pod and for a 30-replica Deployment spread over both nodes (median of 5 runs each);
// beside the floor measured in the same run: the same single pod as a static manifest on the same
// agent (file -> Ready in the agent's own API), i.e. the agent without the apiserver round trips.
// For the single pod it prints where the time goes: the apiserver and scheduler part (an admin's
// watch sees the pod created and bound) and the agent's part (timestamps of its log lines: pod
// added from the watch, sandbox created and CNI done, container started, Ready observed by the
// prober, Ready written to the API). Then readiness flips of one demo pod: the time from the agent
// observing a Ready transition to the end of its PATCH (the goal: 100 ms), as the agent
// logs it and exports it (kubenode_pod_status_write_latency_seconds on /metrics).
// Prints; never fails on a number. Run: sudo bash scripts/bench.sh agent-apiserver
// (BENCH_RUNS=N runs, BENCH_DEPLOY_RUNS=0 skips the Deployment, BENCH_FLIPS=N readiness flips,
// BENCH_AGENT_LOG=FILE keeps the agents' logs).
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { CoreV1Api, KubeConfig, AppsV1Api, Watch, type V1Pod } from '@kubernetes/client-node';
import { run } from '../lib/exec.js';
import { printMachine, report, ratio, stats } from './harness.js';
import { createWorld, testPod, podReady, IMAGES, type AgentProcess } from '../test/fixtures/agent/world.js';
import { startControlPlane } from '../test/harness/control-plane.js';
import { errorMessage } from '../lib/errors.js';

const teardowns: (() => unknown)[] = [];
const t = { teardown: (fn: () => unknown) => void teardowns.push(fn) };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
/** BENCH_DEPLOY_RUNS=0 skips the 30-replica part (and its Docker floor), to look at one pod quickly. */
const DEPLOY_RUNS = Number(process.env.BENCH_DEPLOY_RUNS ?? RUNS);
const ready = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

async function until(what: string, timeoutMs: number, fn: () => Promise<boolean>, everyMs = 20): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(everyMs);
  }
}

interface LogLine {
  ts: string;
  msg: string;
  pod?: string;
  ready?: string;
  sinceObservedMs?: number;
  source?: string;
  createMs?: number;
  startMs?: number;
  cniMs?: number;
}

/** The agent's log lines about one pod (by "namespace/name"), parsed. */
function podLog(agent: AgentProcess, key: string): LogLine[] {
  const out: LogLine[] = [];
  for (const l of agent.logs) {
    if (!l.includes(key)) continue;
    try {
      const r = JSON.parse(l) as LogLine;
      if (r.pod === key) out.push(r);
    } catch {
      /* not JSON */
    }
  }
  return out;
}

/** The steps of one pod's start, as [label, ms since kubectl apply] (missing steps are skipped). */
const STEPS = [
  'apiserver: pod created (admin watch ADDED)',
  'scheduler: pod bound to a node',
  'agent: watch event -> pod added',
  'agent: worker sync -> creating sandbox',
  'agent: sandbox + CNI ADD done',
  'agent: container started',
  'agent: Ready observed (prober)',
  'agent: Ready PATCH done',
  'admin watch sees Ready',
] as const;

const loadLine = () =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;

async function main() {
  printMachine('kubenode-agent with the real control plane: kubectl apply -> Ready in the API');
  const cp = await startControlPlane(t, {});
  const worlds = [await createWorld(t), await createWorld(t)];
  const agents: AgentProcess[] = [];
  for (const w of worlds) {
    const creds = await cp.nodeCredentials(w.nodeName, ['127.0.0.1']);
    agents.push(await w.startAgent([`--kubeconfig=${join(creds, 'kubeconfig')}`], 90_000));
  }
  // BENCH_AGENT_LOG=FILE keeps both agents' logs, to look at what the breakdown summarises.
  if (process.env.BENCH_AGENT_LOG)
    teardowns.push(() => writeFileSync(process.env.BENCH_AGENT_LOG!, agents.flatMap((a) => a.logs).join('\n') + '\n'));
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  const core = kc.makeApiClient(CoreV1Api);
  const apps = kc.makeApiClient(AppsV1Api);
  await until(
    'both nodes Ready',
    60_000,
    async () => {
      const nodes = (await core.listNode()).items;
      return worlds.every((w) =>
        nodes.some(
          (n) =>
            n.metadata?.name === w.nodeName &&
            n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
        ),
      );
    },
    300,
  );
  const ns = worlds[0]!.prefix;
  await cp.createNamespace(ns);
  const podSpec = {
    terminationGracePeriodSeconds: 2,
    containers: [
      {
        name: 'web',
        image: IMAGES.demo,
        imagePullPolicy: 'Never',
        readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
      },
    ],
  };
  const gone = async () =>
    (await core.listNamespacedPod({ namespace: ns })).items.length === 0 &&
    (await Promise.all(worlds.map((w) => w.containers()))).every((c) => c.length === 0);

  // Floor: the same pod as a static manifest on agent 0, to Ready in the agent's own /pods.
  const w0 = worlds[0]!;
  const floor: number[] = [];
  for (let i = -1; i < RUNS; i++) {
    const name = `floor${i + 1}`;
    const t0 = performance.now();
    await w0.writeManifest(`${name}.yaml`, testPod(w0, name, podSpec.containers, { terminationGracePeriodSeconds: 2 }));
    await until('the static pod Ready', 60_000, async () =>
      (await agents[0]!.pods()).some((p) => p.metadata?.name === `${w0.prefix}-${name}-${w0.nodeName}` && podReady(p)),
    );
    if (i >= 0) floor.push(performance.now() - t0);
    await w0.removeManifest(`${name}.yaml`);
    await until('cleanup', 60_000, gone, 200);
  }

  // An admin's watch: when each pod was created, bound and seen Ready (wall clock, as the agent logs).
  const seen = new Map<string, { added?: number; bound?: number; ready?: number }>();
  const watch = await new Watch(kc).watch(
    `/api/v1/namespaces/${ns}/pods`,
    {},
    (type, p: V1Pod) => {
      const now = Date.now();
      const e = seen.get(p.metadata!.name!) ?? {};
      seen.set(p.metadata!.name!, e);
      if (type === 'ADDED') e.added ??= now;
      if (p.spec?.nodeName) e.bound ??= now;
      if (ready(p)) e.ready ??= now;
    },
    () => {},
  );
  teardowns.push(() => watch.abort());

  /** For one pod: when each of STEPS happened, in ms after wall0. */
  const stepMarks = (pod: V1Pod, wall0: number): (number | undefined)[] => {
    const name = pod.metadata!.name!;
    const agent = agents[worlds.findIndex((w) => w.nodeName === pod.spec?.nodeName)];
    const log = agent ? podLog(agent, `${ns}/${name}`) : [];
    const at = (pred: (l: LogLine) => boolean) => {
      const l = log.find(pred);
      return l ? Date.parse(l.ts) - wall0 : undefined;
    };
    const written = log.find((l) => l.msg === 'wrote pod status' && l.ready === 'True');
    const w = seen.get(name) ?? {};
    return [
      w.added && w.added - wall0,
      w.bound && w.bound - wall0,
      at((l) => l.msg === 'pod added'),
      at((l) => l.msg === 'creating pod sandbox'),
      at((l) => l.msg === 'sandbox network set up'),
      at((l) => l.msg === 'started container'),
      written ? Date.parse(written.ts) - (written.sinceObservedMs ?? 0) - wall0 : undefined,
      written ? Date.parse(written.ts) - wall0 : undefined,
      w.ready && w.ready - wall0,
    ];
  };

  const single: number[] = [];
  const steps = new Map<string, number[]>(STEPS.map((s) => [s, []]));
  const sandboxParts = new Map<string, number[]>([
    ['createMs', []],
    ['startMs', []],
    ['cniMs', []],
  ]);
  for (let i = -1; i < RUNS; i++) {
    const name = `${ns}-one${i + 1}`;
    const wall0 = Date.now();
    const t0 = performance.now();
    await cp.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'Pod', metadata: { name, namespace: ns }, spec: podSpec }),
    });
    await until('the pod Ready in the API', 60_000, async () =>
      ready(await core.readNamespacedPod({ name, namespace: ns })),
    );
    if (i >= 0) single.push(performance.now() - t0);
    await sleep(300); // the watch event and the agent's log lines arrive
    const readyPod = await core.readNamespacedPod({ name, namespace: ns });
    const marks = stepMarks(readyPod, wall0);
    const sandboxLine = podLog(
      agents[worlds.findIndex((w) => w.nodeName === readyPod.spec?.nodeName)]!,
      `${ns}/${name}`,
    ).find((l) => l.msg === 'sandbox network set up');
    if (i >= 0 && sandboxLine)
      for (const k of ['createMs', 'startMs', 'cniMs'] as const) sandboxParts.get(k)!.push(sandboxLine[k] ?? NaN);
    if (i >= 0)
      STEPS.forEach((s, k) => {
        if (marks[k] !== undefined) steps.get(s)!.push(marks[k]!);
      });
    await core.deleteNamespacedPod({ name, namespace: ns });
    await until('cleanup', 60_000, gone, 200);
  }
  console.log(`# one pod, where the time goes (ms after kubectl apply started, median of ${RUNS}; ${loadLine()}):`);
  let prev = 0;
  for (const s of STEPS) {
    const v = steps.get(s)!;
    if (!v.length) {
      console.log(`#   ${s.padEnd(44)} (not seen)`);
      continue;
    }
    const m = stats(v).median;
    console.log(`#   ${s.padEnd(44)} at ${m.toFixed(0).padStart(5)} ms  (+${(m - prev).toFixed(0)})`);
    prev = m;
  }
  if (sandboxParts.get('startMs')!.length) {
    const med = (k: string) => stats(sandboxParts.get(k)!).median.toFixed(0);
    console.log(
      `#     of which: docker create ${med('createMs')} ms (with image check, pod cgroup), docker start ${med('startMs')} ms, CNI ADD ${med('cniMs')} ms`,
    );
  }

  // Readiness flips of one demo pod: Ready transition observed by the agent -> PATCH done.
  const flipName = `${ns}-flip`;
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: flipName, namespace: ns },
      spec: {
        ...podSpec,
        containers: [
          {
            ...podSpec.containers[0]!,
            readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1, failureThreshold: 1 },
          },
        ],
      },
    }),
  });
  await until('the flip pod Ready in the API', 60_000, async () =>
    ready(await core.readNamespacedPod({ name: flipName, namespace: ns })),
  );
  const flipPod = await core.readNamespacedPod({ name: flipName, namespace: ns });
  const flipAgent = agents[worlds.findIndex((w) => w.nodeName === flipPod.spec?.nodeName)]!;
  const cid = flipPod.status!.containerStatuses![0]!.containerID!.replace(/^docker:\/\//, '');
  const FLIPS = Number(process.env.BENCH_FLIPS ?? 20);
  const mark = podLog(flipAgent, `${ns}/${flipName}`).length;
  for (let i = 0; i < FLIPS; i++) {
    const toReady = i % 2 === 1;
    await run('docker', ['exec', cid, 'sh', '-c', toReady ? 'echo ok > /www/ready' : 'rm -f /www/ready']);
    await until(
      'the flip in the API',
      30_000,
      async () => ready(await core.readNamespacedPod({ name: flipName, namespace: ns })) === toReady,
    );
  }
  await sleep(300);
  const flips = podLog(flipAgent, `${ns}/${flipName}`)
    .slice(mark)
    .filter((l) => l.msg === 'wrote pod status' && l.sinceObservedMs !== undefined)
    .map((l) => l.sinceObservedMs!);
  const metrics = (await flipAgent.get('/metrics')).body
    .split('\n')
    .filter((l) => l.startsWith('kubenode_pod_status_write_latency_seconds_') && /_(sum|count)|le="0.1"/.test(l));
  await core.deleteNamespacedPod({ name: flipName, namespace: ns });
  await until('cleanup', 60_000, gone, 200);

  // Docker's own floor for 30 pods: 30 sandboxes (pause, no network) and 30 demo containers in
  // their namespaces, created and started all at once straight through the Engine API (no agent,
  // no CNI): what the daemon alone takes for the containers the 30 replicas need.
  const dockerFloor: number[] = [];
  for (let i = 0; i < Math.min(DEPLOY_RUNS, 3); i++) {
    const d = w0.docker;
    const labels = { 'kubenode.io/instance': w0.prefix };
    const t0 = performance.now();
    const ids = await Promise.all(
      Array.from({ length: 30 }, async (_, k) => {
        const sb = await d.createContainer({
          name: `${w0.prefix}-floor-${i}-${k}-pause`,
          Image: IMAGES.pause,
          Labels: labels,
          HostConfig: { NetworkMode: 'none' },
        });
        await sb.start();
        const c = await d.createContainer({
          name: `${w0.prefix}-floor-${i}-${k}-web`,
          Image: IMAGES.demo,
          Labels: labels,
          HostConfig: { NetworkMode: `container:${sb.id}` },
        });
        await c.start();
        return [sb.id, c.id];
      }),
    );
    dockerFloor.push(performance.now() - t0);
    await Promise.all(ids.flat().map((id) => d.getContainer(id).remove({ force: true })));
  }

  const deploy: number[] = [];
  const labels = { app: `${ns}-web` };
  // Per step, across the 30 pods of each run: when the median pod and the last pod got there.
  const deploySteps = new Map<string, { median: number[]; last: number[] }>(
    STEPS.map((s) => [s, { median: [], last: [] }]),
  );
  for (let i = 0; i < DEPLOY_RUNS; i++) {
    const name = `${ns}-web${i}`;
    const wall0 = Date.now();
    const t0 = performance.now();
    await cp.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name, namespace: ns },
        spec: { replicas: 30, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: podSpec } },
      }),
    });
    await until(
      '30 ready replicas',
      300_000,
      async () => (await apps.readNamespacedDeployment({ name, namespace: ns })).status?.readyReplicas === 30,
      100,
    );
    deploy.push(performance.now() - t0);
    await sleep(300);
    const podsNow = (await core.listNamespacedPod({ namespace: ns })).items;
    const nodes = new Set(podsNow.map((p) => p.spec?.nodeName));
    const perPod = podsNow.map((p) => stepMarks(p, wall0));
    STEPS.forEach((s, k) => {
      const v = perPod.map((m) => m[k]).filter((x): x is number => x !== undefined);
      if (v.length) {
        deploySteps.get(s)!.median.push(stats(v).median);
        deploySteps.get(s)!.last.push(stats(v).max);
      }
    });
    console.log(`# run ${i}: 30 replicas Ready in ${(performance.now() - t0).toFixed(0)} ms on ${nodes.size} nodes`);
    await apps.deleteNamespacedDeployment({ name, namespace: ns });
    await until('cleanup', 180_000, gone, 500);
  }

  if (deploy.length)
    console.log(
      `# 30 replicas, where the time goes (ms after kubectl apply; median over ${RUNS} runs of the median pod / the last pod; ${loadLine()}):`,
    );
  for (const s of deploy.length ? STEPS : []) {
    const v = deploySteps.get(s)!;
    if (!v.median.length) {
      console.log(`#   ${s.padEnd(44)} (not seen)`);
      continue;
    }
    console.log(
      `#   ${s.padEnd(44)} median pod at ${stats(v.median).median.toFixed(0).padStart(6)} ms, last pod at ${stats(v.last).median.toFixed(0).padStart(6)} ms`,
    );
  }
  console.log(`# ${loadLine()}`);
  const f = report('static pod file -> Ready (agent API), floor', floor);
  const s = report('kubectl apply 1 pod -> Ready in the API', single);
  console.log(`${''.padEnd(44)} goal 1.5 s: ${s.median <= 1500 ? 'met' : 'NOT met'}`);
  ratio('1 pod through the apiserver vs static', s, f);
  if (deploy.length) {
    const df = report('Docker alone: 30 sandboxes + 30 containers', dockerFloor);
    const d = report('kubectl apply 30-replica Deployment -> 30 Ready', deploy);
    ratio('30 replicas vs Docker alone', d, df);
    console.log(`${''.padEnd(44)} goal 10 s: ${d.median <= 10_000 ? 'met' : 'NOT met'}`);
  }
  if (flips.length) {
    const fl = report('Ready flip observed -> PATCH done', flips);
    console.log(
      `${''.padEnd(44)} goal 100 ms: median ${fl.median <= 100 ? 'met' : 'NOT met'}, p99 ${fl.p99 <= 100 ? 'met' : 'NOT met'}`,
    );
  }
  for (const l of metrics) console.log(`# ${l}`);
}

try {
  await main();
} finally {
  for (const fn of teardowns.reverse())
    await Promise.resolve(fn()).catch((e) => console.error('teardown:', errorMessage(e)));
}
