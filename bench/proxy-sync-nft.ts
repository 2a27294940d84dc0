// kubenode-proxy sync benchmark, nftables mode, run inside a network namespace of
// its own, beside its floor: `nft -f` alone loading the very same scripts in the same state.
//   1. cold start (empty table) at 1,000 and 10,000 Services x 5 endpoints, in one transaction
//      and split into transactions of 3,000 chains; a periodic full sync with the rules in place;
//   2. one endpoint change with the rules in place (partial sync), median and p99 of 30, for an
//      endpoint that goes and comes back and for one replaced by a new address each time;
//   3. a real kubenode-proxy process holding 10,000 Services: start to first sync, RSS, CPU
//      while idle (60 s, so periodic full syncs included), file change to rules in place.
// Usage: sudo npm run bench -- proxy-sync-nft
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { stringify } from 'yaml';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { parseIPv4Network } from '../lib/ip.js';
import { createLogger } from '../lib/log.js';
import { deleteTables, nftApply } from '../proxy/nftables/nft.js';
import { NftablesProxier } from '../proxy/nftables/proxier.js';
import { ChangeTracker } from '../proxy/tracker/change-tracker.js';
import { jsonLogWaiter, printMachine, ratio, report, rssMiB, runInnerInNetns, stats } from './harness.js';
import { benchService, benchSlice, ENDPOINTS } from './lib/proxy-objects.js';

const ROOT = resolve(import.meta.dirname, '../..');
const quiet = createLogger('bench', { level: 'error' });

/** CPU seconds of a process and the children it has waited for (nft runs), from /proc. */
function cpuWithChildren(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat
    .slice(stat.lastIndexOf(')') + 2)
    .split(' ')
    .map(Number);
  return (f[11]! + f[12]! + f[13]! + f[14]!) / 100;
}

/** nft -f alone over the given scripts, in order; milliseconds. */
async function nftAlone(scripts: readonly string[]): Promise<number> {
  const t0 = performance.now();
  for (const s of scripts) await nftApply(s);
  return performance.now() - t0;
}

function recordingProxier(recorded: string[], maxChainsPerTransaction?: number): NftablesProxier {
  return new NftablesProxier({
    log: quiet,
    nodeName: 'bench-node',
    clusterCIDR: parseIPv4Network('10.244.0.0/16')!,
    nodePortCIDRs: [],
    conntrack: false,
    maxChainsPerTransaction,
    // Every full sync asked for here is a rewrite (the proxy's periodic ticks are measured below).
    fullRewritePeriodMs: 0,
    apply: async (script) => {
      recorded.push(script);
      await nftApply(script);
    },
  });
}

async function coldStarts(
  n: number,
  tracker: ChangeTracker,
): Promise<{ proxier: NftablesProxier; recorded: string[] }> {
  const state = tracker.takeState();
  const variants: Array<[string, number | undefined]> = [
    ['one transaction', undefined],
    ['transactions of 3,000 chains', 3000],
  ];
  let kept: { proxier: NftablesProxier; recorded: string[] } | undefined;
  for (const [label, max] of variants) {
    const cold: number[] = [];
    const coldCpu: number[] = [];
    const floor: number[] = [];
    let proxier: NftablesProxier | undefined;
    let recorded: string[] = [];
    for (let i = 0; i < (n > 1000 ? (max === undefined ? 2 : 1) : 3); i++) {
      await deleteTables();
      recorded = [];
      proxier = recordingProxier(recorded, max);
      const c0 = cpuWithChildren(process.pid);
      cold.push((await proxier.sync(state, { full: true })).durationMs);
      coldCpu.push((cpuWithChildren(process.pid) - c0) * 1000);
      await deleteTables();
      floor.push(await nftAlone(recorded));
    }
    const bytes = recorded.reduce((a, s) => a + s.length, 0);
    console.log(`# ${label}: ${recorded.length} nft run(s), ${(bytes / 2 ** 20).toFixed(1)} MiB of script`);
    const c = report(`cold start (${n}, ${label})`, cold);
    report(`  CPU of it (proxy + nft, all cores)`, coldCpu);
    ratio(`cold start (${n}, ${label}) / floor`, c, report('floor: nft -f alone, same scripts', floor));
    // Keep the default variant's proxier (and its table) for what follows.
    await deleteTables();
    if (max === undefined) kept = { proxier: proxier!, recorded };
  }
  await kept!.proxier.sync(state, { full: true });
  return kept!;
}

async function inner(): Promise<void> {
  console.log(`# ${spawnSync('nft', ['--version'], { encoding: 'utf8' }).stdout.trim()}`);
  console.log(
    '# goals at 10,000: cold start <= 10 s; one endpoint change <= 50 ms median, p99 <= 200 ms; RSS <= 300 MiB',
  );
  const tracker = new ChangeTracker(quiet);
  let have = 0;
  for (const n of [1000, 10000]) {
    for (; have < n; have++) {
      tracker.updateService(benchService(have));
      tracker.updateEndpointSlice(benchSlice(have));
    }
    console.log(`\n## ${n} Services x ${ENDPOINTS} endpoints`);
    const { proxier, recorded } = await coldStarts(n, tracker);
    const state = tracker.takeState();

    const resync: number[] = [];
    const resyncFloor: number[] = [];
    for (let i = 0; i < (n > 1000 ? 2 : 3); i++) {
      recorded.length = 0;
      resync.push((await proxier.sync(state, { full: true })).durationMs);
      resyncFloor.push(await nftAlone(recorded));
    }
    ratio(
      `full resync, rules in place (${n}) / floor`,
      report(`full resync, rules in place (${n})`, resync),
      report('floor: nft -f alone, same scripts', resyncFloor),
    );

    // A --sync-period tick with nothing changed, as the running proxy makes it.
    const ticker = new NftablesProxier({
      log: quiet,
      nodeName: 'bench-node',
      clusterCIDR: parseIPv4Network('10.244.0.0/16')!,
      nodePortCIDRs: [],
      conntrack: false,
    });
    await ticker.sync(state, { full: true });
    const ticks: number[] = [];
    for (let i = 0; i < 5; i++) ticks.push((await ticker.sync(tracker.takeState(), { full: true })).durationMs);
    report(`periodic tick, nothing changed (${n})`, ticks);

    // One endpoint goes away and comes back: an even count leaves the table as it was, so the
    // floor can replay the same scripts in order.
    await endpointChanges(`endpoint goes and comes back (${n})`, proxier, tracker, recorded, (i) =>
      benchSlice(321, i % 2 === 0 ? ENDPOINTS - 1 : ENDPOINTS),
    );
    // One endpoint replaced by a new address each time: a new hairpin pair as well per change.
    await endpointChanges(`endpoint replaced by a new one (${n})`, proxier, tracker, recorded, (i) => {
      const slice = benchSlice(654);
      slice.endpoints[ENDPOINTS - 1]!.addresses = [`10.250.${i >> 8}.${i & 255}`];
      return slice;
    });
  }
  await deleteTables();
  await realProcess(have);
}

/** 30 endpoint changes to one Service, each synced partially: change -> rules in place, beside nft -f alone replaying the same scripts. */
async function endpointChanges(
  label: string,
  proxier: NftablesProxier,
  tracker: ChangeTracker,
  recorded: string[],
  slice: (i: number) => V1EndpointSlice,
): Promise<void> {
  const partial: number[] = [];
  recorded.length = 0;
  for (let i = 0; i < 30; i++) {
    const t0 = performance.now();
    tracker.updateEndpointSlice(slice(i));
    const r = await proxier.sync(tracker.takeState());
    partial.push(performance.now() - t0);
    if (r.full) throw new Error('expected a partial sync');
  }
  const scripts = [...recorded];
  const p = report(`${label} -> rules in place`, partial);
  const pf: number[] = [];
  for (const s of scripts) pf.push(await nftAlone([s]));
  ratio(`${label} / floor`, p, report('floor: nft -f alone, same scripts', pf));
  const lines = scripts.map((s) => s.split('\n').length - 1);
  console.log(
    `# one change is one nft transaction of ${Math.min(...lines)}-${Math.max(...lines)} lines (${scripts[0]!.length}-${scripts[1]!.length} bytes); 'list' in any: ${scripts.some((s) => /^list /m.test(s))}`,
  );
}

async function realProcess(have: number): Promise<void> {
  console.log(`\n## kubenode-proxy --proxy-mode nftables with ${have} Services from --services-dir`);
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-proxy-bench-'));
  const file = (f: number, swap?: number) =>
    Array.from({ length: 100 }, (_, k) => f * 100 + k)
      .flatMap((i) => [benchService(i), i === swap ? benchSlice(i, ENDPOINTS - 1) : benchSlice(i)])
      .map((d) => stringify(d))
      .join('---\n');
  try {
    for (let f = 0; f < have / 100; f++) writeFileSync(join(dir, `svc-${f}.yaml`), file(f));
    const t0 = performance.now();
    const child = spawn(
      process.execPath,
      [
        join(ROOT, 'bin/kubenode-proxy.js'),
        '--proxy-mode',
        'nftables',
        '--services-dir',
        dir,
        '--hostname-override',
        'bench-node',
        '--cluster-cidr',
        '10.244.0.0/16',
        '--min-sync-period',
        '0s',
        '--healthz-bind-address',
        '',
        '--metrics-bind-address',
        '',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, KUBENODE_LOG_LEVEL: 'debug' } },
    );
    const waitFor = jsonLogWaiter(child.stderr!);
    const first = await waitFor((l) => l.msg === 'synced proxy rules' && l.full === true);
    console.log(`# CPU until then (proxy + its nft runs): ${cpuWithChildren(child.pid!).toFixed(1)} s`);
    console.log(
      `# started, read ${have} Services + ${have} EndpointSlices and synced in ${((performance.now() - t0) / 1000).toFixed(1)} s (the sync itself: ${String(first.ms)} ms)`,
    );
    const rss: number[] = [rssMiB(child.pid!)];
    const cpu0 = cpuWithChildren(child.pid!);
    const idleSeconds = 60;
    await new Promise((r) => setTimeout(r, idleSeconds * 1000));
    const idle = cpuWithChildren(child.pid!) - cpu0;
    console.log(
      `${'idle CPU (60 s, default --sync-period 30s)'.padEnd(44)} ${idle.toFixed(2)} CPU s (proxy + its nft runs) = ${((100 * idle) / idleSeconds).toFixed(1)}% of a core`,
    );
    rss.push(rssMiB(child.pid!));
    const viaFile: number[] = [];
    for (let i = 0; i < 10; i++) {
      const synced = waitFor((l) => l.msg === 'synced proxy rules' && l.full === false);
      const t1 = performance.now();
      writeFileSync(join(dir, 'svc-0.yaml'), file(0, i % 2 === 0 ? 77 : undefined));
      await synced;
      viaFile.push(performance.now() - t1);
      rss.push(rssMiB(child.pid!));
    }
    report('file change -> rules in place (whole program)', viaFile);
    console.log('# (includes re-reading a 100-Service file and the 50 ms watch debounce)');
    const r = stats(rss);
    console.log(
      `${'proxy RSS with 10,000 Services'.padEnd(44)} median ${r.median.toFixed(0)} MiB  max ${r.max.toFixed(0)} MiB  goal <= 300 MiB: ${r.max <= 300 ? 'met' : 'NOT met'}`,
    );
    child.kill('SIGTERM');
    await new Promise((res) => child.once('exit', res));
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await deleteTables();
  }
}

async function outer(): Promise<void> {
  printMachine('kubenode-proxy sync benchmark (nftables mode)');
  console.log(`# load: ${spawnSync('uptime', { encoding: 'utf8' }).stdout.trim()}`);
  if (process.getuid?.() !== 0)
    throw new Error('proxy-sync-nft needs root (it creates a network namespace): sudo npm run bench -- proxy-sync-nft');
  await runInnerInNetns(`kbnft${process.pid}`, import.meta.filename);
}

if (process.argv.includes('--inner')) await inner();
else await outer();
