// Requests per second and latency through a ClusterIP in each proxy mode, beside a direct
// connection to the pod (the floor), so that "userspace mode is slower" becomes a number
// measured in one run. All in network namespaces this bench creates (test/fixtures/proxy/world.ts: a
// node with a bridge, pods on it); the load comes from wrk (Debian) in a client pod, the pod
// behind the Service is a keep-alive HTTP server (node:http). Two scenarios: keep-alive
// connections (what a proxy costs per request) and a new connection per request (what it
// costs per connection: userspace mode accepts and connects once more for each).
//   bash scripts/bench.sh proxy-modes     (as root)
//   node dist/bench/proxy-modes.js [--modes userspace,iptables,nftables] [--duration 5s]
//       [--connections 16] [--runs 3] [--svg /tmp/kubenode-proxy-modes.svg]
// Modes the proxy does not know (flags.ts refuses them) are skipped, and the bench says so.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { run } from '../lib/exec.js';
import { FlagError, parseDuration, parseFlags } from '../proxy/flags.js';
import { requireProgram } from '../test/harness/require.js';
import {
  createWorld,
  endpointSlice,
  PROXY_BIN,
  service,
  startProxy,
  type World,
} from '../test/fixtures/proxy/world.js';
import { printMachine, stats } from './harness.js';

interface Options {
  modes: string[];
  durationS: number;
  connections: number;
  runs: number;
  svg: string;
}

function options(argv: readonly string[]): Options {
  const get = (name: string, dflt: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1]! : dflt;
  };
  return {
    modes: get('modes', 'userspace,iptables,nftables')
      .split(',')
      .map((m) => m.trim())
      .filter(Boolean),
    durationS: parseDuration('duration', get('duration', '5s')) / 1000,
    connections: Number(get('connections', '16')),
    runs: Number(get('runs', '3')),
    svg: get('svg', join(tmpdir(), 'kubenode-proxy-modes.svg')),
  };
}

/** Whether this kubenode-proxy has the mode (its flag parser is the judge). */
function knownMode(mode: string): boolean {
  try {
    parseFlags(['--proxy-mode', mode, '--services-dir', '/nonexistent']);
    return true;
  } catch (e) {
    if (e instanceof FlagError) return false;
    throw e;
  }
}

interface WrkResult {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

/** wrk --latency output: Requests/sec and the 50% and 99% lines, in milliseconds (pure). */
function parseWrk(out: string): WrkResult {
  const ms = (v: string, unit: string) =>
    Number(v) * ({ us: 1e-3, ms: 1, s: 1000, m: 60_000 } as Record<string, number>)[unit]!;
  const pct = (p: string) => {
    const m = new RegExp(`^\\s*${p}%\\s+([\\d.]+)(us|ms|s|m)\\s*$`, 'm').exec(out);
    if (!m) throw new Error(`wrk output has no ${p}% latency line:\n${out}`);
    return ms(m[1]!, m[2]!);
  };
  const rps = /Requests\/sec:\s+([\d.]+)/.exec(out);
  if (!rps) throw new Error(`wrk output has no Requests/sec:\n${out}`);
  const errs = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
  const non2xx = /Non-2xx or 3xx responses: (\d+)/.exec(out);
  const errors = (errs ? errs.slice(1).reduce((a, b) => a + Number(b), 0) : 0) + (non2xx ? Number(non2xx[1]) : 0);
  return { rps: Number(rps[1]), p50: pct('50'), p99: pct('99'), errors };
}

/** Keep-alive connections (bytes copied per request), or a new connection per request (accept + connect per request). */
const SCENARIOS = [
  { name: 'keep-alive', wrkArgs: [] as string[] },
  { name: 'new connection per request', wrkArgs: ['-H', 'Connection: close'] },
];
type Scenario = (typeof SCENARIOS)[number];

async function wrk(world: World, from: string, url: string, o: Options, sc: Scenario): Promise<WrkResult> {
  const out = await world.exec(
    from,
    'wrk',
    ['-t', '1', '-c', String(o.connections), '-d', `${o.durationS}s`, '--latency', ...sc.wrkArgs, url],
    (o.durationS + 30) * 1000,
  );
  return parseWrk(out);
}

/** A keep-alive HTTP server in a pod (node:http, one small body). */
async function startServer(world: World, pod: string): Promise<ChildProcess> {
  const script = "require('http').createServer((q,s)=>s.end('ok\\n')).listen(8080,'0.0.0.0',()=>console.log('ready'))";
  const child = spawn('ip', ['netns', 'exec', world.pod(pod).netns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) => l === 'ready' && resolve());
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return child;
}

/** Several wrk runs of one path and scenario, summarised by their medians. */
function summarise(label: string, sc: Scenario, rs: readonly WrkResult[], floor?: ModeResult): ModeResult {
  console.error(`# ${label}, ${sc.name}: ${rs.map((x) => Math.round(x.rps)).join(', ')} req/s`);
  const median = (f: (x: WrkResult) => number) => stats(rs.map(f)).median;
  return {
    label,
    scenario: sc.name,
    floor,
    rps: median((x) => x.rps),
    p50: median((x) => x.p50),
    p99: median((x) => x.p99),
    errors: rs.reduce((a, x) => a + x.errors, 0),
  };
}

async function main(): Promise<void> {
  const o = options(process.argv.slice(2));
  requireProgram('wrk');
  printMachine(
    `kubenode-proxy modes: HTTP through a ClusterIP, wrk -t1 -c${o.connections} ${o.durationS}s x ${o.runs} runs (medians)`,
  );
  console.log(
    `# load average before: ${loadavg()
      .map((l) => l.toFixed(2))
      .join(' ')}`,
  );
  const teardowns: Array<() => unknown> = [];
  const t = { teardown: (fn: () => unknown) => teardowns.push(fn) };
  try {
    const world = await createWorld(t, ['srv', 'cli']);
    const server = await startServer(world, 'srv');
    teardowns.push(() => server.kill('SIGKILL'));
    const dir = mkdtempSync(join(tmpdir(), 'kubenode-bench-modes-'));
    teardowns.push(() => run('rm', ['-rf', dir]));
    writeFileSync(join(dir, '.keep'), '');

    // The floor is measured right before each mode's run, so that both see the same load on
    // this shared machine; its median over the whole bench is the floor.
    const cli = world.pod('cli').netns;
    const floorUrl = `http://${world.pod('srv').ip}:8080/`;
    const floorSamples = new Map<Scenario, WrkResult[]>(SCENARIOS.map((sc) => [sc, []]));
    const modeSamples: Array<{ mode: string; sc: Scenario; rs: WrkResult[] }> = [];
    const known = o.modes.filter(
      (m) => knownMode(m) || void console.log(`# ${m}: skipped, this kubenode-proxy has no --proxy-mode ${m}`),
    );
    for (const mode of known) {
      const proxy = await startProxy(t, world, ['--proxy-mode', mode], dir);
      const synced = proxy.nextSync();
      proxy.write('web.yaml', [
        service({ name: 'web', clusterIP: '10.96.0.10' }),
        endpointSlice('web', [{ ip: world.pod('srv').ip }]),
      ]);
      await synced;
      for (const sc of SCENARIOS) {
        const rs: WrkResult[] = [];
        for (let i = 0; i < o.runs; i++) {
          floorSamples.get(sc)!.push(await wrk(world, cli, floorUrl, o, sc));
          rs.push(await wrk(world, cli, 'http://10.96.0.10:80/', o, sc));
        }
        modeSamples.push({ mode, sc, rs });
      }
      proxy.remove('web.yaml');
      await proxy.stop();
      await run('ip', ['netns', 'exec', world.node, process.execPath, PROXY_BIN, '--cleanup', '--proxy-mode', mode], {
        timeoutMs: 60_000,
      });
    }
    if (known.length === 0)
      for (const sc of SCENARIOS)
        for (let i = 0; i < o.runs; i++) floorSamples.get(sc)!.push(await wrk(world, cli, floorUrl, o, sc));
    const floors = new Map(
      SCENARIOS.map((sc) => [sc, summarise('direct to the pod (floor)', sc, floorSamples.get(sc)!)]),
    );
    const results = [
      ...floors.values(),
      ...modeSamples.map((m) => summarise(`${m.mode} mode, ClusterIP`, m.sc, m.rs, floors.get(m.sc))),
    ];
    for (const sc of SCENARIOS)
      printTable(
        sc.name,
        results.filter((r) => r.scenario === sc.name),
      );
    writeFileSync(
      o.svg,
      renderChart(results, `kubenode-proxy: HTTP through a ClusterIP (wrk -c${o.connections}, medians of ${o.runs})`),
    );
    console.log(`# chart: ${o.svg}`);
    console.log(
      `# load average after: ${loadavg()
        .map((l) => l.toFixed(2))
        .join(' ')}`,
    );
  } finally {
    for (const fn of teardowns.reverse()) await fn();
  }
}

function printTable(scenario: string, results: readonly ModeResult[]): void {
  const floor = results[0]!;
  console.log('');
  console.log(`## ${scenario}`);
  console.log(
    `${'path'.padEnd(32)} ${'req/s'.padStart(9)} ${'p50 ms'.padStart(8)} ${'p99 ms'.padStart(8)}   ${'req/s vs floor'.padStart(14)} ${'p50 vs floor'.padStart(12)} ${'p99 vs floor'.padStart(12)}  errors`,
  );
  for (const r of results) {
    console.log(
      `${r.label.padEnd(32)} ${r.rps.toFixed(0).padStart(9)} ${r.p50.toFixed(2).padStart(8)} ${r.p99.toFixed(2).padStart(8)}   ${`${(r.rps / floor.rps).toFixed(2)}x`.padStart(14)} ${`${(r.p50 / floor.p50).toFixed(2)}x`.padStart(12)} ${`${(r.p99 / floor.p99).toFixed(2)}x`.padStart(12)}  ${r.errors}`,
    );
  }
}

// The bar chart as a small hand-written SVG (pure): one row per path, a bar for requests per
// second, p50/p99 latency written beside it.

interface ModeResult {
  label: string;
  scenario: string;
  /** The same scenario's direct-to-pod result (undefined: this is the floor). */
  floor?: ModeResult;
  rps: number;
  /** Milliseconds. */
  p50: number;
  p99: number;
  errors: number;
}

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

function renderChart(results: readonly ModeResult[], title: string): string {
  const rowH = 34;
  const left = 200;
  const barMax = 300;
  const width = left + barMax + 330;
  const top = 44;
  const height = top + rowH * results.length + 30;
  const max = Math.max(...results.map((r) => r.rps), 1);
  // Grouped by scenario, each group's floor first.
  const sorted = [...results].sort(
    (a, b) => a.scenario.localeCompare(b.scenario) || (a.floor ? 1 : 0) - (b.floor ? 1 : 0),
  );
  const rows = sorted.map((r, i) => {
    const floor = (r.floor ?? r).rps;
    const y = top + i * rowH;
    const w = Math.max(1, Math.round((r.rps / max) * barMax));
    const fill = r.floor ? '#3070b0' : '#888888';
    return [
      `<text x="${left - 8}" y="${y + 12}" text-anchor="end">${esc(r.label)}</text>`,
      `<text x="${left - 8}" y="${y + 25}" text-anchor="end" fill="#555555" font-size="10">${esc(r.scenario)}</text>`,
      `<rect x="${left}" y="${y + 4}" width="${w}" height="${rowH - 10}" fill="${fill}"/>`,
      `<text x="${left + w + 6}" y="${y + 18}">${Math.round(r.rps)} req/s (${(r.rps / floor).toFixed(2)}x)  p50 ${r.p50.toFixed(2)} ms  p99 ${r.p99.toFixed(2)} ms</text>`,
    ].join('\n  ');
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">
  <rect width="100%" height="100%" fill="#ffffff"/>
  <text x="${width / 2}" y="22" text-anchor="middle" font-size="14" font-weight="bold">${esc(title)}</text>
  ${rows.join('\n  ')}
  <line x1="${left}" y1="${top}" x2="${left}" y2="${top + rowH * results.length}" stroke="#000000"/>
  <text x="${left}" y="${height - 8}" fill="#555555">requests per second, longer is better; grey: direct to the pod (the floor)</text>
</svg>
`;
}

await main();
