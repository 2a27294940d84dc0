// IPVS mode versus iptables mode: sync time for 1,000 Services x 5 endpoints, both
// modes in the same run of the test VM (this machine's kernel has no IPVS), each in a network
// namespace of its own. Under emulation absolute times are slow; the ratio is the figure.
//   bash scripts/bench.sh proxy-ipvs      (as root; boots the VM by itself)
// Measured per mode: the first full sync into an empty namespace, a full resync with nothing
// changed, and a sync after one endpoint of one Service changed.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';
import type { V1EndpointSlice } from '@kubernetes/client-node';
import { parseIPv4Network } from '../lib/ip.js';
import { createLogger } from '../lib/log.js';
import { run } from '../lib/exec.js';
import { IptablesBackend } from '../proxy/iptables/backend.js';
import { IptablesProxier } from '../proxy/iptables/proxier.js';
import { IpvsProxier } from '../proxy/ipvs/proxier.js';
import type { Proxier } from '../proxy/proxier.js';
import { ChangeTracker } from '../proxy/tracker/change-tracker.js';
import { printMachine, report, type Stats } from './harness.js';
import { benchService, benchSlice, ENDPOINTS } from './lib/proxy-objects.js';

const ROOT = resolve(import.meta.dirname, '../..');
const SELF = resolve(import.meta.dirname, 'proxy-ipvs.js');
const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
// Few runs: under emulation one full sync of 1,000 Services takes seconds to tens of seconds.
const RUNS = {
  first: Number(process.env.BENCH_RUNS ?? 2),
  resync: Number(process.env.BENCH_RUNS ?? 2),
  change: 2 * Number(process.env.BENCH_RUNS ?? 2),
};
const quiet = createLogger('bench', { level: 'error' });
type Mode = 'iptables' | 'ipvs' | 'ipvs-ipvsadm';
const MODES: readonly Mode[] = ['iptables', 'ipvs', 'ipvs-ipvsadm'];

/** Service i's slice; with moved, its first endpoint has a new address (a pod replaced). */
function sliceObj(i: number, moved = false): V1EndpointSlice {
  const slice = benchSlice(i);
  if (moved) slice.endpoints[0]!.addresses = [`10.250.${i >> 8}.${i & 255}`];
  return slice;
}

/** In one namespace: time the syncs of one mode, print the samples as one JSON line. */
async function worker(mode: Mode): Promise<void> {
  const iptables = await IptablesBackend.open('auto');
  const common = {
    log: quiet,
    nodeName: 'bench-node',
    clusterCIDR: parseIPv4Network('10.244.0.0/16')!,
    nodePortCIDRs: [],
    conntrack: false,
  };
  const proxier: Proxier =
    mode === 'iptables'
      ? new IptablesProxier({ ...common, backend: iptables })
      : await IpvsProxier.create({
          ...common,
          iptables,
          scheduler: 'rr',
          ipvsBackend: mode === 'ipvs' ? 'netlink' : 'ipvsadm',
        });
  // A node address, so that NodePorts have somewhere to be in both modes.
  await run('ip', ['-batch', '-'], {
    input: 'link set lo up\nlink add eth0 type dummy\naddress add 192.0.2.1/24 dev eth0\nlink set eth0 up\n',
  });
  const tracker = new ChangeTracker(quiet);
  for (let i = 0; i < SERVICES; i++) {
    tracker.updateService(benchService(i));
    tracker.updateEndpointSlice(sliceObj(i));
  }
  const state = tracker.takeState();
  const time = async (fn: () => Promise<unknown>) => {
    const t0 = performance.now();
    await fn();
    return performance.now() - t0;
  };
  const out: Record<string, number[] | string> = { mode, first: [], resync: [], change: [] };
  let last = state;
  for (let r = 0; r < RUNS.first; r++) {
    if (r > 0) await proxier.cleanup();
    (out.first as number[]).push(await time(() => proxier.sync(state, { full: true })));
  }
  for (let r = 0; r < RUNS.resync; r++)
    (out.resync as number[]).push(await time(() => proxier.sync({ ...state, changed: new Set() }, { full: true })));
  for (let r = 0; r < RUNS.change; r++) {
    // One endpoint of one Service replaced by another address.
    tracker.updateEndpointSlice(sliceObj(r, true));
    last = tracker.takeState();
    (out.change as number[]).push(await time(() => proxier.sync(last)));
  }
  const counts = await proxier.sync({ ...last, changed: new Set() });
  out.objects = JSON.stringify(counts.rules);
  await proxier.cleanup();
  if (proxier instanceof IpvsProxier) proxier.close();
  process.stdout.write(JSON.stringify(out) + '\n');
}

async function inVm(): Promise<void> {
  printMachine(
    `kubenode-proxy IPVS vs iptables mode: ${SERVICES} Services x ${ENDPOINTS} endpoints, in the test VM (software emulation)`,
  );
  const results = new Map<Mode, Record<string, number[] | string>>();
  for (const mode of MODES) {
    const ns = `kb-${mode}-${process.pid}`;
    await run('ip', ['netns', 'add', ns]);
    try {
      const child = spawn('ip', ['netns', 'exec', ns, process.execPath, SELF, '--worker', mode], {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, BENCH_SERVICES: String(SERVICES) },
      });
      console.error(`# ${mode}: running`);
      let line = '';
      createInterface({ input: child.stdout! }).on('line', (l) => (line = l));
      const code = await new Promise<number | null>((r) => child.once('exit', r));
      if (code !== 0) throw new Error(`${mode} worker exited ${code}`);
      results.set(mode, JSON.parse(line) as Record<string, number[] | string>);
    } finally {
      await run('ip', ['netns', 'delete', ns], { allowFailure: true });
    }
  }
  const rows: Array<[string, string]> = [
    ['first', 'first full sync (empty node)'],
    ['resync', 'full resync, nothing changed'],
    ['change', 'one endpoint changed'],
  ];
  for (const mode of MODES) console.log(`# ${mode} programs: ${results.get(mode)!.objects as string}`);
  console.log('# ipvs: IPVS over generic netlink (the default); ipvs-ipvsadm: the same through ipvsadm -Sn/-R');
  for (const [key, label] of rows) {
    console.log('');
    const s: Partial<Record<Mode, Stats>> = {};
    for (const mode of MODES) s[mode] = report(`${mode.padEnd(12)} ${label}`, results.get(mode)![key] as number[]);
    for (const mode of ['ipvs', 'ipvs-ipvsadm'] as const) {
      console.log(
        `${`${mode} / iptables`.padEnd(44)} ratio: median ${(s[mode]!.median / s.iptables!.median).toFixed(2)}x  p99 ${(s[mode]!.p99 / s.iptables!.p99).toFixed(2)}x`,
      );
    }
  }
}

async function main(): Promise<void> {
  const i = process.argv.indexOf('--worker');
  if (i >= 0) return worker(process.argv[i + 1] as Mode);
  if (process.env.KUBENODE_VM === '1') return inVm();
  // On the host: boot the VM and run this same script inside it.
  const child = spawn('bash', [resolve(ROOT, 'scripts/vm.sh'), 'run', '--', process.execPath, SELF], {
    stdio: 'inherit',
    env: { ...process.env, KUBENODE_VM_ENV: `${process.env.KUBENODE_VM_ENV ?? ''} BENCH_SERVICES BENCH_RUNS`.trim() },
  });
  process.exitCode = (await new Promise<number | null>((r) => child.once('exit', r))) ?? 1;
}

await main();
