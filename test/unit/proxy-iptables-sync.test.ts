// The iptables planner's large-cluster and periodic-sync behaviour: per-endpoint comments go above 1,000
// endpoints (upstream's largeClusterMode) and per-Service ones stay; localhost NodePorts
// (--iptables-localhost-nodeports) and the KUBE-FIREWALL rule; the canary chain every full sync
// declares. Pure: no kernel here (the integration tier runs the same against real iptables).
import t from 'tap';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { parseEndpointSlice } from '../../proxy/model/endpoint-slice.js';
import { parseService } from '../../proxy/model/service.js';
import type { Endpoint, ServicePort } from '../../proxy/model/types.js';
import { parseIPv4Network } from '../../lib/ip.js';
import { FlagError, parseFlags } from '../../proxy/flags.js';
import { addressesInCidrs } from '../../proxy/node-addresses.js';
import { localhostNodePortsInEffect } from '../../proxy/iptables/localhost.js';
import { newStats, renderFullSync } from '../../proxy/iptables/restore.js';
import type { PlanConfig } from '../../proxy/iptables/types.js';
import { LARGE_CLUSTER_ENDPOINTS, largeClusterMode, planService } from '../../proxy/iptables/service-rules.js';
import { jumpRules, jumpSpec, missingJumps, nodePortsJumpRules } from '../../proxy/iptables/static-rules.js';

const cfg: PlanConfig = {
  nodeName: 'node-1',
  clusterCIDR: '10.244.0.0/16',
  masqueradeAll: false,
  masqueradeMark: '0x4000',
  nodePortIPs: 'all',
  nodeIPs: [],
  localhostNodePorts: true,
  largeCluster: false,
};

/** `services` Services of `perService` endpoints each, as the change tracker would hold them. */
function cluster(services: number, perService: number, extra = 0) {
  const svcs = new Map<string, ServicePort[]>();
  const eps = new Map<string, Endpoint[]>();
  for (let i = 0; i < services; i++) {
    const name = `s${i}`;
    const n = perService + (i === 0 ? extra : 0);
    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name, namespace: 'default' },
      spec: {
        type: 'NodePort',
        clusterIP: `10.96.${i >> 8}.${i & 255}`,
        ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30000 + i }],
      },
    } as V1Service;
    const slice = {
      metadata: { name: `${name}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': name } },
      addressType: 'IPv4',
      endpoints: Array.from({ length: n }, (_, j) => ({
        addresses: [`10.244.${j >> 8}.${j & 255}`],
        nodeName: 'node-1',
        conditions: { ready: true },
      })),
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    } as V1EndpointSlice;
    const parsed = parseService(svc);
    svcs.set(parsed.key!, parsed.ports);
    for (const [k, v] of parseEndpointSlice(slice).ports) eps.set(k, v);
  }
  return { services: svcs, endpoints: eps };
}

/** Every nat line of one planned Service, shared rules and chain bodies. */
function natLines(c: ReturnType<typeof cluster>, svc: string, pc: PlanConfig): string[] {
  const r = planService(svc, c.services.get(svc)!, c.endpoints, pc);
  return [
    ...r.shared.filter((s) => s.table === 'nat').map((s) => s.line),
    ...r.chains.flatMap((ch) => ch.body.trimEnd().split('\n')),
  ];
}

t.test('largeClusterMode: 1,000 endpoints is not large, 1,001 is (upstream: > threshold)', async (t) => {
  t.equal(LARGE_CLUSTER_ENDPOINTS, 1000);
  t.equal(largeClusterMode(cluster(200, 5).services, cluster(200, 5).endpoints), false, '200 x 5 = 1,000');
  const over = cluster(200, 5, 1);
  t.equal(largeClusterMode(over.services, over.endpoints), true, '1,001');
});

t.test('endpoint comments on both sides of the threshold; per-Service comments stay', async (t) => {
  for (const [services, extra, large] of [
    [200, 0, false],
    [200, 1, true],
  ] as const) {
    const c = cluster(services, 5, extra);
    const pc = { ...cfg, largeCluster: largeClusterMode(c.services, c.endpoints) };
    t.equal(pc.largeCluster, large);
    const lines = natLines(c, 'default/s7', pc);
    const sep = lines.filter((l) => l.startsWith('-A KUBE-SEP-'));
    const svcToSep = lines.filter((l) => l.startsWith('-A KUBE-SVC-') && / -j KUBE-SEP-/.test(l));
    t.equal(sep.length, 10, 'two rules per endpoint');
    t.equal(svcToSep.length, 5);
    const commented = (ls: string[]) => ls.filter((l) => l.includes('--comment')).length;
    t.equal(commented(sep), large ? 0 : 10, `KUBE-SEP rules ${large ? 'without' : 'with'} comments`);
    t.equal(commented(svcToSep), large ? 0 : 5, `KUBE-SVC -> KUBE-SEP rules ${large ? 'without' : 'with'} comments`);
    // What says which Service a rule is for stays: the capture rules and the per-Service chains.
    t.ok(lines.some((l) => l.startsWith('-A KUBE-SERVICES') && l.includes('"default/s7:http cluster IP"')));
    t.ok(lines.some((l) => l.startsWith('-A KUBE-NODEPORTS') && l.includes('"default/s7:http"')));
    t.ok(
      lines.some(
        (l) =>
          l.startsWith('-A KUBE-EXT-') && l.includes('masquerade traffic for default/s7:http external destinations'),
      ),
    );
    t.ok(
      lines.some(
        (l) =>
          l.startsWith('-A KUBE-SVC-') && l.includes('-j KUBE-MARK-MASQ') && l.includes('"default/s7:http cluster IP"'),
      ),
    );
    // Without comments the rules still say what they do, in iptables-save's order.
    if (large) {
      t.match(sep, [
        /^-A KUBE-SEP-\w+ -s 10\.244\.0\.0\/32 -j KUBE-MARK-MASQ$/,
        /^-A KUBE-SEP-\w+ -p tcp -m tcp -j DNAT --to-destination 10\.244\.0\.0:8080$/,
      ]);
      t.match(svcToSep[0], /^-A KUBE-SVC-\w+ -m statistic --mode random --probability 0\.2000000000 -j KUBE-SEP-\w+$/);
      t.match(svcToSep[4], /^-A KUBE-SVC-\w+ -j KUBE-SEP-\w+$/);
    }
  }
});

t.test('session affinity rules drop their comments too, and keep their matches', async (t) => {
  const c = cluster(1, 2);
  const ports = c.services.get('default/s0')!.map((sp) => ({ ...sp, affinityTimeoutSeconds: 60 }));
  const r = planService('default/s0', ports, c.endpoints, { ...cfg, largeCluster: true });
  const body = r.chains.map((ch) => ch.body).join('');
  t.notMatch(body, /-> 10\.244/, 'no "svc -> endpoint" comments');
  t.match(
    body,
    /-A KUBE-SVC-\w+ -m recent --rcheck --seconds 60 --reap --name KUBE-SEP-\w+ --mask 255\.255\.255\.255 --rsource -j KUBE-SEP-/,
  );
  t.match(
    body,
    /-A KUBE-SEP-\w+ -p tcp -m recent --set --name KUBE-SEP-\w+ --mask 255\.255\.255\.255 --rsource -m tcp -j DNAT/,
  );
});

t.test('--iptables-localhost-nodeports: in effect when 127.0.0.1 is a NodePort address', async (t) => {
  const cidr = (s: string) => parseIPv4Network(s)!;
  t.equal(localhostNodePortsInEffect(true, []), true, 'every address (the default)');
  t.equal(localhostNodePortsInEffect(true, [cidr('127.0.0.0/8')]), true);
  t.equal(localhostNodePortsInEffect(true, [cidr('192.0.2.0/24')]), false, 'loopback not among --nodeport-addresses');
  t.equal(localhostNodePortsInEffect(false, []), false, 'the flag turns it off');
  t.same(
    addressesInCidrs(['127.0.0.1', '192.0.2.1'], [cidr('0.0.0.0/0')]),
    ['192.0.2.1'],
    'loopback left out without it',
  );
  t.same(addressesInCidrs(['127.0.0.1', '192.0.2.1'], [cidr('0.0.0.0/0')], true), ['127.0.0.1', '192.0.2.1']);
});

t.test('--iptables-localhost-nodeports: true unless =false, as upstream', async (t) => {
  const flags = (...a: string[]) => parseFlags(['--services-dir', '/tmp', ...a]);
  t.equal(flags().iptablesLocalhostNodePorts, true);
  t.equal(flags('--iptables-localhost-nodeports=false').iptablesLocalhostNodePorts, false);
  t.equal(flags('--iptables-localhost-nodeports').iptablesLocalhostNodePorts, true);
  t.throws(
    () => flags('--iptables-localhost-nodeports=maybe'),
    new FlagError('--iptables-localhost-nodeports: "maybe" is not true or false'),
  );
});

t.test('localhost NodePorts: the KUBE-SERVICES tail rule, KUBE-FIREWALL and its jumps', async (t) => {
  const tail = '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
  t.same(
    nodePortsJumpRules(cfg),
    [`-A KUBE-SERVICES ${tail} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`],
    'on: 127.0.0.1 is LOCAL like any node address',
  );
  t.same(
    nodePortsJumpRules({ ...cfg, localhostNodePorts: false }),
    [`-A KUBE-SERVICES ! -d 127.0.0.0/8 ${tail} -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS`],
    'off: loopback excluded',
  );
  const render = (pc: PlanConfig) =>
    [
      ...renderFullSync(
        {
          services: [],
          cfg: pc,
          missingJumps: missingJumps(new Map(), jumpRules(pc)),
          existingChains: new Set(),
          maxChainsPerRestore: Infinity,
        },
        newStats(),
      ),
    ].join('');
  const on = render(cfg);
  const filter = on.slice(on.indexOf('*filter'), on.indexOf('*nat'));
  t.match(filter, /^:KUBE-FIREWALL - \[0:0\]$/m);
  t.match(
    filter,
    /^-A KUBE-FIREWALL ! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP$/m,
  );
  t.match(filter, /^-I INPUT 1 -j KUBE-FIREWALL$/m);
  t.match(filter, /^-I OUTPUT 1 -j KUBE-FIREWALL$/m);
  t.ok(
    filter.indexOf(':KUBE-FIREWALL') < filter.indexOf('-I INPUT 1 -j KUBE-FIREWALL'),
    'the chain exists before anything jumps to it',
  );
  t.notMatch(render({ ...cfg, localhostNodePorts: false }), /KUBE-FIREWALL/, 'off: no firewall chain, no jumps');
  // Present jumps (as iptables -S prints kubelet's or ours) are not inserted again.
  const builtins = new Map([
    ['filter INPUT', ['-A INPUT -j KUBE-FIREWALL']],
    ['filter OUTPUT', ['-A OUTPUT -j KUBE-FIREWALL']],
  ]);
  t.notOk(missingJumps(builtins, jumpRules(cfg)).some((j) => j.target === 'KUBE-FIREWALL'));
  t.equal(jumpSpec(jumpRules(cfg).find((j) => j.target === 'KUBE-FIREWALL')!), '-j KUBE-FIREWALL');
});

t.test('every full sync declares the canary chain in nat and filter, and leaves mangle alone', async (t) => {
  const input = [
    ...renderFullSync(
      { services: [], cfg, missingJumps: [], existingChains: new Set(), maxChainsPerRestore: Infinity },
      newStats(),
    ),
  ].join('');
  t.match(input.slice(input.indexOf('*filter'), input.indexOf('*nat')), /^:KUBE-PROXY-CANARY - \[0:0\]$/m);
  t.match(input.slice(input.indexOf('*nat')), /^:KUBE-PROXY-CANARY - \[0:0\]$/m);
  t.notMatch(input, /\*mangle/);
  t.notMatch(input, /-A KUBE-PROXY-CANARY/, 'and it stays empty');
});
