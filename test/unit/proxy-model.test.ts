// The proxy's model and change tracking: validation with field and reason, the merge of
// EndpointSlices, what counts as a change, manifests from --services-dir, flags, and the
// conntrack entries that go stale.
import t from 'tap';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import { staleConntrack, conntrackArgs } from '../../proxy/conntrack/plan.js';
import { parseFlags, parseDuration, FlagError } from '../../proxy/flags.js';
import { parseEndpointSlice } from '../../proxy/model/endpoint-slice.js';
import { parseService } from '../../proxy/model/service.js';
import { endpointsKey } from '../../proxy/model/types.js';
import { parseIpAddrJson, addressesInCidrs } from '../../proxy/node-addresses.js';
import { parseIPv4Network } from '../../lib/ip.js';
import { serviceHealthTargets } from '../../proxy/server/service-health.js';
import { parseManifest } from '../../proxy/sources/manifest.js';
import { ChangeTracker } from '../../proxy/tracker/change-tracker.js';

const svc = (name: string, spec: Record<string, unknown> = {}): V1Service =>
  ({
    metadata: { name, namespace: 'default' },
    spec: { clusterIP: '10.96.0.10', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }], ...spec },
  }) as V1Service;
const slice = (name: string, service: string, ips: string[], extra: Record<string, unknown> = {}): V1EndpointSlice =>
  ({
    metadata: { name, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: ips.map((ip) => ({ addresses: [ip], nodeName: 'node-1', conditions: { ready: true } })),
    ports: [{ name: 'dns', port: 5353, protocol: 'UDP' }],
    ...extra,
  }) as V1EndpointSlice;

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return { log: createLogger('test', { sink: (l) => lines.push(JSON.parse(l)), level: 'debug' }), lines };
}

t.test('Service validation names the field and the reason', async (t) => {
  const cases: Array<[Record<string, unknown>, string, RegExp]> = [
    [{ clusterIP: '10.96.0.300' }, 'spec.clusterIP', /not a valid IPv4/],
    [{ clusterIP: '' }, 'spec.clusterIP', /missing/],
    [{ ports: [{ name: 'x', port: 70000 }] }, 'spec.ports[0].port', /not a port/],
    [{ ports: [{ name: 'x', port: 80, protocol: 'ICMP' }] }, 'spec.ports[0].protocol', /TCP, UDP or SCTP/],
    [{ ports: [{ port: 80 }, { port: 81 }] }, 'spec.ports[0].name', /required/],
    [{ ports: [{ name: 'a', port: 80, nodePort: 30000 }] }, 'spec.ports[0].nodePort', /only NodePort/],
    [{ externalIPs: ['1.2.3'] }, 'spec.externalIPs[0]', /not a valid IPv4/],
    [
      { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 0 } } },
      'spec.sessionAffinityConfig.clientIP.timeoutSeconds',
      /1\.\.86400/,
    ],
  ];
  for (const [spec, field, reason] of cases) {
    const r = parseService(svc('web', spec));
    t.same(r.ports, [], `${field}: no ports from an invalid Service`);
    const e = r.errors.find((x) => x.field === field);
    t.ok(e, `error on ${field}`);
    t.match(e?.reason, reason);
  }
  t.match(
    parseService({
      metadata: { name: 'Bad"Name', namespace: 'default' },
      spec: { clusterIP: '10.96.0.1', ports: [{ port: 80 }] },
    }).errors[0],
    { field: 'metadata.name' },
    'names that could break a rule comment are refused',
  );
  t.equal(parseService(svc('web', { clusterIP: 'None' })).ignoredReason, 'headless Service (clusterIP None)');
  t.match(parseService(svc('web', { type: 'ExternalName', externalName: 'x.example' })).ignoredReason, /ExternalName/);
  const ok = parseService(
    svc('web', {
      type: 'NodePort',
      externalTrafficPolicy: 'Local',
      ports: [{ name: 'dns', port: 53, nodePort: 30053, protocol: 'UDP' }],
    }),
  );
  t.same(ok.errors, []);
  t.equal(ok.ports[0]!.name, 'default/web:dns');
  t.equal(ok.ports[0]!.externalPolicyLocal, true);
  t.equal(
    parseService(svc('web', { externalTrafficPolicy: 'Local' })).ports[0]!.externalPolicyLocal,
    false,
    'ETP means nothing for a ClusterIP-only Service',
  );
});

t.test('EndpointSlice parsing: conditions, ports, and what is refused', async (t) => {
  const r = parseEndpointSlice({
    ...slice('web-1', 'web', []),
    endpoints: [
      { addresses: ['10.244.1.5'], conditions: {} },
      { addresses: ['10.244.1.6'], conditions: { ready: false, serving: true, terminating: true }, nodeName: 'n2' },
    ],
  } as V1EndpointSlice);
  t.same(r.errors, []);
  const eps = r.ports.get(endpointsKey('default/web:dns', 'UDP'))!;
  t.same(
    eps.map((e) => [e.ip, e.port, e.ready, e.serving, e.terminating, e.nodeName]),
    [
      ['10.244.1.5', 5353, true, true, false, ''],
      ['10.244.1.6', 5353, false, true, true, 'n2'],
    ],
    'unknown conditions mean ready',
  );
  const noLabel = parseEndpointSlice({
    metadata: { name: 'x', namespace: 'default' },
    addressType: 'IPv4',
    endpoints: [],
  } as unknown as V1EndpointSlice);
  t.match(noLabel.errors[0], { field: 'metadata.labels["kubernetes.io/service-name"]', reason: /missing/ });
  const badIp = parseEndpointSlice({ ...slice('x', 'web', ['10.0.0.256']) });
  t.match(badIp.errors[0], { field: 'endpoints[0].addresses[0]' });
  t.match(parseEndpointSlice({ ...slice('x', 'web', []), addressType: 'IPv6' }).ignoredReason, /IPv4 only/);
});

t.test('change tracker: merges slices, ignores no-op updates, keeps the last good version', async (t) => {
  const { log, lines } = capture();
  let requests = 0;
  const tr = new ChangeTracker(log, () => requests++);
  tr.updateService(svc('dns'));
  tr.updateEndpointSlice(slice('dns-a', 'dns', ['10.244.1.6', '10.244.1.5']));
  tr.updateEndpointSlice(slice('dns-b', 'dns', ['10.244.2.7']));
  let s = tr.takeState();
  t.same([...s.changed], ['default/dns']);
  t.same(
    s.endpoints.get('default/dns:dns/UDP')!.map((e) => e.ip),
    ['10.244.1.5', '10.244.1.6', '10.244.2.7'],
    'merged and ordered',
  );
  const before = requests;
  tr.updateService({ ...svc('dns'), metadata: { name: 'dns', namespace: 'default', annotations: { a: 'b' } } });
  tr.updateEndpointSlice(slice('dns-b', 'dns', ['10.244.2.7']));
  t.equal(tr.takeState().changed.size, 0, 'an update that changes nothing the proxy uses is not a change');
  t.equal(requests, before, 'and asks for no sync');

  tr.updateService(svc('dns', { clusterIP: 'not-an-ip' }));
  s = tr.takeState();
  t.equal(s.changed.size, 0);
  t.equal(s.services.get('default/dns')![0]!.clusterIP, '10.96.0.10', 'the previous valid version stays');
  const err = lines.find((l) => l.msg === 'Service rejected')!;
  t.equal(err.object, 'Service default/dns');
  t.match(err.errors, [/spec\.clusterIP: "not-an-ip" is not a valid IPv4 address/]);

  tr.deleteEndpointSlice(slice('dns-a', 'dns', []));
  s = tr.takeState();
  t.same([...s.changed], ['default/dns']);
  t.same(
    s.endpoints.get('default/dns:dns/UDP')!.map((e) => e.ip),
    ['10.244.2.7'],
  );
  const orphanWarnings = () =>
    lines.filter((l) => String(l.msg).startsWith('EndpointSlice for a Service that does not exist'));
  tr.deleteService(svc('dns'));
  s = tr.takeState();
  t.notOk(s.services.has('default/dns'));
  t.same(
    orphanWarnings(),
    [],
    "a deleted Service's slices, which the garbage collector removes next, are not warned about",
  );
  tr.updateEndpointSlice(slice('typo-a', 'dnss', ['10.244.3.1']));
  tr.takeState();
  t.match(
    orphanWarnings(),
    [{ object: 'EndpointSlice default/typo-a', service: 'default/dnss' }],
    'a slice naming a Service that never existed is logged with its name',
  );
  tr.updateService(svc('headless', { clusterIP: 'None' }));
  tr.updateEndpointSlice(slice('headless-a', 'headless', ['10.244.3.2']));
  tr.takeState();
  t.equal(orphanWarnings().length, 1, "a headless Service's slices (not proxied, but normal) are not warned about");

  const held = tr.takeState();
  tr.updateService(svc('other'));
  t.notOk(held.services.has('default/other'), 'a taken state does not change under a running sync');
});

t.test('manifests: several documents, Lists, bad documents skipped with a reason', async (t) => {
  const text = `apiVersion: v1
kind: Service
metadata: {name: a}
spec: {clusterIP: 10.96.0.1, ports: [{port: 80}]}
---
apiVersion: v1
kind: List
items:
- {apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: a-1, labels: {kubernetes.io/service-name: a}}, addressType: IPv4, endpoints: []}
- {apiVersion: v1, kind: ConfigMap, metadata: {name: c}}
---
key: [unclosed
---
`;
  const r = parseManifest('svc.yaml', text);
  t.same(
    r.objects.map((o) => `${o.kind} ${o.obj.metadata?.name}`),
    ['Service a', 'EndpointSlice a-1'],
  );
  t.equal(r.errors.length, 2);
  t.match(r.errors[0], /svc\.yaml \(document 2\) item 1: ConfigMap default\/c .*skipped/);
  t.match(r.errors[1], /svc\.yaml \(document 3\): not YAML/);
  t.equal(r.unreadable, false);
  const junk = parseManifest('junk.yaml', '{{{{ not yaml');
  t.equal(junk.unreadable, true);
  t.match(junk.errors[0], /junk\.yaml/);
});

t.test('flags: kube-proxy names, durations, and clear errors', async (t) => {
  const f = parseFlags([
    '--services-dir',
    '/tmp/x',
    '--cluster-cidr=10.244.0.0/16,fd00::/48',
    '--min-sync-period',
    '250ms',
    '--sync-period=1m30s',
    '--nodeport-addresses',
    '192.0.2.0/24',
    '--hostname-override',
    'Node-A',
  ]);
  t.equal(f.proxyMode, 'iptables');
  t.equal(f.clusterCIDR?.text, '10.244.0.0/16');
  t.equal(f.minSyncPeriodMs, 250);
  t.equal(f.syncPeriodMs, 90_000);
  t.equal(f.hostnameOverride, 'node-a');
  t.same(
    f.nodePortAddresses.map((c) => c.text),
    ['192.0.2.0/24'],
  );
  t.equal(f.healthzBindAddress, '0.0.0.0:10256');
  t.equal(f.metricsBindAddress, '127.0.0.1:10249');
  t.equal(parseDuration('x', '1.5s'), 1500);
  t.throws(
    () => parseFlags(['--services-dir', '/x', '--sync-period', 'soon']),
    /--sync-period: "soon" is not a duration/,
  );
  t.throws(
    () => parseFlags(['--services-dir', '/x', '--proxy-mode', 'kernelspace']),
    /--proxy-mode: "kernelspace" is not/,
  );
  t.match(
    parseFlags(['--services-dir', '/x', '--proxy-mode', 'userspace']),
    { proxyMode: 'userspace', udpIdleTimeoutMs: 250 },
    "userspace mode, upstream's 250ms UDP timeout",
  );
  t.equal(parseFlags(['--services-dir', '/x', '--udp-timeout', '2s']).udpIdleTimeoutMs, 2000);
  t.throws(() => parseFlags(['--services-dir', '/x', '--udp-timeout', '0']), /--udp-timeout: must be greater than 0/);
  t.throws(() => parseFlags(['--services-dir', '/x', '--cluster-cidr', '10.244.0.0/33']), /--cluster-cidr/);
  t.throws(() => parseFlags(['--bogus']), FlagError);
  t.throws(() => parseFlags([]), /--kubeconfig .* or --services-dir/);
  t.equal(parseFlags(['--cleanup']).cleanup, true, '--cleanup needs no source');
});

t.test('stale UDP conntrack entries', async (t) => {
  const tr = new ChangeTracker(capture().log);
  tr.updateService(
    svc('dns', {
      type: 'NodePort',
      externalIPs: ['198.51.100.7'],
      ports: [{ name: 'dns', port: 53, nodePort: 30053, protocol: 'UDP' }],
    }),
  );
  const empty = tr.takeState();
  tr.updateEndpointSlice(slice('dns-a', 'dns', ['10.244.1.5', '10.244.1.6']));
  const two = tr.takeState();
  t.same(
    staleConntrack(empty, two, 'node-1')
      .map((d) => d.kind)
      .sort(),
    ['nodeport', 'service', 'service'],
    'no endpoints -> some: flush the Service IPs and NodePort',
  );
  tr.updateEndpointSlice(slice('dns-a', 'dns', ['10.244.1.5']));
  const one = tr.takeState();
  const d = staleConntrack(two, one, 'node-1');
  t.same(d.map(conntrackArgs), [
    ['-D', '-p', 'udp', '--orig-dst', '10.96.0.10', '--orig-port-dst', '53', '--dst-nat', '10.244.1.6'],
    ['-D', '-p', 'udp', '--orig-dst', '198.51.100.7', '--orig-port-dst', '53', '--dst-nat', '10.244.1.6'],
    ['-D', '-p', 'udp', '--orig-port-dst', '30053', '--dst-nat', '10.244.1.6'],
  ]);
  tr.updateService(svc('tcp', { clusterIP: '10.96.0.11', ports: [{ name: 'dns', port: 53, protocol: 'TCP' }] }));
  tr.updateEndpointSlice({
    ...slice('tcp-a', 'tcp', ['10.244.1.9']),
    ports: [{ name: 'dns', port: 53, protocol: 'TCP' }],
  });
  t.same(staleConntrack(one, tr.takeState(), 'node-1'), [], 'TCP needs no help');
});

t.test('node addresses and health check targets', async (t) => {
  const json = JSON.stringify([
    {
      ifname: 'lo',
      addr_info: [
        { family: 'inet', local: '127.0.0.1' },
        { family: 'inet6', local: '::1' },
      ],
    },
    { ifname: 'eth1', addr_info: [{ family: 'inet', local: '192.0.2.1' }] },
    { ifname: 'cbr0', addr_info: [{ family: 'inet', local: '10.244.1.1' }] },
  ]);
  const addrs = parseIpAddrJson(json);
  t.same(addrs, ['127.0.0.1', '192.0.2.1', '10.244.1.1']);
  t.same(
    addressesInCidrs(addrs, [parseIPv4Network('192.0.2.0/24')!, parseIPv4Network('127.0.0.0/8')!]),
    ['192.0.2.1'],
    'loopback excluded',
  );

  const tr = new ChangeTracker(capture().log);
  tr.updateService(
    svc('lb', {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32000,
      ports: [{ name: 'dns', port: 53, nodePort: 30053, protocol: 'UDP' }],
    }),
  );
  tr.updateEndpointSlice({
    ...slice('lb-a', 'lb', []),
    endpoints: [
      { addresses: ['10.244.1.5'], nodeName: 'node-1', conditions: { ready: true } },
      { addresses: ['10.244.1.6'], nodeName: 'node-1', conditions: { ready: false } },
      { addresses: ['10.244.2.5'], nodeName: 'node-2', conditions: { ready: true } },
    ],
  } as V1EndpointSlice);
  t.same([...serviceHealthTargets(tr.takeState(), 'node-1')], [['default/lb', { port: 32000, localEndpoints: 1 }]]);
});
