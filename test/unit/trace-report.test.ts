// kubenode-trace's pure side on real captured kernel output (test/fixtures/trace/load.ts says how
// it was captured): packets assembled from `nft -a monitor` lines, rules tied back to what
// kubenode-proxy wrote through their handles, and each explained as what it means for Kubernetes.
import t from 'tap';
import { observation, read } from '../fixtures/trace/load.js';
import { buildReport, type TraceReport } from '../../trace/report.js';
import { renderText } from '../../trace/render/text.js';
import { renderHtml, wrap } from '../../trace/render/html.js';

const flow = { proto: 'tcp', to: '10.96.0.10', port: 80 };
const chains = (r: TraceReport) =>
  r.hops.flatMap((h) =>
    h.steps
      .filter((s) => s.kind === 'rule')
      .map((s) => `${s.table} ${s.chain} ${s.verdict}${s.target ? ` ${s.target}` : ''}`),
  );
const meaningOf = (r: TraceReport, chainPrefix: string) =>
  r.hops
    .flatMap((h) => h.steps)
    .filter((s) => s.chain.startsWith(chainPrefix))
    .map((s) => s.meaning ?? '');

t.test('ClusterIP from the node: output hook, endpoint pick, DNAT, masquerade', async (t) => {
  const r = buildReport(observation('clusterip-from-node', flow))!;
  t.same(
    r.hops.map((h) => `${h.table} ${h.chain}`),
    ['nat OUTPUT', 'filter OUTPUT', 'nat POSTROUTING'],
    'the hooks in order',
  );
  t.same(chains(r).slice(0, 6), [
    'nat OUTPUT jump KUBE-SERVICES',
    'nat KUBE-SERVICES jump KUBE-SVC-CDGGSHYLG3RE2FKL',
    'nat KUBE-SVC-CDGGSHYLG3RE2FKL jump KUBE-MARK-MASQ',
    'nat KUBE-MARK-MASQ continue',
    `nat KUBE-SVC-CDGGSHYLG3RE2FKL jump ${r.hops[0]!.steps[4]!.target}`,
    `nat ${r.hops[0]!.steps[4]!.target} accept`,
  ]);
  t.match(meaningOf(r, 'KUBE-SERVICES')[0], 'Service default/web port http: cluster IP 10.96.0.10:80');
  t.match(meaningOf(r, 'KUBE-SVC-')[0], /source is outside the cluster CIDR 10\.244\.0\.0\/16/);
  t.match(
    meaningOf(r, 'KUBE-SVC-')[1],
    /^Service default\/web port http: pick one of 3 endpoints, 33% -> 10\.244\.1\.1[123]:8080 \(pod default\/[abc] on node-1\)/,
  );
  t.match(
    meaningOf(r, 'KUBE-SEP-')[0],
    /^Service default\/web port http: endpoint 10\.244\.1\.1[123]:8080, pod default\/[abc] on node-1: DNAT 10\.96\.0\.10:80 -> 10\.244\.1\.1[123]:8080$/,
  );
  t.equal(r.outcome, 'accepted');
  t.equal(r.dnat?.before, '10.96.0.10:80');
  t.equal(r.dnat?.after, r.endpoint?.address, 'the DNAT target answered');
  t.equal(r.snat?.before.split(':')[0], '192.0.2.1');
  t.equal(r.snat?.after?.split(':')[0], '10.244.1.1', 'masqueraded to the bridge address (from conntrack)');
  t.equal(r.interface, 'cbr0');
  t.ok(r.conntrack?.line.includes('dst=10.96.0.10'));
});

t.test('NodePort from outside: KUBE-NODEPORTS, KUBE-EXT masquerade, forward accepted by mark', async (t) => {
  const r = buildReport(observation('nodeport-from-outside', { proto: 'tcp', to: '192.0.2.1', port: 30080 }))!;
  t.same(
    r.hops.map((h) => `${h.table} ${h.chain}`),
    ['nat PREROUTING', 'filter FORWARD', 'nat POSTROUTING'],
  );
  t.match(meaningOf(r, 'KUBE-SERVICES')[0], 'the destination is a local address: look for a NodePort');
  t.equal(meaningOf(r, 'KUBE-NODEPORTS')[0], 'Service default/web port http: NodePort 30080');
  t.match(meaningOf(r, 'KUBE-EXT-')[0], /external traffic \(externalTrafficPolicy Cluster\): mark for masquerade/);
  t.match(meaningOf(r, 'KUBE-FORWARD')[0], 'marked by kube-proxy: allowed to be forwarded');
  t.equal(r.snat?.before.split(':')[0], '192.0.2.100');
  t.match(r.endpoint?.pod?.name, /^[abc]$/);
});

t.test('a Service without endpoints: the REJECT rule in filter KUBE-SERVICES is named', async (t) => {
  const r = buildReport(observation('no-endpoints', { proto: 'tcp', to: '10.96.0.50', port: 80 }))!;
  t.equal(r.outcome, 'rejected');
  t.equal(r.stoppedBy?.table, 'filter');
  t.equal(r.stoppedBy?.chain, 'KUBE-SERVICES');
  t.equal(
    r.stoppedBy?.source,
    '-d 10.96.0.50/32 -p tcp -m comment --comment "default/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
  );
  t.match(r.stoppedBy?.meaning, /^Service default\/empty port http has no endpoints: REJECT/);
  t.notOk(r.endpoint, 'nobody answered');
  t.notOk(r.conntrack, 'a rejected connection is never confirmed');
  // The packet got a new trace id between nat PREROUTING and filter FORWARD: still one packet.
  t.same(
    r.hops.map((h) => `${h.table} ${h.chain}`),
    ['nat PREROUTING', 'filter FORWARD'],
  );
});

t.test('hairpin: a pod through its own Service is masqueraded', async (t) => {
  const r = buildReport(observation('hairpin', { proto: 'tcp', to: '10.96.0.70', port: 80 }))!;
  t.match(meaningOf(r, 'KUBE-SEP-')[0], 'hairpin: the pod 10.244.1.11 is reaching itself through its Service');
  t.equal(r.endpoint?.pod?.name, 'a');
  t.equal(r.packet.saddr, '10.244.1.11');
  t.equal(r.snat?.after?.split(':')[0], '10.244.1.1');
});

t.test('session affinity: the recent-match rule is named, and handles from a resync still resolve', async (t) => {
  for (const scenario of ['affinity', 'resync-during-trace']) {
    const r = buildReport(observation(scenario, { proto: 'tcp', to: '10.96.0.20', port: 80 }))!;
    const svc = r.hops[0]!.steps.find((s) => s.chain.startsWith('KUBE-SVC-'))!;
    t.match(svc.source, /--rcheck --seconds 300 --reap --name KUBE-SEP-/, `${scenario}: the rule as written`);
    t.match(
      svc.meaning,
      /session affinity \(ClientIP, 300 s\): this client was sent to 10\.244\.1\.13:8080 \(pod default\/c on node-1\) before/,
    );
    t.match(
      r.hops[0]!.steps.find((s) => s.chain.startsWith('KUBE-SEP-'))!.meaning,
      /remember this client for session affinity/,
    );
  }
  t.match(
    read('resync-during-trace.trace'),
    /unknown rule handle \d+ \(verdict jump KUBE-SVC-/,
    'the fixture really has rules nft could not print',
  );
});

t.test('text and HTML renderings', async (t) => {
  const r = buildReport(observation('hairpin', { proto: 'tcp', to: '10.96.0.70', port: 80 }))!;
  const text = renderText(r);
  t.match(text, /^tcp 10\.244\.1\.11:\d+ -> 10\.96\.0\.70:80 on node node-1 \(proxy mode iptables\)\n/);
  t.match(text, /\nDNAT: {7}10\.96\.0\.70:80 -> 10\.244\.1\.11:8080\n/);
  t.match(text, /\nAnswered: {3}10\.244\.1\.11:8080, pod default\/a on node-1\n/);
  const html = renderHtml({ ...r, node: 'node<1>' });
  t.match(html, /^<!doctype html>/);
  t.match(html, /<svg [^>]*viewBox/);
  t.notMatch(html, /<script|src="http|href="http/, 'self-contained');
  t.match(html, /node&lt;1&gt;/, 'text is escaped');
  t.notMatch(html, /node<1>/);
  t.same(wrap('aa bb cc dd', 5), ['aa bb', 'cc dd'], 'meanings wrap at word boundaries');
  t.equal(wrap(Array(40).fill('word').join(' '), 10).length, 4, 'at most four lines');
  for (const s of [
    'KUBE-SVC-WB3MK3LNQLB56VT3',
    'endpoint 10.244.1.11:8080',
    'pod default/a on node-1',
    '10.244.1.11:8080 (after NAT)',
  ])
    t.ok(html.includes(s), `draws ${s}`);
});
