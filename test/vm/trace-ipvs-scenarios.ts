// kubenode-trace with kubenode-proxy in IPVS mode. IPVS does the DNAT itself, out of nftables'
// sight: the trace shows the ipset rules that accept the packet, and the endpoint comes from the
// IPVS connection table and conntrack. Needs a kernel with IPVS, so it runs INSIDE the test VM
// (test/integration/trace-ipvs.test.ts boots it, as proxy-ipvs.test.ts does for the proxy).
import t from 'tap';
import { createWorld, endpointSlice, eventually, service, startProxy } from '../fixtures/proxy/world.js';
import { tracer } from '../fixtures/trace/world.js';

t.setTimeout(300_000);

const world = await createWorld(t, ['a', 'b', 'c', 'cli']);
await world.startBackends(['a', 'b', 'c']);
const proxy = await startProxy(t, world, ['--proxy-mode', 'ipvs', '--sync-period', '10m']);
const tr = await tracer(t, world);
proxy.write('web.yaml', [
  service({ name: 'web', clusterIP: '10.96.0.10' }),
  endpointSlice(
    'web',
    ['a', 'b', 'c'].map((p) => ({ ip: world.pod(p).ip })),
  ),
]);
await eventually(
  'web in IPVS',
  async () =>
    (await world.exec(world.node, 'ipvsadm', ['-Sn'])).split('\n').filter((l) => l.startsWith('-a -t 10.96.0.10:80 '))
      .length === 3,
  20_000,
  200,
);

t.test('ClusterIP from a pod: the ipset rule, then the IPVS connection names the endpoint', async (t) => {
  const { report, answer } = await tr.flow(['--from', 'cli', '--to', '10.96.0.10:80', '--timeout', '30s'], () =>
    world.http(world.pod('cli').netns, '10.96.0.10', 80, 1),
  );
  const answered = answer[0]?.body?.split(' ')[0];
  t.equal(report.mode, 'ipvs');
  t.same(
    report.hops.slice(0, 2).map((h) => `${h.table} ${h.chain}`),
    ['nat PREROUTING', 'filter INPUT'],
    'to the local Service address, where IPVS takes it',
  );
  t.ok(
    report.hops.flatMap((h) => h.steps).some((s) => /IPVS picks the endpoint/.test(s.meaning ?? '')),
    'the KUBE-CLUSTER-IP accept rule is named',
  );
  t.match(
    report.ipvs,
    { proto: 'TCP', virtual: '10.96.0.10:80', destination: `${world.pod(answered!).ip}:8080` },
    'the IPVS connection',
  );
  t.equal(report.endpoint?.pod?.name, answered, 'the pod in the report answered');
  t.equal(report.dnat?.after, `${world.pod(answered!).ip}:8080`);
});
