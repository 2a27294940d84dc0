// kubenode-proxy beside upstream kube-proxy (the pinned release, scripts/build-kube-proxy.sh) in
// the same run, against the same real apiserver (scripts/control-plane.sh), each in a network
// namespace of its own, with the same Services x 5 endpoints created through the API:
//   - cold start: process start -> the last Service's rule in the kernel (polled in each namespace);
//   - one endpoint change (an EndpointSlice patched) -> its DNAT rule in the kernel, median/p99
//     (nftables mode: seen in the kernel's netlink notifications, proxy-upstream/nft-events-listen.ts);
//   - CPU seconds (the proxy and the iptables/nft processes it ran) and peak RSS;
//   - idle CPU over 60 s; kubenode/upstream ratios. The floor of a change is its PATCH alone
//     (sent from this process over a kept-alive connection: `kubectl patch` cost 70 ms of start-up).
// Usage: bash scripts/bench.sh proxy-upstream      (iptables mode, 1,000 and 10,000 Services)
//        node dist/bench/proxy-upstream.js --mode iptables|nftables --services 1000[,10000] --changes 10
//        (--proxies kubenode: kubenode alone, to iterate on it; a claim needs both, the default)
import { KubeConfig } from '@kubernetes/client-node';
import { mkdtempSync } from 'node:fs';
import { Agent, request, type RequestOptions } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { run } from '../lib/exec.js';
import { sepChain, svcChain } from '../proxy/iptables/names.js';
import { type ControlPlane, PROJECT_ROOT, SCRIPTS, startControlPlane } from '../test/harness/control-plane.js';
import { runPrefix } from '../test/harness/prefix.js';
import { printMachine, report, type Stats } from './harness.js';
import {
  type BenchNode,
  createBenchNode,
  deleteBenchNode,
  peakRssMiB,
  proxyCpu,
  type ProxyKind,
  startProxy,
} from './proxy-upstream/node.js';
import { NftEvents } from './proxy-upstream/nft-events.js';

const { values: args } = parseArgs({
  options: {
    mode: { type: 'string', default: 'iptables' },
    services: { type: 'string', default: '1000,10000' },
    changes: { type: 'string', default: '10' },
    idle: { type: 'string', default: '60' },
    proxies: { type: 'string', default: 'kubenode,upstream' },
  },
});
const PROXIES = args.proxies!.split(',') as ProxyKind[];
if (!PROXIES.length || PROXIES.some((p) => p !== 'kubenode' && p !== 'upstream'))
  throw new Error(`--proxies: ${JSON.stringify(args.proxies)} is not a list of kubenode and upstream`);
const MODE = args.mode!;
if (MODE !== 'iptables' && MODE !== 'nftables')
  throw new Error(`--mode: ${JSON.stringify(MODE)} is not iptables or nftables`);
const SIZES = args.services!.split(',').map(Number);
const CHANGES = Number(args.changes);
const IDLE_S = Number(args.idle);
const ENDPOINTS = 5;
/** More than both proxies' --min-sync-period (1 s): see measureChanges. */
const MIN_SYNC_GAP_MS = 1500;
const NS = 'bench';
const UPSTREAM_BIN = `${process.env.KUBENODE_CACHE ?? '/var/cache/kubenode'}/bin/k8s-v1.34.4/kube-proxy`;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * The address the i-th change at size n gives an endpoint (what the nftables listener looks
 * for). Unique across sizes: the Services of a smaller size stay in the apiserver with their
 * changed endpoints, and a larger size's cold start programs those addresses again.
 */
const changedIP = (n: number, i: number) => {
  const k = SIZES.indexOf(n) * CHANGES + i;
  return `10.250.${k >> 8}.${k & 255}`;
};
const epIP = (idx: number) => `10.244.${(idx >> 8) & 255}.${idx & 255}`;

/** kubectl as admin with a long timeout (creating 20,000 objects takes minutes). */
const kubectl = (cp: ControlPlane, a: string[], input?: string) =>
  run('bash', [join(SCRIPTS, 'control-plane.sh'), 'kubectl', ...a], { env: cp.env, input, timeoutMs: 1_800_000 });

/**
 * Services [from, to) and their EndpointSlices, in 16 parallel `kubectl create` of 500 objects
 * each: one kubectl posts one object at a time (about 20 a second on this loaded machine).
 */
async function createServices(cp: ControlPlane, from: number, to: number): Promise<void> {
  const items: object[] = [];
  for (let i = from; i < to; i++) {
    items.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc-${i}`, namespace: NS },
      spec: {
        type: i % 10 === 0 ? 'NodePort' : 'ClusterIP',
        ports: [{ name: 'http', port: 80, targetPort: 8080, protocol: 'TCP' }],
      },
    });
    items.push({
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      addressType: 'IPv4',
      metadata: {
        name: `svc-${i}-x`,
        namespace: NS,
        labels: {
          'kubernetes.io/service-name': `svc-${i}`,
          'endpointslice.kubernetes.io/managed-by': 'bench.kubenode.local',
        },
      },
      endpoints: Array.from({ length: ENDPOINTS }, (_, e) => ({
        addresses: [epIP(i * ENDPOINTS + e)],
        nodeName: 'elsewhere',
        conditions: { ready: true },
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    });
  }
  const chunks: object[][] = [];
  for (let i = 0; i < items.length; i += 500) chunks.push(items.slice(i, i + 500));
  for (let i = 0; i < chunks.length; i += 16) {
    await Promise.all(
      chunks
        .slice(i, i + 16)
        .map((c) =>
          kubectl(
            cp,
            ['create', '-f', '-', '-o', 'name'],
            JSON.stringify({ apiVersion: 'v1', kind: 'List', items: c }),
          ),
        ),
    );
  }
}

/** Whether a rule is in the namespace's kernel: iptables -C (one chain), or the nft ruleset. */
async function hasRule(n: BenchNode, iptablesRule: string[], nftNeedle: string): Promise<boolean> {
  if (MODE === 'iptables')
    return (await n.exec('iptables', ['-w', '5', '-t', 'nat', '-C', ...iptablesRule])).code === 0;
  return (await n.exec('nft', ['list', 'ruleset'])).stdout.includes(nftNeedle);
}

/** A JSON patch, as the cluster admin, over one kept-alive connection (see the floor above). */
let patchClient: { kc: KubeConfig; agent: Agent } | undefined;
async function patch(path: string, ops: object[]): Promise<void> {
  const { kc, agent } = patchClient!;
  const url = new URL(kc.getCurrentCluster()!.server + path);
  const opts: RequestOptions = { method: 'PATCH', headers: { 'Content-Type': 'application/json-patch+json' } };
  await kc.applyToHTTPSOptions(opts);
  await new Promise<void>((resolve, reject) => {
    const req = request(url, { ...opts, agent }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () =>
        res.statusCode === 200
          ? resolve()
          : reject(new Error(`PATCH ${path}: HTTP ${res.statusCode}: ${body.slice(0, 300)}`)),
      );
    });
    req.on('error', reject);
    req.end(JSON.stringify(ops));
  });
}

async function until(what: string, fn: () => Promise<boolean>, timeoutMs: number, everyMs: number): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`bench: ${what} not seen within ${timeoutMs / 1000} s`);
    await sleep(everyMs);
  }
}

interface Figures {
  coldS: number;
  coldCpuS: number;
  changes: number[];
  cpuS: number;
  idleCpuS: number;
  peakRss: number;
}

async function measureSize(
  cp: ControlPlane,
  nodes: BenchNode[],
  n: number,
  dir: string,
  kubeconfigs: Map<string, string>,
): Promise<void> {
  const last = n - 1;
  const ip = (
    await kubectl(cp, ['-n', NS, 'get', 'service', `svc-${last}`, '-o', 'jsonpath={.spec.clusterIP}'])
  ).stdout.trim();
  const spn = `${NS}/svc-${last}:http`;
  const lastRule = [
    'KUBE-SERVICES',
    '-d',
    `${ip}/32`,
    '-p',
    'tcp',
    '-m',
    'comment',
    '--comment',
    `${spn} cluster IP`,
    '-m',
    'tcp',
    '--dport',
    '80',
    '-j',
    svcChain(spn, 'TCP'),
  ];
  const poll = n >= 5000 ? 500 : 100;
  const fig = new Map<ProxyKind, Figures>();
  // nftables: rules are seen in the kernel's notifications (polling `nft list ruleset` costs
  // seconds per poll at 10,000 Services, more than what is measured); polled after an overrun.
  const events = new Map<ProxyKind, NftEvents>();
  const listen = async (node: BenchNode) => {
    events.get(node.kind)?.stop();
    events.set(
      node.kind,
      await NftEvents.start(node.netns, [ip, ...Array.from({ length: CHANGES }, (_, i) => changedIP(n, i))]),
    );
  };
  let floor: number[];
  try {
    // Cold starts one after the other, so that neither competes with the other for the 2 cores.
    for (const node of nodes) {
      if (MODE === 'nftables') await listen(node);
      const t0 = performance.now();
      startProxy(node, {
        mode: MODE,
        kubeconfig: kubeconfigs.get(node.name)!,
        kubenodeBin: join(PROJECT_ROOT, 'bin/kubenode-proxy.js'),
        upstreamBin: UPSTREAM_BIN,
        dir,
      });
      const at = await events.get(node.kind)?.when(ip, 3_600_000);
      if (at === undefined) await until(`${node.kind}: ${spn}`, () => hasRule(node, lastRule, ip), 3_600_000, poll);
      const coldS = ((at ?? performance.now()) - t0) / 1000;
      if (events.get(node.kind)?.overrun) await listen(node);
      // Two seconds on, so that the restore that wrote the rule has been reaped into the count.
      await sleep(2000);
      fig.set(node.kind, { coldS, coldCpuS: proxyCpu(node), changes: [], cpuS: 0, idleCpuS: 0, peakRss: 0 });
      console.log(
        `# ${node.kind}: every rule in place ${coldS.toFixed(1)} s after start${at === undefined && MODE === 'nftables' ? ' (polled: notifications overran)' : ''}`,
      );
    }
    // Let start-up work settle (upstream's first syncs after the informers' resync).
    await sleep(5000);
    floor = await measureChanges(nodes, n, fig, events, poll);
  } finally {
    for (const ev of events.values()) ev.stop();
  }
  for (const node of nodes) fig.get(node.kind)!.cpuS = proxyCpu(node);
  const idle0 = nodes.map(proxyCpu);
  await sleep(IDLE_S * 1000);
  nodes.forEach((node, i) => {
    const f = fig.get(node.kind)!;
    f.idleCpuS = proxyCpu(node) - idle0[i]!;
    f.peakRss = peakRssMiB(node);
  });
  printFigures(n, fig, floor);
}

/** CHANGES endpoint changes, one at a time: each an EndpointSlice patched, timed until both kernels have it. */
async function measureChanges(
  nodes: BenchNode[],
  n: number,
  fig: Map<ProxyKind, Figures>,
  events: Map<ProxyKind, NftEvents>,
  poll: number,
): Promise<number[]> {
  const floor: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    // Both proxies sync at most once per --min-sync-period (1 s; upstream counts it from the end
    // of the previous sync): a change that comes sooner waits for it. Changes are spaced beyond
    // it, so each figure is a change's way to the kernel, not the rate limit (back to back,
    // kubenode's changes measured 1.0 s each: the period itself).
    if (i > 0) await sleep(MIN_SYNC_GAP_MS);
    const svc = (i * 7919) % n;
    const newIP = changedIP(n, i);
    const spnI = `${NS}/svc-${svc}:http`;
    const sepRule = [
      sepChain(spnI, 'TCP', `${newIP}:8080`),
      '-p',
      'tcp',
      '-m',
      'tcp',
      '-j',
      'DNAT',
      '--to-destination',
      `${newIP}:8080`,
    ];
    const t0 = performance.now();
    const patched = patch(`/apis/discovery.k8s.io/v1/namespaces/${NS}/endpointslices/svc-${svc}-x`, [
      { op: 'replace', path: '/endpoints/0/addresses/0', value: newIP },
    ]).then(() => floor.push(performance.now() - t0));
    await Promise.all(
      nodes.map(async (node) => {
        const at = await events.get(node.kind)?.when(newIP, 120_000);
        if (at === undefined) {
          if (events.has(node.kind))
            console.log(
              `# ${node.kind}: ${newIP} not in the notifications (overrun: ${String(events.get(node.kind)!.overrun)}); polling`,
            );
          await until(`${node.kind}: endpoint ${newIP}`, () => hasRule(node, sepRule, newIP), 600_000, poll / 2);
        }
        fig.get(node.kind)!.changes.push((at ?? performance.now()) - t0);
      }),
    );
    await patched;
    console.log(
      `# change ${i + 1}: ${nodes.map((node) => `${node.kind} ${fig.get(node.kind)!.changes.at(-1)!.toFixed(0)} ms`).join(', ')}`,
    );
  }
  return floor;
}

function printFigures(n: number, fig: Map<ProxyKind, Figures>, floor: number[]): void {
  const k = fig.get('kubenode');
  const u = fig.get('upstream');
  // One column per proxy that ran, and the ratio when both did.
  const line = (
    label: string,
    get: (f: Figures | Stats) => number,
    of: [Figures | Stats | undefined, Figures | Stats | undefined],
    unit: string,
    digits = 1,
  ) => {
    const [a, b] = of.map((f) => (f ? get(f) : undefined));
    const cell = (who: string, v: number | undefined) =>
      v === undefined ? '' : `${who} ${v.toFixed(digits).padStart(8)} ${unit}  `;
    const ratio = a !== undefined && b !== undefined ? `kubenode/upstream ${(a / b).toFixed(2)}x` : '';
    console.log(`${label.padEnd(44)} ${cell('kubenode', a)}${cell('upstream', b)}${ratio}`);
  };
  console.log(`\n## ${MODE} mode, ${n} Services x ${ENDPOINTS} endpoints`);
  line('cold start: every rule in place', (f) => (f as Figures).coldS, [k, u], 's');
  line('CPU from start to 2 s after cold start', (f) => (f as Figures).coldCpuS, [k, u], 's');
  const ks = k && report('endpoint change -> kernel (kubenode)', k.changes);
  const us = u && report('endpoint change -> kernel (upstream)', u.changes);
  report('floor: the PATCH alone (answered)', floor);
  line('endpoint change, median', (s) => (s as Stats).median, [ks, us], 'ms', 0);
  line('endpoint change, p99', (s) => (s as Stats).p99, [ks, us], 'ms', 0);
  line('CPU seconds, start to end of changes', (f) => (f as Figures).cpuS, [k, u], 's');
  line(`idle CPU over ${IDLE_S} s`, (f) => (f as Figures).idleCpuS, [k, u], 's', 2);
  line('peak RSS', (f) => (f as Figures).peakRss, [k, u], 'MiB', 0);
}

async function main(): Promise<void> {
  printMachine(`kubenode-proxy beside upstream kube-proxy v1.34.4, ${MODE} mode`);
  console.log(`# load: ${(await run('uptime', [])).stdout.trim()}`);
  if (process.getuid?.() !== 0)
    throw new Error(
      'proxy-upstream needs root (network namespaces, a control plane): sudo node dist/bench/proxy-upstream.js',
    );
  if (
    PROXIES.includes('upstream') &&
    (await run(UPSTREAM_BIN, ['--version'], { allowFailure: true }).catch(() => ({ code: 1 }))).code !== 0
  )
    throw new Error(`${UPSTREAM_BIN} is missing: run scripts/build-kube-proxy.sh`);
  const teardowns: Array<() => unknown> = [];
  let tornDown: Promise<void> | undefined;
  const tearDown = () =>
    (tornDown ??= (async () => {
      for (const fn of teardowns.reverse()) await fn();
    })());
  // Interrupted (upstream's cold start at 10,000 Services can take half an hour): stop both
  // proxies, delete the namespaces and the control plane all the same.
  for (const sig of ['SIGINT', 'SIGTERM'] as const)
    process.once(sig, () => void tearDown().then(() => process.exit(130)));
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-bench-upstream-'));
  const prefix = runPrefix();
  try {
    const cp = await startControlPlane({ teardown: (fn) => teardowns.push(fn) });
    await kubectl(cp, ['create', 'namespace', NS]);
    const kc = new KubeConfig();
    kc.loadFromFile(cp.kubeconfig);
    patchClient = { kc, agent: new Agent({ keepAlive: true }) };
    teardowns.push(() => patchClient?.agent.destroy());
    const kubeconfigs = new Map<string, string>();
    const names = { kubenode: `${prefix}k`, upstream: `${prefix}u` };
    for (const name of Object.values(names)) kubeconfigs.set(name, join(await cp.nodeCredentials(name), 'kubeconfig'));
    let have = 0;
    for (const n of SIZES) {
      const t0 = performance.now();
      await createServices(cp, have, n);
      have = n;
      console.log(
        `\n# ${n} Services + EndpointSlices in the apiserver (created in ${((performance.now() - t0) / 1000).toFixed(0)} s); load: ${(await run('uptime', [])).stdout.trim()}`,
      );
      const nodes: BenchNode[] = [];
      const removeNodes = async () => {
        for (const node of nodes.splice(0)) await deleteBenchNode(cp, node);
      };
      teardowns.push(removeNodes);
      if (PROXIES.includes('kubenode')) nodes.push(await createBenchNode(cp, 'kubenode', names.kubenode, 1));
      if (PROXIES.includes('upstream')) nodes.push(await createBenchNode(cp, 'upstream', names.upstream, 2));
      await measureSize(cp, nodes, n, dir, kubeconfigs);
      await removeNodes();
    }
    console.log(`\n# logs of both proxies: ${dir}`);
  } finally {
    await tearDown();
  }
}

await main();
