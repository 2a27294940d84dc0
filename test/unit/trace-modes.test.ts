// kubenode-trace's nftables and userspace explainers on real captured kernel output
// (test/fixtures/trace/load.ts says how it was captured): the same scenarios as the iptables
// ones, with kubenode-proxy in those modes.
import t from 'tap';
import { observation, read } from '../fixtures/trace/load.js';
import { buildReport, type TraceReport } from '../../trace/report.js';
import { renderText } from '../../trace/render/text.js';
import { detectMode } from '../../trace/modes/index.js';
import { nftablesMode, nftServicePort } from '../../trace/modes/nftables.js';
import type { ExplainContext, RuleStep } from '../../trace/modes/types.js';
import { listenerOn } from '../../trace/modes/userspace.js';

const steps = (r: TraceReport) => r.hops.flatMap((h) => h.steps);
const meaningIn = (r: TraceReport, chain: RegExp) =>
  steps(r)
    .filter((s) => chain.test(s.chain))
    .map((s) => s.meaning ?? '');

t.test('nftables mode, ClusterIP from the node: verdict map, Service chain, endpoint, masquerade', async (t) => {
  const r = buildReport(
    observation('nftables-clusterip-from-node', { proto: 'tcp', to: '10.96.0.10', port: 80 }, 'nftables'),
  )!;
  t.same(
    steps(r)
      .filter((s) => s.kind === 'rule')
      .map((s) => s.chain.replace(/^((service|endpoint)-)[A-Z0-9]{8}-.*/, '$1*'))
      .slice(0, 8),
    [
      'filter-output',
      'filter-output',
      'nat-output',
      'services',
      'service-*',
      'mark-for-masquerade',
      'service-*',
      'endpoint-*',
    ],
  );
  t.equal(
    meaningIn(r, /^services$/)[0],
    'verdict map service-ips matched: Service default/web port http: 10.96.0.10:80 is a Service IP and port -> pick an endpoint',
  );
  t.equal(
    meaningIn(r, /^service-/)[0],
    'Service default/web port http: the source is outside the cluster CIDR 10.244.0.0/16, so mark it for masquerade (the endpoint may be on another node)',
  );
  t.equal(
    meaningIn(r, /^service-/)[1],
    'Service default/web port http: the last (or only) endpoint left -> 10.244.1.12:8080 (pod default/b on node-1)',
    'the numgen rule before it did not match',
  );
  t.equal(
    meaningIn(r, /^endpoint-/)[0],
    'Service default/web port http: endpoint 10.244.1.12:8080, pod default/b on node-1: DNAT 10.96.0.10:80 -> 10.244.1.12:8080',
  );
  t.match(meaningIn(r, /^masquerading$/), [
    'marked for masquerade: clear the mark (so it is done once)',
    /^masquerade: the source becomes this node's address/,
  ]);
  t.equal(r.outcome, 'accepted');
  t.same(r.dnat, { before: '10.96.0.10:80', after: '10.244.1.12:8080' });
  t.equal(r.endpoint?.pod?.name, 'b');
  t.equal(r.snat?.after?.split(':')[0], '10.244.1.1', 'masqueraded to the bridge address (from conntrack)');
});

t.test(
  'nftables mode, a Service chain whose rules DNAT themselves (no endpoint chain) and the hairpin mark',
  async (t) => {
    const ctx: ExplainContext = {
      pods: (ip) => (ip === '10.244.1.12' ? { namespace: 'default', name: 'b', node: 'node-1' } : undefined),
      chainRules: () => undefined,
      packet: { daddr: '10.96.0.10', dport: 80 },
    };
    const step = (chain: string, nft: string): RuleStep => ({
      family: 'ip',
      table: 'kubenode',
      chain,
      kind: 'rule',
      nft,
      verdict: 'accept',
    });
    const chain = 'service-SUSTUHLJ-default/web/tcp/http';
    t.equal(
      nftablesMode.explain(step(chain, 'numgen random mod 2 0 meta l4proto tcp dnat to 10.244.1.12:8080'), ctx),
      'Service default/web port http: pick one of 2 endpoints, 50% -> endpoint 10.244.1.12:8080, pod default/b on node-1: DNAT 10.96.0.10:80 -> 10.244.1.12:8080',
    );
    t.equal(
      nftablesMode.explain(step(chain, 'meta l4proto tcp dnat to 10.244.1.13:8080'), ctx),
      'Service default/web port http: the last (or only) endpoint left -> endpoint 10.244.1.13:8080: DNAT 10.96.0.10:80 -> 10.244.1.13:8080',
    );
    t.equal(
      nftablesMode.explain(
        step(
          'masquerading',
          'ct status dnat ip saddr . ip daddr @endpoint-hairpins meta mark set meta mark | 0x00004000',
        ),
        ctx,
      ),
      "hairpin: a pod sent to itself by a Service's DNAT: mark for masquerade, or it would answer itself directly",
    );
  },
);

t.test('nftables mode, no endpoints: the no-endpoint-services map sends it to reject-chain', async (t) => {
  const r = buildReport(
    observation('nftables-no-endpoints', { proto: 'tcp', to: '10.96.0.50', port: 80 }, 'nftables'),
  )!;
  t.equal(r.outcome, 'rejected');
  t.equal(
    meaningIn(r, /^service-endpoints-check$/)[0],
    'verdict map no-endpoint-services matched: 10.96.0.50:80 is a Service IP and port with no endpoints -> reject',
  );
  t.match(r.stoppedBy, {
    table: 'kubenode',
    chain: 'reject-chain',
    nft: 'reject',
    meaning: 'the Service at 10.96.0.50:80 has no endpoints: REJECT (the client is refused at once)',
  });
  t.notOk(r.endpoint);
});

t.test('userspace mode, ClusterIP from the node: DNAT to the proxy, which opens the second connection', async (t) => {
  const r = buildReport(
    observation('userspace-clusterip-from-node', { proto: 'tcp', to: '10.96.0.10', port: 80 }, 'userspace'),
  )!;
  const portal = steps(r).find((s) => s.chain === 'KUBE-PORTALS-HOST')!;
  t.equal(
    portal.meaning,
    "Service default/web port http: cluster IP 10.96.0.10:80 -> DNAT to the proxy's own port 44057 on 192.0.2.1 (from the node itself); the proxy process accepts the connection and opens a second connection, a new flow from this node, to an endpoint it picks",
  );
  t.same(r.userspaceProxy, { port: 44057, process: 'node', pid: 13576 }, 'named from ss -ltnp');
  t.equal(r.endpoint?.address, '192.0.2.1:44057', 'this packet ends at the proxy');
  t.notOk(r.endpoint?.pod);
  t.match(
    renderText(r),
    /\nProxy: {6}port 44057, process node \(pid 13576\): it accepts this connection and opens a new one from the node to an endpoint/,
  );
});

t.test('userspace mode, no endpoints: KUBE-PORTALS-REJECT', async (t) => {
  const r = buildReport(
    observation('userspace-no-endpoints', { proto: 'tcp', to: '10.96.0.50', port: 80 }, 'userspace'),
  )!;
  t.equal(r.outcome, 'rejected');
  t.match(r.stoppedBy, {
    table: 'filter',
    chain: 'KUBE-PORTALS-REJECT',
    meaning:
      'Service default/empty port http has no endpoints: REJECT (icmp-port-unreachable: the client is refused at once)',
  });
  t.notOk(r.userspaceProxy);
});

t.test('mode detection and names', async (t) => {
  t.equal(detectMode(read('userspace-clusterip-from-node.iptables-save'), ''), 'userspace');
  t.equal(
    detectMode(
      read('nftables-clusterip-from-node.iptables-save'),
      'table ip filter\ntable ip kubenode\ntable ip kubenode_trace_p1_fixture\n',
    ),
    'nftables',
  );
  t.equal(detectMode('', 'table ip kubenode_trace_p1_fixture\n'), undefined, 'a tracing table is not the proxy');
  t.equal(nftServicePort('endpoint-IT6PTZ7B-default/web/tcp/http__10.244.1.12/8080'), 'Service default/web port http');
  t.equal(nftServicePort('external-ABCDEFGH-ns/svc/udp/'), 'Service ns/svc');
  t.equal(nftServicePort('services'), undefined);
  t.notOk(listenerOn(read('userspace-clusterip-from-node.ss'), 1), 'no listener on a port nobody listens on');
});
