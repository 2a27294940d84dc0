// kubenode-trace against real packets: the proxy integration world (test/fixtures/proxy/world.ts:
// a node namespace running kubenode-proxy in iptables mode, pods on its bridge, a machine outside)
// and the real kernel's nftables tracing. Each scenario asserts the chains the packet met and the
// pod that answered, which the test also learns from the answer itself.
import t from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ResultCache } from '../../agent/network/cache.js';
import { run } from '../../lib/exec.js';
import { requireProgram } from '../harness/require.js';
import { endpointSlice, EXT_IP, eventually, NODE_IP, PROJECT_ROOT, service, startProxy, createWorld, type World } from '../fixtures/proxy/world.js';
import type { TraceReport } from '../../trace/report.js';

requireProgram('nft', 'setpriv', 'curl');
const TRACE_BIN = join(PROJECT_ROOT, 'bin/kubenode-trace.js');

const world = await createWorld(t, ['a', 'b', 'c', 'cli']);
await world.startBackends(['a', 'b', 'c']);
// A long resync period: a full resync would recreate the `recent` lists mid-test.
const proxy = await startProxy(t, world, ['--sync-period', '10m']);

// The pods as the agent records them after kubenode-bridge's ADD (<root-dir>/cni-cache).
const cniCache = mkdtempSync(join(tmpdir(), 'kubenode-trace-cni-'));
t.teardown(() => rmSync(cniCache, { recursive: true, force: true }));
await writeCniResults(world, cniCache);

const synced = proxy.nextSync();
proxy.write('svc.yaml', [
  service({ name: 'web', clusterIP: '10.96.0.10', type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }),
  endpointSlice('web', ['a', 'b', 'c'].map((p) => ({ ip: world.pod(p).ip }))),
  service({ name: 'empty', clusterIP: '10.96.0.50' }),
  service({ name: 'self', clusterIP: '10.96.0.70' }),
  endpointSlice('self', [{ ip: world.pod('a').ip }]),
  service({ name: 'sticky', clusterIP: '10.96.0.20', sessionAffinity: 'ClientIP', affinitySeconds: 300 }),
  endpointSlice('sticky', ['a', 'b', 'c'].map((p) => ({ ip: world.pod(p).ip }))),
]);
await synced;

async function writeCniResults(w: World, dir: string): Promise<void> {
  const cache = new ResultCache(dir);
  for (const [i, p] of w.pods.entries()) {
    await cache.write({
      kind: 'kubenodeCniCacheV1', networkName: 'kubenode', cniVersion: '1.0.0', config: {}, configFile: '', containerId: `${w.prefix}${i}`, ifName: 'eth0', netnsPath: `/run/netns/${p.netns}`,
      cniArgs: [['K8S_POD_NAMESPACE', 'default'], ['K8S_POD_NAME', p.name]], capabilityArgs: {},
      result: { cniVersion: '1.0.0', interfaces: [{ name: 'cbr0' }, { name: `veth${i}` }, { name: 'eth0', sandbox: `/run/netns/${p.netns}` }], ips: [{ address: `${p.ip}/24`, interface: 2 }] },
    });
  }
}

interface TraceRun { child: ChildProcess; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> }

function startTrace(args: string[]): TraceRun {
  const child = spawn(process.execPath, [TRACE_BIN, '--node', world.node, '--cni-cache-dir', cniCache, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout!.on('data', (b) => (stdout += b));
  child.stderr!.on('data', (b) => (stderr += b));
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((r) => child.on('close', (code, signal) => r({ code, signal, stdout, stderr })));
  return { child, done };
}

const ourTables = async () => (await world.exec(world.node, 'nft', ['list', 'tables'])).split('\n').filter((l) => l.includes('kubenode_trace_p'));

/** Wait until this run's tracing table exists: from then on a matching packet is traced. */
const tracing = (r: TraceRun) => eventually('the tracing table', async () => (await ourTables()).some((l) => l.includes(`kubenode_trace_p${r.child.pid}_`)));

async function traceFlow(args: string[], traffic: () => Promise<unknown>): Promise<{ report: TraceReport; answer: unknown }> {
  const r = startTrace(['--json', ...args]);
  await tracing(r);
  const answer = await traffic();
  const res = await r.done;
  if (res.code !== 0) throw new Error(`kubenode-trace exited ${res.code}: ${res.stderr}`);
  return { report: JSON.parse(res.stdout) as TraceReport, answer };
}

const ruleChains = (r: TraceReport) => r.hops.flatMap((h) => h.steps.filter((s) => s.kind === 'rule').map((s) => s.chain.replace(/^(KUBE-(SVC|SEP|EXT)-).*/, '$1*')));
const podAnswering = (body: string | undefined) => body?.split(' ')[0];

t.test('ClusterIP from the node: a command run in the node namespace', async (t) => {
  const html = join(cniCache, 'trace.html');
  const r = startTrace(['--json', '--html', html, '--', 'curl', '-s', '-m', '3', 'http://10.96.0.10/']);
  const res = await r.done;
  t.equal(res.code, 0, res.stderr);
  const report = JSON.parse(res.stdout) as TraceReport;
  t.same(ruleChains(report).slice(0, 6), ['OUTPUT', 'KUBE-SERVICES', 'KUBE-SVC-*', 'KUBE-MARK-MASQ', 'KUBE-SVC-*', 'KUBE-SEP-*'], 'nat OUTPUT to the endpoint chain');
  const answered = /^([abc]) /m.exec(res.stderr)?.[1];
  t.ok(answered, `curl's answer (on stderr): ${res.stderr}`);
  t.equal(report.endpoint?.pod?.name, answered, 'the pod in the report is the pod that answered');
  t.equal(report.endpoint?.address, `${world.pod(answered!).ip}:8080`);
  t.equal(report.dnat?.before, '10.96.0.10:80');
  t.equal(report.interface, 'cbr0');
  t.equal(report.bridgePort, `veth${world.pods.findIndex((p) => p.name === answered)}`, 'the bridge port the pod is behind');
  t.match(report.conntrack?.line, /dst=10\.96\.0\.10 .*dport=80 src=10\.244\.1\.1\d dst=10\.244\.1\.1 sport=8080/);
  t.equal(report.commandExit, 0);
  t.match(readFileSync(html, 'utf8'), /<svg[\s\S]*KUBE-SVC-[\s\S]*pod default\/[abc] on/);
  t.same(await ourTables(), [], 'the tracing table is gone');
});

t.test('NodePort from outside the cluster', async (t) => {
  const { report, answer } = await traceFlow(['--from', EXT_IP, '--to', `${NODE_IP}:30080`], () => world.http(world.ext, NODE_IP, 30080, 1));
  t.same(ruleChains(report).slice(0, 8), ['PREROUTING', 'KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-EXT-*', 'KUBE-MARK-MASQ', 'KUBE-EXT-*', 'KUBE-SVC-*', 'KUBE-SEP-*']);
  t.equal(report.endpoint?.pod?.name, podAnswering((answer as { body?: string }[])[0]?.body));
  t.match(report.snat, { before: new RegExp(`^${EXT_IP}:`), after: /^10\.244\.1\.1:/ }, 'masqueraded to the node');
});

t.test('a Service with no endpoints: the REJECT rule is named', async (t) => {
  const { report, answer } = await traceFlow(['--from', 'cli', '--to', '10.96.0.50:80'], () => world.http(world.pod('cli').netns, '10.96.0.50', 80, 1));
  t.equal((answer as { error?: string }[])[0]?.error, 'ECONNREFUSED');
  t.equal(report.outcome, 'rejected');
  t.equal(report.flow.fromPod, 'cli');
  t.match(report.stoppedBy, { table: 'filter', chain: 'KUBE-SERVICES', source: /--comment "default\/empty:http has no endpoints" .*-j REJECT/ });
  t.notOk(report.endpoint);
});

t.test('hairpin: a pod through its own Service', async (t) => {
  const { report, answer } = await traceFlow(['--from', 'default/a', '--to', '10.96.0.70:80'], () => world.http(world.pod('a').netns, '10.96.0.70', 80, 1));
  t.equal(podAnswering((answer as { body?: string }[])[0]?.body), 'a');
  t.same(ruleChains(report).slice(0, 6), ['PREROUTING', 'KUBE-SERVICES', 'KUBE-SVC-*', 'KUBE-SEP-*', 'KUBE-MARK-MASQ', 'KUBE-SEP-*']);
  t.match(report.hops[0]!.steps.find((s) => s.target === 'KUBE-MARK-MASQ' && s.chain.startsWith('KUBE-SEP-'))?.meaning, /hairpin/);
  t.equal(report.endpoint?.pod?.name, 'a');
});

t.test('session affinity: the affinity rule is named', async (t) => {
  const first = podAnswering((await world.http(world.pod('cli').netns, '10.96.0.20', 80, 1))[0]?.body);
  const { report, answer } = await traceFlow(['--from', 'cli', '--to', '10.96.0.20:80'], () => world.http(world.pod('cli').netns, '10.96.0.20', 80, 1));
  t.equal(podAnswering((answer as { body?: string }[])[0]?.body), first, 'the same pod again');
  const svc = report.hops[0]!.steps.find((s) => s.chain.startsWith('KUBE-SVC-'))!;
  t.match(svc.source, /-m recent --rcheck --seconds 300 --reap --name KUBE-SEP-/);
  t.match(svc.meaning, new RegExp(`session affinity \\(ClientIP, 300 s\\): this client was sent to ${world.pod(first!).ip.replace(/\./g, '\\.')}:8080`));
  t.equal(report.endpoint?.pod?.name, first);
});

t.test('bad input: no packet, unknown node or pod, usage', async (t) => {
  const none = await startTrace(['--to', '10.96.0.99:80', '--timeout', '1s']).done;
  t.equal(none.code, 1);
  t.match(none.stderr, /no packet tcp to 10\.96\.0\.99:80 on node \S+ within 1 s/);
  const quiet = await startTrace(['--to', '10.96.0.10:80', '--', 'true']).done;
  t.equal(quiet.code, 1);
  t.match(quiet.stderr, /no packet tcp to 10\.96\.0\.10:80 on node \S+: the command exited \(status 0\) without sending one/, 'a command that sends nothing ends the wait');
  const node = await run(process.execPath, [TRACE_BIN, '--node', `${world.prefix}-nope`, '--to', '10.96.0.10:80'], { allowFailure: true });
  t.equal(node.code, 1);
  t.match(node.stderr, new RegExp(`node '${world.prefix}-nope' not found.*namespaces here: .*${world.node}`));
  const pod = await startTrace(['--from', 'default/ghost', '--to', '10.96.0.10:80']).done;
  t.equal(pod.code, 1);
  t.match(pod.stderr, /pod 'default\/ghost' not found; pods known on this node: default\/a, default\/b, default\/c, default\/cli/);
  const usage = await startTrace(['--to', 'web:80']).done;
  t.equal(usage.code, 2);
  t.match(usage.stderr, /--to 'web:80': expected an IPv4 ADDR:PORT/);
  t.same(await ourTables(), [], 'no tracing table left behind');
});

t.test('the tracing table is removed on SIGTERM, and after SIGKILL by --cleanup', async (t) => {
  const term = startTrace(['--to', '10.96.0.98:80', '--timeout', '60s']);
  await tracing(term);
  term.child.kill('SIGTERM');
  t.equal((await term.done).code, 143);
  t.same(await ourTables(), [], 'SIGTERM: removed');

  const killed = startTrace(['--to', '10.96.0.98:80', '--timeout', '60s']);
  await tracing(killed);
  killed.child.kill('SIGKILL');
  await killed.done;
  t.equal((await ourTables()).length, 1, 'SIGKILL leaves the table');
  // nft monitor had --pdeathsig: the kernel killed it with its parent.
  await eventually('nft monitor to die with its parent', async () => !(await run('ip', ['netns', 'pids', world.node])).stdout.split('\n').some((pid) => pid && existsSync(`/proc/${pid}/comm`) && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'nft'));
  const cleanup = await startTrace(['--cleanup']).done;
  t.equal(cleanup.code, 0);
  t.match(cleanup.stderr, new RegExp(`removed tracing table kubenode_trace_p${killed.child.pid}_[0-9a-f]+ left by a run that is gone`));
  t.same(await ourTables(), [], '--cleanup removed it');
});
