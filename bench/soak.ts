// Churn and soak: one emulated node (scripts/cluster.sh: agent, proxy and CNI in a network
// namespace of its own, joined to the real control plane with controller-manager and scheduler)
// under steady churn for --duration (default 10 minutes): pods created and deleted at 2 per
// second by two Deployments scaled up and down through the apiserver, and Services and
// EndpointSlices changed at 20 per second. Prints the agent's and the proxy's RSS after the
// warm-up and at the end (growth; goal < 10 %), pod start latency (creation -> Ready, as an
// admin's watch sees it) over the run beside the floor of one pod on the idle node measured
// first, and, after the churn stops and everything is scaled to 0 and deleted, what the node
// still holds: containers, veths, IPAM addresses, pod cgroups and directories, mounts under the
// agent's root dir and KUBE-SVC/SEP chains, each named (all should be 0).
// A benchmark: prints, never fails on a number.
// Run: sudo npm run bench -- soak   (or: node dist/bench/soak.js --duration 60s [--warmup 20s])
import { loadavg } from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { cpuSeconds, printMachine, report, ratio, rssMiB, stats } from './harness.js';
import { newCluster } from '../test/harness/cluster.js';
import { IMAGES } from '../test/harness/docker.js';
import { sleep, until as waitFor } from '../test/harness/until.js';
import { CENSUS_KINDS, censusDiff, censusTotal, takeCensus, type Census, type SoakNode } from './lib/soak-census.js';
import { churnDeployment, clients, PodChurn, PodWatch, scale, ServiceChurn, type Clients } from './lib/soak-load.js';

const load = () =>
  `load average ${loadavg()
    .map((l) => l.toFixed(2))
    .join(' ')}`;
const log = (s: string) => console.log(`# ${new Date().toISOString().slice(11, 19)} ${s}`);

/** "600", "600s", "10m", "1h" -> milliseconds. */
export function parseDuration(flag: string, v: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v ?? '');
  if (!m) throw new Error(`${flag}: expected a duration like 600s, 10m or 1h; got ${JSON.stringify(v ?? '')}`);
  return Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

function parseArgs(argv: string[]): { durationMs: number; warmupMs?: number } {
  let durationMs = 10 * 60_000;
  let warmupMs: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.split('=', 2) as [string, string | undefined];
    const value = () => inline ?? argv[++i];
    if (flag === '--duration') durationMs = parseDuration(flag, value());
    else if (flag === '--warmup') warmupMs = parseDuration(flag, value());
    else throw new Error(`unknown argument ${argv[i]} (expected --duration D, --warmup D)`);
  }
  return { durationMs, warmupMs };
}

const pidOf = (n: SoakNode, c: 'agent' | 'proxy') =>
  Number(readFileSync(join(n.dir, 'run', `${c}.pid`), 'utf8').trim());

/** Wait for a condition; on timeout say so and go on (a bench reports what it saw, it does not fail). */
async function until(what: string, timeoutMs: number, fn: () => Promise<boolean>, everyMs = 500): Promise<boolean> {
  return waitFor(what, timeoutMs, fn, everyMs).then(
    () => true,
    (e: Error) => {
      log(e.message);
      return false;
    },
  );
}

/** A namespace of the run's own, with what pods need from the controller-manager. */
async function createNamespace(c: Clients, ns: string): Promise<void> {
  await c.core.createNamespace({ body: { metadata: { name: ns } } });
  await until(
    `serviceaccount ${ns}/default`,
    60_000,
    async () => !!(await c.core.readNamespacedServiceAccount({ name: 'default', namespace: ns })),
  );
}

/** Floor: one pod on the idle node, the floor Deployment scaled 0 -> 1 -> 0, `runs` times. */
async function floorLatency(c: Clients, w: PodWatch, ns: string, name: string, runs: number): Promise<number[]> {
  const from = Date.now();
  for (let i = 0; i < runs; i++) {
    const t0 = Date.now();
    await scale(c, ns, name, 1);
    await until('the floor pod Ready', 120_000, async () => w.latencies(t0, Date.now()).ms.length === 1, 100);
    await scale(c, ns, name, 0);
    await until(
      'the floor pod gone',
      120_000,
      async () => (await c.core.listNamespacedPod({ namespace: ns })).items.length === 0,
    );
  }
  return w.latencies(from, Date.now()).ms;
}

/** RSS of both programs every 5 s while `ms` passes. */
async function sampleRss(
  n: SoakNode,
  ms: number,
  into: { agent: number[]; proxy: number[]; load: number[] },
): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    into.agent.push(rssMiB(pidOf(n, 'agent')));
    into.proxy.push(rssMiB(pidOf(n, 'proxy')));
    into.load.push(loadavg()[0]!);
    await sleep(Math.min(5000, Math.max(0, end - Date.now())));
  }
}

function printRss(label: string, samples: number[], after: number): void {
  // Medians of the first and last six samples (30 s each): one sample can sit either side of a GC.
  const a = stats(samples.slice(0, 6)).median;
  const b = stats(samples.slice(-6)).median;
  const growth = ((b - a) / a) * 100;
  console.log(
    `${`${label} RSS (MiB)`.padEnd(44)} start ${a.toFixed(1)}  end ${b.toFixed(1)}  growth ${growth >= 0 ? '+' : ''}${growth.toFixed(1)} %  (goal < 10 %: ${growth < 10 ? 'met' : 'NOT met'})  after clean-up ${after.toFixed(1)}  max ${Math.max(...samples).toFixed(1)}`,
  );
}

function printLeaks(leaks: Census): void {
  for (const k of CENSUS_KINDS) {
    const names = leaks[k];
    console.log(
      `${`leaked ${k}`.padEnd(44)} ${String(names.length).padStart(4)}${names.length ? `  ${names.slice(0, 12).join(', ')}${names.length > 12 ? `, ... (${names.length - 12} more)` : ''}` : ''}`,
    );
  }
  console.log(
    `${'leaked in all (goal 0)'.padEnd(44)} ${String(censusTotal(leaks)).padStart(4)}: ${censusTotal(leaks) === 0 ? 'met' : 'NOT met'}`,
  );
}

async function main(): Promise<void> {
  const { durationMs, warmupMs = Math.min(60_000, durationMs / 4) } = parseArgs(process.argv.slice(2));
  printMachine(`soak: ${durationMs / 1000} s of pod churn (2/s) and Service churn (20/s) on one emulated node`);
  const teardowns: (() => unknown)[] = [];
  const t = { teardown: (fn: () => unknown) => void teardowns.unshift(fn) };
  try {
    const cluster = await newCluster(t);
    log(`bringing up cluster ${cluster.name} (1 node, no DNS add-on) ...  ${load()}`);
    await cluster.sh(['up', '--nodes', '1', '--no-dns'], { timeoutMs: 600_000 });
    const name = cluster.nodeName(1);
    const ns = cluster.name;
    const node: SoakNode = { cluster, index: 1, name, dir: join(cluster.dir, 'nodes', name), namespace: ns };
    const c = clients((await cluster.sh(['kubeconfig'])).stdout.trim());
    await createNamespace(c, ns);
    const watch = new PodWatch(c, ns);
    await watch.start();
    t.teardown(() => watch.stop());
    const [da, db, df] = ['a', 'b', 'floor'].map((s) => `${ns}-${s}`) as [string, string, string];
    for (const d of [da, db, df])
      await c.apps.createNamespacedDeployment({ namespace: ns, body: churnDeployment(ns, d, IMAGES.busybox) });

    const before = await takeCensus(node, []);
    log(`floor: one pod on the idle node, 5 times ...  ${load()}`);
    const floor = await floorLatency(c, watch, ns, df, 5);

    const pods = new PodChurn(c, ns, [da, db]);
    const services = new ServiceChurn(c, ns, ns, da);
    await services.prepare();
    log(`churn: warm-up ${warmupMs / 1000} s, then ${durationMs / 1000} s measured ...  ${load()}`);
    const churnStart = Date.now();
    const [created0, deleted0] = [watch.created, watch.deleted];
    pods.start();
    services.start(20);
    await sleep(warmupMs);
    const measuredFrom = Date.now();
    const rss = { agent: [] as number[], proxy: [] as number[], load: [] as number[] };
    const cpu0 = { agent: cpuSeconds(pidOf(node, 'agent')), proxy: cpuSeconds(pidOf(node, 'proxy')) };
    await sampleRss(node, durationMs, rss);
    const measuredTo = Date.now();
    const cpuPercent = (c: 'agent' | 'proxy') =>
      (((cpuSeconds(pidOf(node, c)) - cpu0[c]) / ((measuredTo - measuredFrom) / 1000)) * 100).toFixed(1);
    const cpu = `agent ${cpuPercent('agent')} %, proxy ${cpuPercent('proxy')} % of one core`;
    const [svcDone, created, deleted] = [services.done, watch.created - created0, watch.deleted - deleted0];
    // What the node holds at the end of the churn: shows the census sees what it counts.
    const during = await takeCensus(node, watch.pods.keys());
    log(`churn ends; scaling to 0 and deleting everything ...  ${load()}`);
    await Promise.all([pods.stop(), services.stopAndDelete()]);
    const churnSeconds = (measuredTo - churnStart) / 1000;
    await until(
      'no pods in the API and no containers on the node',
      300_000,
      async () =>
        (await c.core.listNamespacedPod({ namespace: ns })).items.length === 0 &&
        (await takeCensus(node, [])).containers.length === 0,
      1000,
    );
    for (const d of [da, db, df]) await c.apps.deleteNamespacedDeployment({ name: d, namespace: ns });
    // Let the proxy sync the deletions and the agent finish its housekeeping; stop early once
    // nothing of the run is left.
    await until(
      'the node to hold nothing of the run',
      60_000,
      async () => censusTotal(censusDiff(before, await takeCensus(node, watch.pods.keys()))) === 0,
      2000,
    );
    const leaks = censusDiff(before, await takeCensus(node, watch.pods.keys()));
    const cleanupSeconds = (Date.now() - measuredTo) / 1000;
    const after = { agent: rssMiB(pidOf(node, 'agent')), proxy: rssMiB(pidOf(node, 'proxy')) };

    console.log();
    console.log(
      `pods created ${created} and deleted ${deleted} over ${churnSeconds.toFixed(0)} s of churn: ${(created / churnSeconds).toFixed(2)} / ${(deleted / churnSeconds).toFixed(2)} per second (goal 2); scale errors ${pods.errors}`,
    );
    console.log(`CPU over the measured ${((measuredTo - measuredFrom) / 1000).toFixed(0)} s: ${cpu}`);
    console.log(`the node at the end of the churn: ${CENSUS_KINDS.map((k) => `${during[k].length} ${k}`).join(', ')}`);
    console.log(
      `Service/EndpointSlice changes ${svcDone} (${(svcDone / churnSeconds).toFixed(1)} per second, goal 20), errors ${services.errors}, skipped (16 in flight) ${services.skipped}${services.lastError ? `; last error: ${services.lastError}` : ''}`,
    );
    const floorStats = report('floor: 1 pod, idle node, creation -> Ready', floor);
    const lat = watch.latencies(measuredFrom, measuredTo);
    if (lat.ms.length)
      ratio('churn: pod creation -> Ready', report('churn: pod creation -> Ready (admin watch)', lat.ms), floorStats);
    if (lat.seconds.length) report('churn: creationTimestamp -> Ready condition', lat.seconds, 's');
    console.log(`pods created in the measured window and never Ready (deleted first): ${lat.notReady}`);
    printRss('agent', rss.agent, after.agent);
    printRss('proxy', rss.proxy, after.proxy);
    console.log(`clean-up: churn end -> last count of what is left: ${cleanupSeconds.toFixed(0)} s`);
    printLeaks(leaks);
    console.log(
      `load average over the run (1-minute, sampled every 5 s): median ${stats(rss.load).median.toFixed(2)}, max ${Math.max(...rss.load).toFixed(2)}; now ${load()}`,
    );
  } finally {
    for (const fn of teardowns) await fn();
  }
}

main().catch((e) => {
  console.error(`soak: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
