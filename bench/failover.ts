// Failover benchmark: scenarios (a) kill a backend's container and (b) fail a backend's
// readiness probe, on a 3-node emulated cluster of its own with the demo app (probes every 1 s,
// failureThreshold 1), at 20 requests per second through node 1's NodePort. Five runs each;
// prints the median and p99 of failed requests and of the failover window.
//   window (a): first failed request's start to last failed request's end (0 when none failed)
//   window (b): from the probe starting to fail (rm /www/ready) to the last answer from that
//               pod, i.e. how long traffic still reached a backend failing its probe
// The floor is the same loop against a healthy Service: failures and window with nothing broken.
// Goals (issue 9): window under 2 s for (a) and (b).
//
// With --existing it instead runs the scenarios once each against the cluster already up (what
// scripts/failover.sh does): `node dist/bench/failover.js --existing --scenarios a,b,c,d`.
import { printMachine, report, stats } from './harness.js';
import { DEMO_NODE_PORT, deployDemo, existingCluster, newCluster, type EmulatedCluster } from '../test/harness/cluster.js';
import { healAfterPartition, runScenario, SCENARIO_TITLES, type ScenarioName, type ScenarioResult } from '../test/harness/failover.js';
import { formatPods, RequestLoop, summarize } from '../test/harness/traffic.js';

const RUNS = 5;
const RATE = 20;

function parseArgs(argv: string[]): { existing: boolean; scenarios: ScenarioName[]; runs: number } {
  let existing = false;
  let scenarios: ScenarioName[] = ['a', 'b'];
  let runs = RUNS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--existing') existing = true;
    else if (a === '--scenarios') {
      const list = (argv[++i] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
      const bad = list.filter((s) => !['a', 'b', 'c', 'd'].includes(s));
      if (bad.length || !list.length) throw new Error(`--scenarios: expected a comma-separated list of a, b, c, d; got ${JSON.stringify(argv[i] ?? '')}`);
      scenarios = list as ScenarioName[];
    } else if (a === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
    } else throw new Error(`unknown argument ${a} (expected --existing, --scenarios a,b,c,d, --runs N)`);
  }
  return { existing, scenarios, runs };
}

function printResult(r: ScenarioResult): void {
  const s = r.summary;
  console.log(`\n(${r.scenario}) ${r.title}: ${r.target}`);
  console.log(`    requests: ${s.requests} at ${RATE}/s, failed: ${s.failed}${s.failed ? `, for ${s.windowSeconds.toFixed(2)} s` : ''}`);
  if (Object.keys(s.errors).length) console.log(`    errors: ${Object.entries(s.errors).map(([e, n]) => `${n} x ${e}`).join('; ')}`);
  if (r.scenario === 'b') console.log(`    the failing pod still answered until ${(r.facts.lastAnswerWhileFailingSeconds as number).toFixed(2)} s after its probe began failing`);
  for (const [k, v] of Object.entries(r.facts)) if (/Seconds$/.test(k) && k !== 'lastAnswerWhileFailingSeconds') console.log(`    ${k.replace(/Seconds$/, '').replace(/([A-Z])/g, ' $1').toLowerCase()}: ${(v as number).toFixed(1)} s`);
  console.log(`    answered before: ${formatPods(s.podsBefore)}`);
  console.log(`    answered after:  ${formatPods(s.podsAfter)}`);
}

async function runExisting(scenarios: ScenarioName[]): Promise<void> {
  const c = await existingCluster();
  const nodePort = Number((await c.kubectl(['get', 'service', 'demo', '-o', 'jsonpath={.spec.ports[0].nodePort}'], { allowFailure: true })).stdout.trim());
  const replicas = Number((await c.kubectl(['get', 'deployment', 'demo', '-o', 'jsonpath={.spec.replicas}'], { allowFailure: true })).stdout.trim());
  if (!nodePort || !replicas) throw new Error("the demo app is not deployed in this cluster: run 'sudo npm start' first");
  console.log(`# failover against cluster ${c.name}: demo (${replicas} replicas), ${RATE} requests/s to http://${c.nodeIP(1)}:${nodePort}/`);
  for (const sc of scenarios) {
    console.log(`\n== (${sc}) ${SCENARIO_TITLES[sc]}`);
    const r = await runScenario(c, sc, { nodePort, replicas, ratePerSecond: RATE, log: (l) => console.log(`    ${l}`) });
    printResult(r);
    if (sc === 'd') {
      console.log(`    healing ${r.facts.partitionedNode} ...`);
      await healAfterPartition(c, r.facts.partitionedNode as string, replicas);
      console.log(`    ${r.facts.partitionedNode} is back and the demo whole again`);
    }
  }
}

async function runBench(scenarios: ScenarioName[], runs: number): Promise<void> {
  printMachine('failover: failed requests and failover window, 3 emulated nodes, demo app, 20 req/s');
  const teardowns: (() => unknown)[] = [];
  const t = { teardown: (fn: () => unknown) => teardowns.unshift(fn) };
  let c: EmulatedCluster | undefined;
  try {
    c = await newCluster(t);
    process.stdout.write(`# bringing up cluster ${c.name} (${c.subnet}) ...\n`);
    await c.sh(['up', '--nodes', '3'], { timeoutMs: 600_000 });
    await deployDemo(c);

    // Floor: the same loop for 6 s with nothing broken.
    const loop = new RequestLoop(`http://${c.nodeIP(1)}:${DEMO_NODE_PORT}/`, RATE, 1000);
    loop.start();
    await new Promise((r) => setTimeout(r, 6000));
    const floor = summarize(await loop.stop(), 0, 0);
    console.log(`floor (nothing broken): ${floor.failed} of ${floor.requests} failed, window ${floor.windowSeconds.toFixed(2)} s`);

    for (const sc of scenarios) {
      const failed: number[] = [];
      const windows: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await runScenario(c, sc, { nodePort: DEMO_NODE_PORT, replicas: 3, ratePerSecond: RATE, targetIndex: i });
        failed.push(r.summary.failed);
        windows.push(sc === 'b' ? (r.facts.lastAnswerWhileFailingSeconds as number) : r.summary.windowSeconds);
        console.log(`  (${sc}) run ${i + 1}: ${r.summary.failed} failed of ${r.summary.requests}, window ${windows[i]!.toFixed(2)} s`);
        if (sc === 'd') await healAfterPartition(c, r.facts.partitionedNode as string, 3);
      }
      report(`(${sc}) ${SCENARIO_TITLES[sc]}: failed requests`, failed, 'req');
      const w = report(`(${sc}) ${SCENARIO_TITLES[sc]}: failover window`, windows, 's');
      if (sc === 'a' || sc === 'b') console.log(`${`(${sc}) window goal < 2 s`.padEnd(44)} median ${w.median.toFixed(2)} s: ${w.median < 2 ? 'met' : 'NOT met'}`);
      if (sc === 'c') console.log(`${'(c) goal: zero failed requests'.padEnd(44)} median ${stats(failed).median}: ${stats(failed).max === 0 ? 'met' : 'NOT met'}`);
    }
  } finally {
    for (const fn of teardowns) await fn();
  }
}

const args = (() => {
  try { return parseArgs(process.argv.slice(2)); } catch (e) { console.error(`failover: ${(e as Error).message}`); process.exit(2); }
})();
try {
  if (args.existing) await runExisting(args.scenarios);
  else await runBench(args.scenarios, args.runs);
} catch (e) {
  console.error(`failover: ${(e as Error).message}`);
  process.exit(1);
}
