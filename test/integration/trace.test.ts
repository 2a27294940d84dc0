// kubenode-trace against real packets: the proxy integration world (test/fixtures/proxy/world.ts:
// a node namespace running kubenode-proxy in iptables mode, pods on its bridge, a machine outside)
// and the real kernel's nftables tracing. Each scenario asserts the chains the packet met and the
// pod that answered, which the test also learns from the answer itself.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { requireProgram } from '../harness/require.js';
import {
  endpointSlice,
  EXT_IP,
  eventually,
  NODE_IP,
  service,
  startProxy,
  createWorld,
} from '../fixtures/proxy/world.js';
import { TRACE_BIN, tracer } from '../fixtures/trace/world.js';
import type { TraceReport } from '../../trace/report.js';

requireProgram('nft', 'setpriv', 'curl');

const world = await createWorld(t, ['a', 'b', 'c', 'cli']);
await world.startBackends(['a', 'b', 'c']);
// A long resync period: a full resync would recreate the `recent` lists mid-test.
const proxy = await startProxy(t, world, ['--sync-period', '10m']);

const tr = await tracer(t, world);
const cniCache = tr.cniCache;

const synced = proxy.nextSync();
proxy.write('svc.yaml', [
  service({
    name: 'web',
    clusterIP: '10.96.0.10',
    type: 'NodePort',
    ports: [{ name: 'http', port: 80, nodePort: 30080 }],
  }),
  endpointSlice(
    'web',
    ['a', 'b', 'c'].map((p) => ({ ip: world.pod(p).ip })),
  ),
  service({ name: 'empty', clusterIP: '10.96.0.50' }),
  service({ name: 'self', clusterIP: '10.96.0.70' }),
  endpointSlice('self', [{ ip: world.pod('a').ip }]),
  service({ name: 'sticky', clusterIP: '10.96.0.20', sessionAffinity: 'ClientIP', affinitySeconds: 300 }),
  endpointSlice(
    'sticky',
    ['a', 'b', 'c'].map((p) => ({ ip: world.pod(p).ip })),
  ),
]);
await synced;

const startTrace = tr.start;
const ourTables = tr.tables;
const tracing = tr.tracing;
const traceFlow = tr.flow;

const ruleChains = (r: TraceReport) =>
  r.hops.flatMap((h) =>
    h.steps.filter((s) => s.kind === 'rule').map((s) => s.chain.replace(/^(KUBE-(SVC|SEP|EXT)-).*/, '$1*')),
  );
const podAnswering = (body: string | undefined) => body?.split(' ')[0];

t.test('ClusterIP from the node: a command run in the node namespace', async (t) => {
  const html = join(cniCache, 'trace.html');
  const r = startTrace(['--json', '--html', html, '--', 'curl', '-s', '-m', '3', 'http://10.96.0.10/']);
  const res = await r.done;
  t.equal(res.code, 0, res.stderr);
  const report = JSON.parse(res.stdout) as TraceReport;
  t.same(
    ruleChains(report).slice(0, 6),
    ['OUTPUT', 'KUBE-SERVICES', 'KUBE-SVC-*', 'KUBE-MARK-MASQ', 'KUBE-SVC-*', 'KUBE-SEP-*'],
    'nat OUTPUT to the endpoint chain',
  );
  const answered = /^([abc]) /m.exec(res.stderr)?.[1];
  t.ok(answered, `curl's answer (on stderr): ${res.stderr}`);
  t.equal(report.endpoint?.pod?.name, answered, 'the pod in the report is the pod that answered');
  t.equal(report.endpoint?.address, `${world.pod(answered!).ip}:8080`);
  t.equal(report.dnat?.before, '10.96.0.10:80');
  t.equal(report.interface, 'cbr0');
  t.equal(
    report.bridgePort,
    `veth${world.pods.findIndex((p) => p.name === answered)}`,
    'the bridge port the pod is behind',
  );
  t.match(report.conntrack?.line, /dst=10\.96\.0\.10 .*dport=80 src=10\.244\.1\.1\d dst=10\.244\.1\.1 sport=8080/);
  t.equal(report.commandExit, 0);
  t.match(readFileSync(html, 'utf8'), /<svg[\s\S]*KUBE-SVC-[\s\S]*pod default\/[abc] on/);
  t.same(await ourTables(), [], 'the tracing table is gone');
});

t.test('NodePort from outside the cluster', async (t) => {
  const { report, answer } = await traceFlow(['--from', EXT_IP, '--to', `${NODE_IP}:30080`], () =>
    world.http(world.ext, NODE_IP, 30080, 1),
  );
  t.same(ruleChains(report).slice(0, 8), [
    'PREROUTING',
    'KUBE-SERVICES',
    'KUBE-NODEPORTS',
    'KUBE-EXT-*',
    'KUBE-MARK-MASQ',
    'KUBE-EXT-*',
    'KUBE-SVC-*',
    'KUBE-SEP-*',
  ]);
  t.equal(report.endpoint?.pod?.name, podAnswering((answer as { body?: string }[])[0]?.body));
  t.match(report.snat, { before: new RegExp(`^${EXT_IP}:`), after: /^10\.244\.1\.1:/ }, 'masqueraded to the node');
});

t.test('a Service with no endpoints: the REJECT rule is named', async (t) => {
  const { report, answer } = await traceFlow(['--from', 'cli', '--to', '10.96.0.50:80'], () =>
    world.http(world.pod('cli').netns, '10.96.0.50', 80, 1),
  );
  t.equal((answer as { error?: string }[])[0]?.error, 'ECONNREFUSED');
  t.equal(report.outcome, 'rejected');
  t.equal(report.flow.fromPod, 'cli');
  t.match(report.stoppedBy, {
    table: 'filter',
    chain: 'KUBE-SERVICES',
    source: /--comment "default\/empty:http has no endpoints" .*-j REJECT/,
  });
  t.notOk(report.endpoint);
});

t.test('hairpin: a pod through its own Service', async (t) => {
  const { report, answer } = await traceFlow(['--from', 'default/a', '--to', '10.96.0.70:80'], () =>
    world.http(world.pod('a').netns, '10.96.0.70', 80, 1),
  );
  t.equal(podAnswering((answer as { body?: string }[])[0]?.body), 'a');
  t.same(ruleChains(report).slice(0, 6), [
    'PREROUTING',
    'KUBE-SERVICES',
    'KUBE-SVC-*',
    'KUBE-SEP-*',
    'KUBE-MARK-MASQ',
    'KUBE-SEP-*',
  ]);
  t.match(
    report.hops[0]!.steps.find((s) => s.target === 'KUBE-MARK-MASQ' && s.chain.startsWith('KUBE-SEP-'))?.meaning,
    /hairpin/,
  );
  t.equal(report.endpoint?.pod?.name, 'a');
});

t.test('session affinity: the affinity rule is named', async (t) => {
  const first = podAnswering((await world.http(world.pod('cli').netns, '10.96.0.20', 80, 1))[0]?.body);
  const { report, answer } = await traceFlow(['--from', 'cli', '--to', '10.96.0.20:80'], () =>
    world.http(world.pod('cli').netns, '10.96.0.20', 80, 1),
  );
  t.equal(podAnswering((answer as { body?: string }[])[0]?.body), first, 'the same pod again');
  const svc = report.hops[0]!.steps.find((s) => s.chain.startsWith('KUBE-SVC-'))!;
  t.match(svc.source, /-m recent --rcheck --seconds 300 --reap --name KUBE-SEP-/);
  t.match(
    svc.meaning,
    new RegExp(
      `session affinity \\(ClientIP, 300 s\\): this client was sent to ${world.pod(first!).ip.replace(/\./g, '\\.')}:8080`,
    ),
  );
  t.equal(report.endpoint?.pod?.name, first);
});

t.test('bad input: no packet, unknown node or pod, usage', async (t) => {
  const none = await startTrace(['--to', '10.96.0.99:80', '--timeout', '1s']).done;
  t.equal(none.code, 1);
  t.match(none.stderr, /no packet tcp to 10\.96\.0\.99:80 on node \S+ within 1 s/);
  const quiet = await startTrace(['--to', '10.96.0.10:80', '--', 'true']).done;
  t.equal(quiet.code, 1);
  t.match(
    quiet.stderr,
    /no packet tcp to 10\.96\.0\.10:80 on node \S+: the command exited \(status 0\) without sending one/,
    'a command that sends nothing ends the wait',
  );
  const node = await run(process.execPath, [TRACE_BIN, '--node', `${world.prefix}-nope`, '--to', '10.96.0.10:80'], {
    allowFailure: true,
  });
  t.equal(node.code, 1);
  t.match(node.stderr, new RegExp(`node '${world.prefix}-nope' not found.*namespaces here: .*${world.node}`));
  const pod = await startTrace(['--from', 'default/ghost', '--to', '10.96.0.10:80']).done;
  t.equal(pod.code, 1);
  t.match(
    pod.stderr,
    /pod 'default\/ghost' not found; pods known on this node: default\/a, default\/b, default\/c, default\/cli/,
  );
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
  await eventually(
    'nft monitor to die with its parent',
    async () =>
      !(await run('ip', ['netns', 'pids', world.node])).stdout
        .split('\n')
        .some(
          (pid) => pid && existsSync(`/proc/${pid}/comm`) && readFileSync(`/proc/${pid}/comm`, 'utf8').trim() === 'nft',
        ),
  );
  const cleanup = await startTrace(['--cleanup']).done;
  t.equal(cleanup.code, 0);
  t.match(
    cleanup.stderr,
    new RegExp(`removed tracing table kubenode_trace_p${killed.child.pid}_[0-9a-f]+ left by a run that is gone`),
  );
  t.same(await ourTables(), [], '--cleanup removed it');
});
