// kubenode-trace's parsers and small pure helpers: arguments, the tracing table's name and
// content, `nft monitor trace` lines, conntrack lines, the agent's CNI result cache.
import t from 'tap';
import { destinationOf, parseArgs, UsageError } from '../../trace/args.js';
import { parseConntrackLine } from '../../trace/conntrack.js';
import { parseTraceLine } from '../../trace/nft-trace.js';
import { podsFromCacheEntries, resolvePod } from '../../trace/pods.js';
import { iptablesRuleFor, parseIptablesSave, parseNftHandles, splitRule } from '../../trace/ruleset.js';
import { markRules, ownerPid, staleTables, tableName, tableScript } from '../../trace/table.js';
import { read } from '../fixtures/trace/load.js';

t.test('arguments: the two forms, and usage errors', async (t) => {
  t.match(parseArgs(['--node', 'kn-node1', '--', 'curl', '-s', 'http://10.96.0.10/']), {
    node: 'kn-node1',
    to: { ip: '10.96.0.10', port: 80 },
    command: ['curl', '-s', 'http://10.96.0.10/'],
    timeoutMs: 5000,
  });
  t.match(parseArgs(['--from', 'default/cli', '--to', '10.96.0.10:8080', '--proto', 'udp', '--timeout', '500ms']), {
    from: 'default/cli',
    to: { ip: '10.96.0.10', port: 8080 },
    proto: 'udp',
    timeoutMs: 500,
  });
  for (const bad of [
    [],
    ['--to', '10.96.0.10'],
    ['--to', 'svc:80'],
    ['--proto', 'icmp', '--to', '1.2.3.4:1'],
    ['--timeout', 'soon', '--to', '1.2.3.4:1'],
    ['--bogus'],
    ['--'],
    ['--', 'curl', 'http://demo/'],
  ]) {
    t.throws(() => parseArgs(bad), UsageError, `usage error: ${bad.join(' ')}`);
  }
  t.same(destinationOf(['curl', 'https://10.96.0.1/healthz']), { ip: '10.96.0.1', port: 443 });
  t.same(destinationOf(['nc', '-z', '10.96.0.10', '53']), { ip: '10.96.0.10', port: 53 });
  t.same(destinationOf(['wget', '-O-', '10.96.0.10:8080']), { ip: '10.96.0.10', port: 8080 });
});

t.test('the tracing table: pid in the name, stale ones found, content', async (t) => {
  const name = tableName(4242, 'ab12');
  t.equal(name, 'kubenode_trace_p4242_ab12');
  t.equal(ownerPid(name), 4242);
  t.equal(ownerPid('kube-proxy'), undefined);
  const listing =
    'table ip filter\ntable ip nat\ntable ip kubenode_trace_p4242_ab12\ntable ip kubenode_trace_p7_00ff\ntable inet kubenode_trace_p9_0000\n';
  t.same(
    staleTables(listing, (pid) => pid === 7),
    ['kubenode_trace_p4242_ab12'],
    'only ours, only of dead pids',
  );
  const flow = { proto: 'tcp' as const, from: '10.244.1.14', to: '10.96.0.10', port: 80, localOnly: false };
  t.match(
    tableScript(name, flow),
    /^table ip kubenode_trace_p4242_ab12 \{\n\s+chain prerouting \{\n\s+type filter hook prerouting priority -301; policy accept;\n\s+\}\n\s+chain output/,
  );
  t.equal(
    markRules(name, flow),
    'add rule ip kubenode_trace_p4242_ab12 prerouting ip saddr 10.244.1.14 ip daddr 10.96.0.10 tcp dport 80 meta nftrace set 1\nadd rule ip kubenode_trace_p4242_ab12 output ip saddr 10.244.1.14 ip daddr 10.96.0.10 tcp dport 80 meta nftrace set 1\n',
  );
  const local = { proto: 'udp' as const, to: '10.96.0.10', port: 53, localOnly: true };
  t.notMatch(tableScript(name, local) + markRules(name, local), /prerouting/, 'a command on the node: output only');
});

t.test('nft monitor trace lines', async (t) => {
  const lines = read('clusterip-from-node.trace').split('\n');
  const packet = parseTraceLine(lines.find((l) => / ip nat OUTPUT packet: /.test(l))!);
  t.match(packet, {
    kind: 'packet',
    table: 'nat',
    chain: 'OUTPUT',
    packet: { oif: 'eth1', saddr: '192.0.2.1', daddr: '10.96.0.10', proto: 'tcp', dport: 80, flags: 'syn' },
  });
  const rule = parseTraceLine(lines.find((l) => / ip nat KUBE-SERVICES rule /.test(l))!);
  t.match(rule, {
    kind: 'rule',
    verdict: 'jump',
    target: 'KUBE-SVC-CDGGSHYLG3RE2FKL',
    rule: 'meta l4proto tcp ip daddr 10.96.0.10 tcp dport 80 counter packets 0 bytes 0 jump KUBE-SVC-CDGGSHYLG3RE2FKL',
  });
  t.type((rule as { handle?: number }).handle, 'number');
  t.match(
    parseTraceLine(
      'trace id 986f2dcc ip nat KUBE-SERVICES unknown rule handle 778 (verdict jump KUBE-SVC-T2ECBIYT2WDZZK45)',
    ),
    { kind: 'rule', handle: 778, verdict: 'jump', target: 'KUBE-SVC-T2ECBIYT2WDZZK45' },
  );
  t.match(parseTraceLine('trace id 6095609a ip filter FORWARD policy accept '), { kind: 'policy', verdict: 'accept' });
  t.equal(parseTraceLine('add table ip kubenode_trace_p1_fixture # handle 17'), undefined);
});

t.test('handles to iptables-save rules', async (t) => {
  const handles = parseNftHandles(read('no-endpoints.ruleset'));
  const save = parseIptablesSave(read('no-endpoints.iptables-save'));
  t.equal(
    iptablesRuleFor(handles, save, 'ip', 'filter', 'KUBE-SERVICES', 111),
    '-d 10.96.0.50/32 -p tcp -m comment --comment "default/empty:http has no endpoints" -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
  );
  t.equal(iptablesRuleFor(handles, save, 'ip', 'filter', 'KUBE-SERVICES', 999999), undefined);
  t.same(splitRule('-m comment --comment "a b \\"c\\"" -j X'), ['-m', 'comment', '--comment', 'a b "c"', '-j', 'X']);
});

t.test('conntrack lines', async (t) => {
  const e = parseConntrackLine(
    'tcp      6 119 TIME_WAIT src=10.244.1.11 dst=10.96.0.70 sport=52490 dport=80 src=10.244.1.11 dst=10.244.1.1 sport=8080 dport=47732 [ASSURED] mark=0 use=1',
  );
  t.match(e, {
    proto: 'tcp',
    state: 'TIME_WAIT',
    original: { src: '10.244.1.11', dst: '10.96.0.70', sport: 52490, dport: 80 },
    reply: { src: '10.244.1.11', dst: '10.244.1.1', sport: 8080, dport: 47732 },
  });
  t.match(
    parseConntrackLine(
      'udp      17 29 src=10.244.1.14 dst=10.96.0.53 sport=40000 dport=53 src=10.244.1.11 dst=10.244.1.14 sport=8081 dport=40000 mark=0 use=1',
    ),
    { proto: 'udp', original: { dport: 53 }, reply: { sport: 8081 } },
  );
  t.equal(parseConntrackLine('conntrack v1.4.7 (conntrack-tools): 0 flow entries have been shown.'), undefined);
});

t.test('pods from the agent CNI result cache (an entry from an emulated cluster node)', async (t) => {
  const pods = podsFromCacheEntries([JSON.parse(read('cni-cache-entry.json')), { kind: 'other' }], 'trc-node1');
  t.same(
    [...pods],
    [
      [
        '10.244.0.3',
        { namespace: 'default', name: 'demo-7cf5bf9d9b-6jqhc', node: 'trc-node1', hostInterface: 'veth6ebee758' },
      ],
    ],
  );
  t.equal(resolvePod(pods, 'demo-7cf5bf9d9b-6jqhc'), '10.244.0.3');
  t.equal(resolvePod(pods, 'default/demo-7cf5bf9d9b-6jqhc'), '10.244.0.3');
  t.throws(
    () => resolvePod(pods, 'kube-system/demo-7cf5bf9d9b-6jqhc'),
    /pod 'kube-system\/demo-7cf5bf9d9b-6jqhc' not found; pods known on this node: default\/demo-7cf5bf9d9b-6jqhc/,
  );
});
