// Failover benchmark: scenarios (a) kill a backend's container and (b) fail a backend's
// readiness probe, on a 3-node emulated cluster of its own with the demo app (probes every 1 s,
// failureThreshold 1), at 20 requests per second through node 1's NodePort. Five runs each;
// prints the median and p99 of failed requests and of the failover window.
//   window (a): first failed request's start to last failed request's end (0 when none failed)
//   window (b): from the probe starting to fail (rm /www/ready) to the last answer from that
//               pod, i.e. how long traffic still reached a backend failing its probe
// The floor is the same loop against a healthy Service: failures and window with nothing broken.
// Goals: window under 2 s for (a) and (b).
//
// With --existing it instead runs the scenarios once each against the cluster already up (what
// scripts/failover.sh does): `node dist/bench/failover.js --existing --scenarios a,b,c,d`.
// --html FILE also records what the cluster reports meanwhile (Pod, EndpointSlice and Event
// watches, the proxies' sync log lines) and writes the failover page there (for the bench: the
// first run of each scenario); --proxy-mode only labels the page.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { printMachine, report, stats } from './harness.js';
import {
  DEMO_NODE_PORT,
  deployDemo,
  existingCluster,
  newCluster,
  type EmulatedCluster,
} from '../test/harness/cluster.js';
import {
  healAfterPartition,
  runScenario,
  SCENARIO_TITLES,
  type ScenarioName,
  type ScenarioResult,
} from '../test/harness/failover.js';
import { formatPods, RequestLoop, summarize } from '../test/harness/traffic.js';
import { recorded } from '../test/harness/failover-record.js';
import { renderFailoverPage, type ScenarioRecord } from '../test/harness/failover-page.js';
import { errorMessage } from '../lib/errors.js';

const RUNS = 5;
const RATE = 20;

interface Args {
  existing: boolean;
  scenarios: ScenarioName[];
  runs: number;
  html?: string;
  proxyMode: string;
}

function parseArgs(argv: string[]): Args {
  let existing = false;
  let html: string | undefined;
  let proxyMode = 'iptables';
  let scenarios: ScenarioName[] = ['a', 'b'];
  let runs = RUNS;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--existing') existing = true;
    else if (a === '--scenarios') {
      const list = (argv[++i] ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = list.filter((s) => !['a', 'b', 'c', 'd'].includes(s));
      if (bad.length || !list.length)
        throw new Error(
          `--scenarios: expected a comma-separated list of a, b, c, d; got ${JSON.stringify(argv[i] ?? '')}`,
        );
      scenarios = list as ScenarioName[];
    } else if (a === '--runs') {
      runs = Number(argv[++i]);
      if (!Number.isInteger(runs) || runs < 1) throw new Error('--runs must be a positive integer');
    } else if (a === '--html' || a === '--proxy-mode') {
      const v = argv[++i];
      if (!v) throw new Error(`${a} needs a value`);
      if (a === '--html') html = v;
      else proxyMode = v;
    } else
      throw new Error(
        `unknown argument ${a} (expected --existing, --scenarios a,b,c,d, --runs N, --html FILE, --proxy-mode MODE)`,
      );
  }
  return { existing, scenarios, runs, html, proxyMode };
}

function printResult(r: ScenarioResult): void {
  const s = r.summary;
  console.log(`\n(${r.scenario}) ${r.title}: ${r.target}`);
  console.log(
    `    requests: ${s.requests} at ${RATE}/s, failed: ${s.failed}${s.failed ? `, for ${s.windowSeconds.toFixed(2)} s` : ''}`,
  );
  if (Object.keys(s.errors).length)
    console.log(
      `    errors: ${Object.entries(s.errors)
        .map(([e, n]) => `${n} x ${e}`)
        .join('; ')}`,
    );
  if (r.scenario === 'b')
    console.log(
      `    the failing pod still answered until ${(r.facts.lastAnswerWhileFailingSeconds as number).toFixed(2)} s after its probe began failing`,
    );
  for (const [k, v] of Object.entries(r.facts))
    if (/Seconds$/.test(k) && k !== 'lastAnswerWhileFailingSeconds')
      console.log(
        `    ${k
          .replace(/Seconds$/, '')
          .replace(/([A-Z])/g, ' $1')
          .toLowerCase()}: ${(v as number).toFixed(1)} s`,
      );
  console.log(`    answered before: ${formatPods(s.podsBefore)}`);
  console.log(`    answered after:  ${formatPods(s.podsAfter)}`);
}

function writePage(file: string, cluster: string, proxyMode: string, scenarios: ScenarioRecord[]): void {
  mkdirSync(dirname(file), { recursive: true });
  writeFileSync(
    file,
    renderFailoverPage({ cluster, proxyMode, ratePerSecond: RATE, generatedAt: new Date().toISOString(), scenarios }),
  );
  console.log(`\nfailover page (${scenarios.length} scenario${scenarios.length === 1 ? '' : 's'}): ${file}`);
}

async function runExisting({ scenarios, html, proxyMode }: Args): Promise<void> {
  const records: ScenarioRecord[] | undefined = html ? [] : undefined;
  const c = await existingCluster();
  const nodePort = Number(
    (
      await c.kubectl(['get', 'service', 'demo', '-o', 'jsonpath={.spec.ports[0].nodePort}'], { allowFailure: true })
    ).stdout.trim(),
  );
  const replicas = Number(
    (
      await c.kubectl(['get', 'deployment', 'demo', '-o', 'jsonpath={.spec.replicas}'], { allowFailure: true })
    ).stdout.trim(),
  );
  if (!nodePort || !replicas)
    throw new Error("the demo app is not deployed in this cluster: run 'sudo npm start' first");
  console.log(
    `# failover against cluster ${c.name}: demo (${replicas} replicas), ${RATE} requests/s to http://${c.nodeIP(1)}:${nodePort}/`,
  );
  for (const sc of scenarios) {
    console.log(`\n== (${sc}) ${SCENARIO_TITLES[sc]}`);
    const r = await recorded(c, records, () =>
      runScenario(c, sc, { nodePort, replicas, ratePerSecond: RATE, log: (l) => console.log(`    ${l}`) }),
    );
    printResult(r);
    if (sc === 'd') {
      console.log(`    healing ${r.facts.partitionedNode} ...`);
      await healAfterPartition(c, r.facts.partitionedNode as string, replicas);
      console.log(`    ${r.facts.partitionedNode} is back and the demo whole again`);
    }
  }
  if (html) writePage(html, c.name, proxyMode, records!);
}

async function runBench({ scenarios, runs, html }: Args): Promise<void> {
  const records: ScenarioRecord[] | undefined = html ? [] : undefined;
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
    console.log(
      `floor (nothing broken): ${floor.failed} of ${floor.requests} failed, window ${floor.windowSeconds.toFixed(2)} s`,
    );

    for (const sc of scenarios) {
      const failed: number[] = [];
      const windows: number[] = [];
      for (let i = 0; i < runs; i++) {
        const r = await recorded(c, i === 0 ? records : undefined, () =>
          runScenario(c!, sc, { nodePort: DEMO_NODE_PORT, replicas: 3, ratePerSecond: RATE, targetIndex: i }),
        );
        failed.push(r.summary.failed);
        windows.push(sc === 'b' ? (r.facts.lastAnswerWhileFailingSeconds as number) : r.summary.windowSeconds);
        console.log(
          `  (${sc}) run ${i + 1}: ${r.summary.failed} failed of ${r.summary.requests}, window ${windows[i]!.toFixed(2)} s`,
        );
        if (sc === 'd') await healAfterPartition(c, r.facts.partitionedNode as string, 3);
      }
      report(`(${sc}) ${SCENARIO_TITLES[sc]}: failed requests`, failed, 'req');
      const w = report(`(${sc}) ${SCENARIO_TITLES[sc]}: failover window`, windows, 's');
      if (sc === 'a' || sc === 'b')
        console.log(
          `${`(${sc}) window goal < 2 s`.padEnd(44)} median ${w.median.toFixed(2)} s: ${w.median < 2 ? 'met' : 'NOT met'}`,
        );
      if (sc === 'c')
        console.log(
          `${'(c) goal: zero failed requests'.padEnd(44)} median ${stats(failed).median}: ${stats(failed).max === 0 ? 'met' : 'NOT met'}`,
        );
    }
    if (html) writePage(html, c.name, 'iptables', records!);
  } finally {
    for (const fn of teardowns) await fn();
  }
}

const args = (() => {
  try {
    return parseArgs(process.argv.slice(2));
  } catch (e) {
    console.error(`failover: ${errorMessage(e)}`);
    process.exit(2);
  }
})();
try {
  if (args.existing) await runExisting(args);
  else await runBench(args);
} catch (e) {
  console.error(`failover: ${errorMessage(e)}`);
  process.exit(1);
}
