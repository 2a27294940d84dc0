// kubenode-proxy sync benchmark, run inside a network namespace of its own:
//   1. full sync of 1,000 and 10,000 Services x 5 endpoints, beside the floor: iptables-restore
//      alone loading the very same restore inputs the proxy produced, in the same state;
//      also beside one single iptables-restore of the same rules (what a one-process loader pays);
//   2. one endpoint change with 10,000 Services present, to rules in place (partial sync),
//      beside iptables-restore alone applying the same partial inputs;
//   3. RSS of a real kubenode-proxy process holding 10,000 Services (from --services-dir).
// Usage: bash scripts/bench.sh proxy-sync   (as root)
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import { parseIPv4Network } from '../lib/ip.js';
import { createLogger } from '../lib/log.js';
import { IptablesBackend } from '../proxy/iptables/backend.js';
import { IptablesProxier } from '../proxy/iptables/proxier.js';
import { ChangeTracker } from '../proxy/tracker/change-tracker.js';
import { jsonLogWaiter, printMachine, ratio, report, rssMiB, runInnerInNetns, stats } from './harness.js';
import { benchService as serviceObj, benchSlice as sliceObj, ENDPOINTS } from './lib/proxy-objects.js';

const ROOT = resolve(import.meta.dirname, '../..');
const quiet = createLogger('bench', { level: 'error' });

/** Merge the nat transactions of a restore input into one (declarations first). */
function singleTransaction(input: string): string {
  const decl: string[] = [];
  const rules: string[] = [];
  const deletes: string[] = [];
  let filter = '';
  let table = '';
  for (const line of input.split('\n')) {
    if (line.startsWith('*')) table = line;
    if (table === '*filter') {
      filter += line + '\n';
      if (line === 'COMMIT') table = '';
    } else if (line.startsWith(':')) decl.push(line);
    else if (line.startsWith('-X')) deletes.push(line);
    else if (line.startsWith('-')) rules.push(line);
  }
  return `${filter}*nat\n${[...new Set(decl)].join('\n')}\n${rules.join('\n')}\n${deletes.length ? deletes.join('\n') + '\n' : ''}COMMIT\n`;
}

/** Time iptables-restore alone over the given inputs, in order. */
async function restoreAlone(backend: IptablesBackend, inputs: readonly string[]): Promise<number> {
  const t0 = performance.now();
  for (const input of inputs) await backend.restore(input);
  return performance.now() - t0;
}

/**
 * One endpoint goes away and comes back, `runs` times: time from the event reaching the change
 * tracker to the rules being in place, beside iptables-restore alone applying the same inputs.
 */
async function partialSyncs(
  label: string,
  runs: number,
  tracker: ChangeTracker,
  proxier: IptablesProxier,
  real: IptablesBackend,
  take: () => string[],
): Promise<void> {
  const partial: number[] = [];
  const inputs: string[] = [];
  for (let i = 0; i < runs; i++) {
    take();
    const t0 = performance.now();
    tracker.updateEndpointSlice(sliceObj(321, i % 2 === 0 ? ENDPOINTS - 1 : ENDPOINTS));
    const r = await proxier.sync(tracker.takeState());
    partial.push(performance.now() - t0);
    if (r.full) throw new Error('expected a partial sync');
    inputs.push(...take());
  }
  const p = report(`endpoint change -> rules in place (${label})`, partial);
  const pf: number[] = [];
  for (const input of inputs) pf.push(await restoreAlone(real, [input]));
  ratio(`endpoint change (${label}) / floor`, p, report('floor: iptables-restore alone, same inputs', pf), undefined);
  console.log(
    `# the partial input is ${inputs[0]!.split('\n').length - 1} lines (one Service chain rewritten, one endpoint chain deleted or added)`,
  );
}

async function inner(): Promise<void> {
  const real = await IptablesBackend.open('auto');
  console.log(
    `# iptables backend: ${real.kind} (${spawnSync(real.programs.iptables, ['--version'], { encoding: 'utf8' }).stdout.trim()})`,
  );
  // Record what the proxier hands to iptables-restore, to replay it alone as the floor.
  let recorded: string[] = [];
  const backend = Object.create(real) as IptablesBackend;
  console.log(
    '# goals: full sync within 1.2x of the floor; one endpoint change in place under 50 ms at 10,000 Services; RSS under 200 MiB',
  );
  backend.restore = async (input: string) => {
    recorded.push(input);
    await real.restore(input);
  };
  backend.restoreStream = async (pieces: Iterable<string>) => {
    const all = [...pieces];
    recorded.push(all.join(''));
    await real.restoreStream(all);
  };
  const proxier = new IptablesProxier({
    backend,
    log: quiet,
    nodeName: 'bench-node',
    clusterCIDR: parseIPv4Network('10.244.0.0/16')!,
    nodePortCIDRs: [],
    conntrack: false,
  });
  const tracker = new ChangeTracker(quiet);
  let have = 0;

  for (const [n, runs] of [
    [1000, 5],
    [10000, 2],
  ] as const) {
    for (; have < n; have++) {
      tracker.updateService(serviceObj(have));
      tracker.updateEndpointSlice(sliceObj(have));
    }
    const state = tracker.takeState();
    recorded = [];
    const cold = await proxier.sync(state, { full: true });
    const commits = (recorded[0]!.match(/^COMMIT$/gm) ?? []).length;
    console.log(
      `\n## ${n} Services x ${ENDPOINTS} endpoints: ${cold.rules.nat} nat + ${cold.rules.filter} filter rules; a full sync is ${cold.restores} iptables-restore of ${commits} transactions`,
    );
    report(`first full sync (${n}, chains created)`, [cold.durationMs]);
    const sync: number[] = [];
    const floor: number[] = [];
    for (let i = 0; i < runs; i++) {
      recorded = [];
      sync.push((await proxier.sync(state, { full: true })).durationMs);
      const inputs = recorded;
      floor.push(await restoreAlone(real, inputs));
    }
    const s = report(`full sync (${n})`, sync);
    const f = report(`floor: iptables-restore alone, same inputs`, floor);
    ratio(`full sync (${n}) / floor`, s, f, 1.2);
    const fullInput = recorded.join('');
    await partialSyncs(`${n} Services`, n >= 10000 ? 30 : 20, tracker, proxier, real, () => {
      const r = recorded;
      recorded = [];
      return r;
    });
    // The same rules as one nat transaction, as upstream writes them (see restore.ts for why
    // kubenode splits them on iptables-nft). Quadratic: at 10,000 Services it takes minutes
    // (about 60 s on an idle machine), so it is only measured at 1,000.
    if (n <= 1000) {
      const single = singleTransaction(fullInput);
      const one: number[] = [];
      for (let i = 0; i < 3; i++) one.push(await restoreAlone(real, [single]));
      const o = report(`same rules as one transaction (upstream way)`, one);
      ratio(`full sync (${n}) / one-transaction load`, s, o);
    }
  }

  // Memory of the real program holding 10,000 Services.
  console.log(`\n## kubenode-proxy process with ${have} Services from --services-dir`);
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-proxy-bench-'));
  try {
    for (let f = 0; f < have / 100; f++) {
      const docs: object[] = [];
      for (let i = f * 100; i < (f + 1) * 100; i++) docs.push(serviceObj(i), sliceObj(i));
      writeFileSync(join(dir, `svc-${f}.yaml`), docs.map((d) => stringify(d)).join('---\n'));
    }
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/kubenode-proxy.js'),
        '--services-dir',
        dir,
        '--hostname-override',
        'bench-node',
        '--cluster-cidr',
        '10.244.0.0/16',
        '--min-sync-period',
        '0s',
        '--sync-period',
        '10m',
        '--healthz-bind-address',
        '',
        '--metrics-bind-address',
        '',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBENODE_LOG_LEVEL: 'debug' } },
    );
    const waitFor = jsonLogWaiter(child.stderr!);
    await waitFor((l) => l.msg === 'synced proxy rules' && l.full === true);
    console.log(
      `# started, read ${have} Services + ${have} EndpointSlices and synced in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
    );
    const rss: number[] = [rssMiB(child.pid!)];
    const viaFile: number[] = [];
    for (let i = 0; i < 10; i++) {
      const docs = [serviceObj(77), sliceObj(77, i % 2 === 0 ? ENDPOINTS - 1 : ENDPOINTS)];
      const synced = waitFor((l) => l.msg === 'synced proxy rules' && l.full === false);
      const t1 = performance.now();
      writeFileSync(
        join(dir, 'svc-0.yaml'),
        [
          ...docs,
          ...Array.from({ length: 99 }, (_, k) => [serviceObj(k === 77 ? 0 : k), sliceObj(k === 77 ? 0 : k)]).flat(),
        ]
          .map((d) => stringify(d))
          .join('---\n'),
      );
      await synced;
      viaFile.push(performance.now() - t1);
      rss.push(rssMiB(child.pid!));
    }
    report('file change -> rules in place (whole program)', viaFile);
    console.log('# (includes re-reading a 100-Service file and the 50 ms watch debounce)');
    const r = stats(rss);
    console.log(
      `${'proxy RSS with 10,000 Services'.padEnd(44)} median ${r.median.toFixed(0)} MiB  max ${r.max.toFixed(0)} MiB  goal < 200 MiB: ${r.max < 200 ? 'met' : 'NOT met'}`,
    );
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  await proxier.cleanup();
}

async function outer(): Promise<void> {
  printMachine('kubenode-proxy sync benchmark (iptables mode)');
  if (process.getuid?.() !== 0)
    throw new Error('proxy-sync needs root (it creates a network namespace): sudo npm run bench -- proxy-sync');
  await runInnerInNetns(`kbench${process.pid}`, import.meta.filename);
}

if (process.argv.includes('--inner')) await inner();
else await outer();
