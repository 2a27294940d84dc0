// kubenode-trace in the proxy's nftables and userspace modes: the world of trace.test.ts
// (test/fixtures/proxy/world.ts) with the proxy mode as a parameter, two scenarios per mode (a
// ClusterIP from the node, a Service with no endpoints), each asserting the chain sequence and
// the final destination. KUBENODE_TRACE_CAPTURE=DIR also records the raw kernel output of each
// scenario (test/fixtures/trace/capture.ts) for the unit tests' fixtures.
import t, { type Test } from 'tap';
import { requireProgram } from '../harness/require.js';
import { endpointSlice, service, startProxy, createWorld } from '../fixtures/proxy/world.js';
import { tracer } from '../fixtures/trace/world.js';
import { captureRaw } from '../fixtures/trace/capture.js';
import type { TraceReport } from '../../trace/report.js';

requireProgram('nft', 'setpriv', 'curl', 'ss');

const ruleChains = (r: TraceReport) =>
  r.hops.flatMap((h) =>
    h.steps
      .filter((s) => s.kind === 'rule')
      .map((s) => s.chain.replace(/^((service|endpoint|external)-)[A-Z0-9]{8}-.*/, '$1*')),
  );
const capture = process.env.KUBENODE_TRACE_CAPTURE;

for (const mode of ['nftables', 'userspace'] as const) {
  t.test(`${mode} mode`, async (t) => {
    const world = await createWorld(t, ['a', 'b', 'cli']);
    await world.startBackends(['a', 'b']);
    const proxy = await startProxy(t, world, ['--proxy-mode', mode, '--sync-period', '10m']);
    const tr = await tracer(t, world);
    const synced = proxy.nextSync();
    proxy.write('svc.yaml', [
      service({ name: 'web', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80 }] }),
      endpointSlice(
        'web',
        ['a', 'b'].map((p) => ({ ip: world.pod(p).ip })),
      ),
      service({ name: 'empty', clusterIP: '10.96.0.50' }),
    ]);
    await synced;
    /** Trace curl's first packet from the node (recording the raw kernel output when asked). */
    const traceCurl = async (t: Test, url: string, scenario: string) => {
      const rec = capture ? await captureRaw(world, `${capture}/${mode}-${scenario}`) : undefined;
      const res = await tr.start(['--json', '--', 'curl', '-s', '-m', '3', url]).done;
      await rec?.stop();
      t.equal(res.code, 0, res.stderr);
      const report = JSON.parse(res.stdout) as TraceReport;
      if (process.env.KUBENODE_TEST_VERBOSE) t.comment(JSON.stringify(report, null, 1));
      t.equal(report.mode, mode);
      return { report, stderr: res.stderr };
    };

    t.test('ClusterIP from the node', async (t) => {
      const { report, stderr } = await traceCurl(t, 'http://10.96.0.10/', 'clusterip-from-node');
      const answered = /^([ab]) /m.exec(stderr)?.[1];
      t.ok(answered, `curl's answer (on stderr): ${stderr}`);
      if (mode === 'nftables') {
        t.same(
          ruleChains(report).slice(0, 7),
          ['filter-output', 'filter-output', 'nat-output', 'services', 'service-*', 'mark-for-masquerade', 'service-*'],
          'our table: no-endpoint and firewall checks, services vmap, the Service chain, masquerade mark, then its DNAT',
        );
        t.notOk(ruleChains(report).includes('endpoint-*'), 'no endpoint chain without session affinity');
        t.match(
          report.hops.flatMap((h) => h.steps).find((s) => s.chain === 'services')?.meaning,
          /verdict map service-ips matched: Service default\/web port http/,
        );
        t.match(
          report.hops.flatMap((h) => h.steps).find((s) => s.chain.startsWith('service-') && /dnat/.test(s.nft))
            ?.meaning,
          /^Service default\/web port http: (pick one of 2 endpoints, 50%|the last \(or only\) endpoint left) -> endpoint 10\.244\.1\.1[12]:8080, pod default\/[ab] on .*: DNAT 10\.96\.0\.10:80 -> 10\.244\.1\.1[12]:8080$/,
        );
        t.match(report.dnat?.after, /^10\.244\.1\.1[12]:8080$/, 'the address it was sent to');
        t.equal(report.endpoint?.pod?.name, answered, 'the pod in the report is the pod that answered');
      } else {
        t.same(ruleChains(report).slice(0, 2), ['OUTPUT', 'KUBE-PORTALS-HOST'], 'nat OUTPUT to the portal');
        const portal = report.hops.flatMap((h) => h.steps).find((s) => s.chain === 'KUBE-PORTALS-HOST')!;
        t.match(
          portal.meaning,
          /Service default\/web port http: cluster IP 10\.96\.0\.10:80 -> DNAT to the proxy's own port \d+ .*opens a second connection/,
        );
        t.match(
          report.userspaceProxy,
          { port: Number(/port (\d+)/.exec(portal.meaning!)![1]), process: /node|kubenode/ },
          'ss -ltnp names the listening proxy',
        );
        t.equal(
          report.endpoint?.address.split(':')[1],
          String(report.userspaceProxy?.port),
          'this packet ends at the proxy',
        );
      }
    });

    t.test('a Service with no endpoints: the reject is named', async (t) => {
      const { report } = await traceCurl(t, 'http://10.96.0.50/', 'no-endpoints');
      t.equal(report.outcome, 'rejected');
      t.notOk(report.endpoint);
      if (mode === 'nftables') {
        t.match(ruleChains(report), ['filter-output', 'service-endpoints-check']);
        t.match(report.stoppedBy?.meaning, /the Service at 10\.96\.0\.50:80 has no endpoints: REJECT/);
        t.match(
          report.hops.flatMap((h) => h.steps).find((s) => s.chain === 'service-endpoints-check')?.meaning,
          /verdict map no-endpoint-services matched/,
        );
      } else {
        t.match(report.stoppedBy, {
          table: 'filter',
          chain: 'KUBE-PORTALS-REJECT',
          meaning: /Service default\/empty port http has no endpoints: REJECT/,
        });
      }
    });
  });
}
