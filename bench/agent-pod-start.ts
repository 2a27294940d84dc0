// Pod start latency through kubenode-agent: from a manifest file appearing in the static pod
// directory to all its containers running, and to Ready (a readiness probe on the demo app), for
// 1, 10 and 100 single-container pods; beside a plain `docker run` of the same image (create +
// start through the Docker API) measured in the same run. Then the agent's memory with 100 pods
// and its CPU use when idle (100 running pods, nothing changing). Prints; never fails on a number.
// Run: sudo npm run bench -- agent-pod-start
import { performance } from 'node:perf_hooks';
import type { V1Pod } from '@kubernetes/client-node';
import { printMachine, report, ratio, stats, rssMiB, cpuSeconds } from './harness.js';
import {
  createWorld,
  testPod,
  allRunning,
  podReady,
  IMAGES,
  type World,
  type AgentProcess,
} from '../test/fixtures/agent/world.js';

const teardowns: (() => unknown)[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function demoPod(w: World, name: string, probe: boolean): V1Pod {
  return testPod(
    w,
    name,
    [
      {
        name: 'web',
        image: probe ? IMAGES.demo : IMAGES.busybox,
        ...(probe
          ? { readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 } }
          : { command: ['sleep', '36000'] }),
      },
    ],
    { terminationGracePeriodSeconds: 2 },
  );
}

/** Write n manifests, one file each; per pod: ms from its file's write to running, and to Ready. */
async function startPods(w: World, agent: AgentProcess, n: number, round: string, probe: boolean) {
  const written = new Map<string, number>();
  const running = new Map<string, number>();
  const ready = new Map<string, number>();
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const name = `${round}-${i}`;
    await w.writeManifest(`${name}.yaml`, demoPod(w, name, probe));
    written.set(`${w.prefix}-${name}-${w.nodeName}`, performance.now());
  }
  const deadline = Date.now() + 180_000;
  while (ready.size < n && Date.now() < deadline) {
    let pods: V1Pod[] = [];
    try {
      pods = await agent.pods();
    } catch {
      /* retry */
    }
    const now = performance.now();
    for (const p of pods) {
      const key = p.metadata!.name!;
      if (!written.has(key)) continue;
      if (!running.has(key) && allRunning(p)) running.set(key, now - written.get(key)!);
      if (!ready.has(key) && podReady(p)) ready.set(key, now - written.get(key)!);
    }
    await sleep(50);
  }
  if (ready.size < n) throw new Error(`only ${ready.size} of ${n} pods became Ready`);
  return {
    running: [...running.values()],
    ready: [...ready.values()],
    allRunningMs: Math.max(...[...running.keys()].map((k) => written.get(k)! - t0 + running.get(k)!)),
  };
}

async function removeAll(w: World, agent: AgentProcess, round: string, n: number) {
  for (let i = 0; i < n; i++) await w.removeManifest(`${round}-${i}.yaml`);
  const deadline = Date.now() + 180_000;
  while (Date.now() < deadline) {
    if ((await agent.pods()).length === 0 && (await w.containers()).length === 0) return;
    await sleep(200);
  }
  throw new Error('pods not cleaned up');
}

async function main() {
  printMachine('kubenode-agent pod start latency');
  const w = await createWorld({ teardown: (fn) => teardowns.push(fn) });
  // Run as installed: bin/kubenode-agent.js, whose shebang sets the node flags.
  const agent = await w.startAgent(['--sync-concurrency=16'], 20_000, { bin: true });
  const pid = agent.pid;

  // Floor: the same image, created and started directly through the Docker API, no network.
  const floor: number[] = [];
  for (let i = -2; i < 10; i++) {
    const t = performance.now();
    const c = await w.docker.createContainer({
      name: `${w.prefix}-floor-${i + 2}`,
      Image: IMAGES.demo,
      Labels: { 'kubenode.io/instance': w.prefix },
      HostConfig: { NetworkMode: 'none' },
    });
    await c.start();
    if (i >= 0) floor.push(performance.now() - t);
    await c.remove({ force: true });
  }
  const floorStats = report('docker run (create+start), same image', floor);

  // Idle with nothing to do.
  const c0 = cpuSeconds(pid);
  await sleep(10_000);
  console.log(
    `idle agent CPU, 0 pods, over 10 s:               ${(((cpuSeconds(pid) - c0) / 10) * 100).toFixed(2)} % of one core`,
  );

  // Floor for 100 pods: Docker alone creating and starting 200 containers (a sandbox and an app
  // container per pod) with the agent's concurrency.
  const bulk = async (count: number, conc: number) => {
    const t = performance.now();
    let next = 0;
    const ids: string[] = [];
    await Promise.all(
      Array.from({ length: conc }, async () => {
        while (next < count) {
          const i = next++;
          const c = await w.docker.createContainer({
            name: `${w.prefix}-bulk-${i}`,
            Image: IMAGES.busybox,
            Cmd: ['sleep', '3600'],
            Labels: { 'kubenode.io/instance': w.prefix },
            HostConfig: { NetworkMode: 'none' },
          });
          await c.start();
          ids.push(c.id);
        }
      }),
    );
    const ms = performance.now() - t;
    await Promise.all(ids.map((id) => w.docker.getContainer(id).remove({ force: true })));
    return ms;
  };
  const bulkMs = await bulk(200, 16);
  console.log(
    `docker alone: 200 containers create+start (16 at a time): ${(bulkMs / 1000).toFixed(2)} s  (floor for 100 pods)`,
  );

  for (const [n, rounds] of [
    [1, 10],
    [10, 3],
    [100, 1],
  ] as const) {
    const run: number[] = [];
    const rdy: number[] = [];
    let total = 0;
    for (let r = 0; r < rounds; r++) {
      const res = await startPods(w, agent, n, `p${n}r${r}`, true);
      run.push(...res.running);
      rdy.push(...res.ready);
      total = Math.max(total, res.allRunningMs);
      if (n === 100) {
        console.log(`agent RSS with 100 pods (readiness probes):     ${rssMiB(pid).toFixed(1)} MiB`);
        const c1 = cpuSeconds(pid);
        await sleep(20_000);
        console.log(
          `agent CPU, 100 pods probed every 1 s, 20 s:      ${(((cpuSeconds(pid) - c1) / 20) * 100).toFixed(2)} % of one core`,
        );
      }
      await removeAll(w, agent, `p${n}r${r}`, n);
    }
    const rs = report(`${n} pod(s): manifest -> all containers running`, run);
    report(`${n} pod(s): manifest -> Ready (readiness probe)`, rdy);
    ratio(`${n} pod(s) running vs docker run`, rs, floorStats);
    if (n === 100)
      console.log(
        `100 pods: first manifest -> last pod running:    ${(total / 1000).toFixed(2)} s  (goal < 15 s; ${(total / bulkMs).toFixed(2)}x the Docker-alone floor)`,
      );
    if (n === 1) console.log(`1 pod p99 to running: ${stats(run).p99.toFixed(0)} ms (goal < 1000 ms)`);
  }

  // Idle with 100 running pods and no probes: nothing changes, the agent only resyncs and relists.
  await startPods(w, agent, 100, 'idle', false);
  await sleep(5000);
  console.log(`agent RSS with 100 running pods (no probes):    ${rssMiB(pid).toFixed(1)} MiB  (goal < 150 MiB)`);
  const c2 = cpuSeconds(pid);
  await sleep(30_000);
  console.log(
    `idle agent CPU, 100 running pods, over 30 s:    ${(((cpuSeconds(pid) - c2) / 30) * 100).toFixed(2)} % of one core  (goal < 2 %)`,
  );
  await removeAll(w, agent, 'idle', 100);
}

main()
  .catch((e) => {
    console.error(e);
    process.exitCode = 1;
  })
  .finally(async () => {
    for (const fn of teardowns.reverse()) await fn();
  });
