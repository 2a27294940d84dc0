// The nftables planner is pure: these tests check the script text it writes for representative
// Services (which map element sends a packet where, which chains exist, what each rule says),
// and that one endpoint change becomes one small transaction that never makes nft list anything.
import t from 'tap';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { parseEndpointSlice } from '../../proxy/model/endpoint-slice.js';
import { parseService } from '../../proxy/model/service.js';
import type { Endpoint } from '../../proxy/model/types.js';
import { parseListing } from '../../proxy/nftables/nft.js';
import { type NftPlanConfig, planNftService, type ServicePlan } from '../../proxy/nftables/service-plan.js';
import {
  noPending,
  type Pending,
  PENDING_LIMIT,
  renderFullSync,
  renderPartialSync,
} from '../../proxy/nftables/transactions.js';

const cfg: NftPlanConfig = {
  nodeName: 'node-1',
  clusterCIDR: '10.244.0.0/16',
  masqueradeAll: false,
  nodeIPs: ['192.0.2.1'],
};

interface Ep {
  ip: string;
  node?: string;
  ready?: boolean;
  serving?: boolean;
  terminating?: boolean;
}

function svc(spec: Record<string, unknown>, status?: Record<string, unknown>, name = 'web'): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: 'default' },
    spec: { clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP' }], ...spec },
    status,
  } as V1Service;
}

function endpoints(
  eps: Ep[],
  service = 'web',
  ports = [{ name: 'http', port: 8080, protocol: 'TCP' }],
): Map<string, Endpoint[]> {
  const slice = {
    metadata: { name: `${service}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': service } },
    addressType: 'IPv4',
    endpoints: eps.map((e) => ({
      addresses: [e.ip],
      nodeName: e.node ?? 'node-1',
      conditions: {
        ready: e.ready ?? true,
        serving: e.serving ?? e.ready ?? true,
        terminating: e.terminating ?? false,
      },
    })),
    ports,
  } as V1EndpointSlice;
  return parseEndpointSlice(slice).ports;
}

function plan(
  s: V1Service,
  eps: Ep[],
  c: NftPlanConfig = cfg,
): ServicePlan & { chain: (prefix: string) => string[]; element: (map: string) => string[] } {
  const parsed = parseService(s);
  if (parsed.errors.length) throw new Error(JSON.stringify(parsed.errors));
  const ports = parsed.ports.map((p) => ({ name: p.portName, port: 8080, protocol: p.protocol }));
  const p = planNftService(parsed.key!, parsed.ports, endpoints(eps, s.metadata!.name, ports), c);
  return {
    ...p,
    chain: (prefix) => p.chains.find((ch) => ch.name.startsWith(prefix))?.rules ?? [],
    element: (map) => p.elements.filter((e) => e.map === map).map((e) => (e.value ? `${e.key} : ${e.value}` : e.key)),
  };
}

const SVC = /^service-[A-Z2-7]{8}-default\/web\/tcp\/http$/;

t.test('ClusterIP with three endpoints: one map element, a uniform pick whose rules DNAT, hairpin pairs', async (t) => {
  const p = plan(svc({}), [{ ip: '10.244.1.11' }, { ip: '10.244.1.12' }, { ip: '10.244.1.13' }]);
  const svcChain = p.chains.find((c) => SVC.test(c.name))!;
  t.ok(svcChain, 'the Service port chain is named after it, as upstream names it');
  t.same(p.element('service-ips'), [`10.96.0.10 . tcp . 80 : goto ${svcChain.name}`]);
  t.same(p.element('cluster-ips'), ['10.96.0.10'], 'other ports of the ClusterIP are rejected');
  t.same(p.element('no-endpoint-services'), []);
  t.equal(
    svcChain.rules[0],
    'ip daddr 10.96.0.10 tcp dport 80 ip saddr != 10.244.0.0/16 jump mark-for-masquerade',
    'off-cluster sources are masqueraded',
  );
  t.same(
    svcChain.rules.slice(1),
    [
      'numgen random mod 3 0 meta l4proto tcp dnat to 10.244.1.11:8080',
      'numgen random mod 2 0 meta l4proto tcp dnat to 10.244.1.12:8080',
      'meta l4proto tcp dnat to 10.244.1.13:8080',
    ],
    'the first endpoint takes 1/3, the second half of the rest, the last what is left; a dnat ends the chain',
  );
  t.equal(p.chains.length, 1, 'no chain per endpoint');
  t.same(
    p.hairpins,
    ['10.244.1.11 . 10.244.1.11', '10.244.1.12 . 10.244.1.12', '10.244.1.13 . 10.244.1.13'],
    'a pod sent to itself is masqueraded',
  );
  t.same(p.sets, []);
});

t.test('no endpoints: REJECT through the no-endpoint maps, no chains', async (t) => {
  const p = plan(svc({ type: 'NodePort', ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30080 }] }), []);
  t.same(p.chains, []);
  t.same(p.element('no-endpoint-services'), ['10.96.0.10 . tcp . 80 : goto reject-chain']);
  t.same(p.element('no-endpoint-nodeports'), ['tcp . 30080 : goto reject-chain']);
  t.same(p.element('service-ips'), []);
});

t.test('NodePort, externalIPs and UDP: external chain masquerades, then the Service chain', async (t) => {
  const p = plan(
    svc(
      {
        type: 'NodePort',
        externalIPs: ['203.0.113.5'],
        ports: [{ name: 'dns', port: 53, protocol: 'UDP', nodePort: 30053 }],
      },
      undefined,
      'dns',
    ),
    [{ ip: '10.244.1.11' }],
  );
  const ext = p.chains.find((c) => c.name.startsWith('external-'))!;
  t.match(ext.name, /^external-[A-Z2-7]{8}-default\/dns\/udp\/dns$/);
  t.same(p.element('service-nodeports'), [`udp . 30053 : goto ${ext.name}`]);
  t.same(
    p.element('service-ips').sort(),
    [
      `10.96.0.10 . udp . 53 : goto ${ext.name.replace('external-', 'service-')}`,
      `203.0.113.5 . udp . 53 : goto ${ext.name}`,
    ].sort(),
  );
  t.same(ext.rules, ['jump mark-for-masquerade', `goto ${ext.name.replace('external-', 'service-')}`]);
  t.equal(p.chain('service-')[1], 'meta l4proto udp dnat to 10.244.1.11:8080');
});

t.test(
  'externalTrafficPolicy Local: only local endpoints, pods and the node short-circuited, DROP without local ones',
  async (t) => {
    const spec = {
      type: 'LoadBalancer',
      externalTrafficPolicy: 'Local',
      healthCheckNodePort: 32100,
      ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30030 }],
    };
    const status = { loadBalancer: { ingress: [{ ip: '203.0.113.30' }] } };
    const p = plan(svc(spec, status), [{ ip: '10.244.1.11' }, { ip: '10.244.2.12', node: 'node-2' }]);
    const local = p.chains.find((c) => c.name.startsWith('local-'))!;
    t.same(local.rules.length, 1);
    t.equal(
      local.rules[0],
      'meta l4proto tcp dnat to 10.244.1.11:8080',
      "the local chain has only this node's endpoint",
    );
    t.same(
      p.chain('service-').slice(1),
      ['numgen random mod 2 0 meta l4proto tcp dnat to 10.244.1.11:8080', 'meta l4proto tcp dnat to 10.244.2.12:8080'],
      'the cluster chain both',
    );
    const ext = p.chain('external-');
    t.match(ext[0], /^ip saddr 10\.244\.0\.0\/16 goto service-/, 'pods go to every endpoint');
    t.match(ext[1], /^fib saddr type local jump mark-for-masquerade/);
    t.match(ext[2], /^fib saddr type local goto service-/);
    t.equal(ext[3], `goto ${local.name}`, 'the rest to local endpoints, unmasqueraded');

    const remoteOnly = plan(svc(spec, status), [{ ip: '10.244.2.12', node: 'node-2' }]);
    t.same(
      remoteOnly.element('no-endpoint-nodeports'),
      ['tcp . 30030 : drop'],
      'DROP, not REJECT: endpoints exist elsewhere',
    );
    t.same(remoteOnly.element('no-endpoint-services'), ['203.0.113.30 . tcp . 80 : drop']);
    t.equal(remoteOnly.chain('external-').length, 3, 'the external chain still short-circuits pods and the node');
    t.ok(
      remoteOnly.chains.some((c) => SVC.test(c.name)),
      'and the Service chain they go to exists',
    );
  },
);

t.test(
  'internalTrafficPolicy Local: the ClusterIP goes to the local chain, DROP without local endpoints',
  async (t) => {
    const p = plan(svc({ internalTrafficPolicy: 'Local' }), [
      { ip: '10.244.1.11' },
      { ip: '10.244.2.12', node: 'node-2' },
    ]);
    t.match(p.element('service-ips')[0], /^10\.96\.0\.10 \. tcp \. 80 : goto local-/);
    t.same(
      p.chains.map((c) => c.rules),
      [['meta l4proto tcp dnat to 10.244.1.11:8080']],
      'the local chain only, without the remote endpoint',
    );
    const none = plan(svc({ internalTrafficPolicy: 'Local' }), [{ ip: '10.244.2.12', node: 'node-2' }]);
    t.same(none.element('no-endpoint-services'), ['10.96.0.10 . tcp . 80 : drop']);
  },
);

t.test('sessionAffinity ClientIP: a set per endpoint, checked before the random pick, updated at DNAT', async (t) => {
  const p = plan(svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } }), [
    { ip: '10.244.1.11' },
    { ip: '10.244.1.12' },
  ]);
  t.same(
    p.sets.map((s) => s.timeoutSeconds),
    [300, 300],
  );
  const rules = p.chains.find((c) => SVC.test(c.name))!.rules;
  t.match(
    rules[1],
    /^ip saddr @affinity-[A-Z2-7]{8}-default\/web\/tcp\/http__10\.244\.1\.11\/8080 goto endpoint-.*__10\.244\.1\.11\/8080$/,
  );
  t.match(rules[3], /^numgen random mod 2 0 goto/);
  t.match(p.chain('endpoint-')[1], /^update @affinity-.* \{ ip saddr \}$/);
  t.same(
    p.chain('endpoint-'),
    [p.chain('endpoint-')[0], p.chain('endpoint-')[1], 'meta l4proto tcp dnat to 10.244.1.11:8080'],
    'then the DNAT, in the endpoint chain',
  );
  t.equal(p.chains.length, 3, 'affinity Services keep a chain per endpoint');
});

t.test(
  'loadBalancerSourceRanges: a firewall element before DNAT, the node admitted when its address is in range',
  async (t) => {
    const p = plan(
      svc(
        {
          type: 'LoadBalancer',
          loadBalancerSourceRanges: ['192.0.2.0/24'],
          ports: [{ name: 'http', port: 80, protocol: 'TCP', nodePort: 30040 }],
        },
        { loadBalancer: { ingress: [{ ip: '203.0.113.40' }] } },
      ),
      [{ ip: '10.244.1.11' }],
    );
    const fw = p.chains.find((c) => c.name.startsWith('firewall-'))!;
    t.same(p.element('firewall-ips'), [`203.0.113.40 . tcp . 80 : goto ${fw.name}`]);
    t.same(fw.rules, ['ip saddr != { 192.0.2.0/24, 203.0.113.40 } drop']);
  },
);

t.test('terminating endpoints serve only when none is ready', async (t) => {
  const p = plan(svc({}), [
    { ip: '10.244.1.11', ready: false, serving: true, terminating: true },
    { ip: '10.244.1.12', ready: false, serving: false, terminating: true },
  ]);
  t.same(p.chain('service-').slice(1), ['meta l4proto tcp dnat to 10.244.1.11:8080']);
});

const skeleton = { masqueradeMark: '0x4000', nodePortIPs: 'all' as const };
const threeEps = [{ ip: '10.244.1.11' }, { ip: '10.244.1.12' }, { ip: '10.244.1.13' }];

t.test('a full sync: fixed part, chains as blocks, elements as map blocks, stale chains deleted', async (t) => {
  const a = plan(svc({}), threeEps);
  const out = renderFullSync({
    plans: [a],
    skeleton,
    existingChains: new Set(['service-OLD-default/gone/tcp/http']),
    existingSets: new Map(),
    maxChainsPerTransaction: Infinity,
  });
  t.equal(out.scripts.length, 1, 'one transaction');
  const s = out.scripts[0]!;
  t.match(s, /^add chain ip kubenode nat-prerouting \{ type nat hook prerouting priority -100 ; \}$/m);
  t.match(
    s,
    /^add chain ip kubenode services \{ ip daddr \. meta l4proto \. th dport vmap @service-ips ; fib daddr type local ip daddr != 127\.0\.0\.0\/8 meta l4proto \. th dport vmap @service-nodeports ; \}$/m,
  );
  t.match(
    s,
    /^add map ip kubenode service-ips \{ type ipv4_addr \. inet_proto \. inet_service : verdict ; elements = \{ 10\.96\.0\.10 \. tcp \. 80 : goto service-/m,
  );
  t.match(s, /^delete chain ip kubenode service-OLD-default\/gone\/tcp\/http$/m);
  t.notMatch(s, /^(list|add rule|add element) /m, 'nothing that makes nft read the table, but the one deletion');
  t.equal(out.counts.chainsDeleted, 1);
  const refill = s.indexOf(
    'add set ip kubenode endpoint-hairpins { type ipv4_addr . ipv4_addr ; elements = { 10.244.1.11 . 10.244.1.11, ',
  );
  t.ok(
    s.indexOf('flush set ip kubenode endpoint-hairpins\n') < refill && refill > 0,
    'a full sync empties the hairpin pairs and writes the current ones',
  );
  const split = renderFullSync({
    plans: [a, plan(svc({ clusterIP: '10.96.0.11' }, undefined, 'api'), threeEps)],
    skeleton,
    existingChains: new Set(),
    existingSets: new Map(),
    maxChainsPerTransaction: 1,
  });
  t.equal(split.scripts.length, 2, 'split: whole Services per transaction, the maps in the last');
  t.notMatch(split.scripts[0]!, /service-ips/);
});

t.test('two Services claiming one address and port: the first keeps it', async (t) => {
  const a = plan(svc({ externalIPs: ['203.0.113.9'] }), threeEps);
  const b = plan(svc({ clusterIP: '10.96.0.11', externalIPs: ['203.0.113.9'] }, undefined, 'other'), threeEps);
  const out = renderFullSync({
    plans: [a, b],
    skeleton,
    existingChains: new Set(),
    existingSets: new Map(),
    maxChainsPerTransaction: Infinity,
  });
  t.same(
    out.conflicts.map((c) => [c.service, c.owner, c.key]),
    [['default/other', 'default/web', '203.0.113.9 . tcp . 80']],
  );
  t.equal(out.scripts[0]!.match(/203\.0\.113\.9 \. tcp \. 80/g)!.length, 1, 'one element, no failed transaction');
});

const emptyFull = (plans: ServicePlan[]) =>
  renderFullSync({
    plans,
    skeleton,
    existingChains: new Set(),
    existingSets: new Map(),
    maxChainsPerTransaction: Infinity,
  });

t.test('one endpoint change: the one chain rewritten, a new hairpin pair added, nothing deleted', async (t) => {
  const before = plan(svc({}), threeEps);
  const full = emptyFull([before]);
  t.match(
    full.scripts[0]!,
    /^add set ip kubenode endpoint-hairpins \{ type ipv4_addr \. ipv4_addr ; elements = \{ 10\.244\.1\.11 \. 10\.244\.1\.11, /m,
  );
  const pending: Pending = noPending();
  const hairpins = new Set(full.hairpins);
  const after = plan(svc({}), threeEps.slice(0, 2));
  const { script, counts, applied } = renderPartialSync(
    [{ service: 'default/web', old: full.applied.get('default/web'), next: after }],
    full.owners,
    pending,
    hairpins,
  );
  const lines = script.trim().split('\n');
  t.equal(lines.length, 2, `a flush and a chain block:\n${script}`);
  t.match(lines[0], /^flush chain ip kubenode service-\S+$/);
  t.match(
    lines[1],
    /^add chain ip kubenode service-\S+ \{ ip daddr 10\.96\.0\.10 .* ; numgen random mod 2 0 meta l4proto tcp dnat to 10\.244\.1\.11:8080 ; meta l4proto tcp dnat to 10\.244\.1\.12:8080 ; \}$/,
  );
  t.notMatch(
    script,
    /^(list|delete|add rule|add element) /m,
    'no listing, no deletion: nothing that makes nft read the table',
  );
  t.same(counts, { chainsWritten: 1, chainsDeleted: 0, elementsWritten: 0 });
  t.equal(pending.chains.size + pending.sets.size, 0, 'nothing left to delete');

  // A new endpoint address: its hairpin pair is added, never one removed.
  const moved = plan(svc({}), [{ ip: '10.244.1.11' }, { ip: '10.244.1.14' }]);
  const next = renderPartialSync(
    [{ service: 'default/web', old: applied.get('default/web'), next: moved }],
    full.owners,
    pending,
    hairpins,
  );
  t.match(
    next.script,
    /^add set ip kubenode endpoint-hairpins \{ type ipv4_addr \. ipv4_addr ; elements = \{ 10\.244\.1\.14 \. 10\.244\.1\.14 \} ; \}$/m,
  );
  t.ok(hairpins.has('10.244.1.13 . 10.244.1.13'), 'a stale pair stays (harmless, see skeleton.ts)');
  t.notMatch(next.script, /^(list|delete|add rule|add element) /m);
});

t.test('pending deletions wait for a deletion of elements, or for PENDING_LIMIT of them', async (t) => {
  const aff = { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } };
  const web = plan(svc(aff), threeEps);
  const api = plan(svc({ clusterIP: '10.96.0.11' }, undefined, 'api'), threeEps);
  const full = emptyFull([web, api]);
  const pending: Pending = noPending();
  const hairpins = new Set(full.hairpins);
  renderPartialSync(
    [{ service: 'default/web', old: full.applied.get('default/web'), next: plan(svc(aff), threeEps.slice(1)) }],
    full.owners,
    pending,
    hairpins,
  );
  t.equal(pending.chains.size, 1, 'the endpoint chain waits');
  const { script, counts } = renderPartialSync(
    [{ service: 'default/api', old: full.applied.get('default/api'), next: undefined }],
    full.owners,
    pending,
    hairpins,
  );
  t.match(script, /^delete element ip kubenode service-ips \{ 10\.96\.0\.11 \. tcp \. 80 \}$/m);
  t.same(
    [...script.matchAll(/^delete chain ip kubenode (\S+)$/gm)].map((m) => m[1]!.replace(/-[A-Z2-7]{8}-/, '-*-')).sort(),
    ['endpoint-*-default/web/tcp/http__10.244.1.11/8080', 'service-*-default/api/tcp/http'],
  );
  t.match(script, /^delete set ip kubenode affinity-\S+__10\.244\.1\.11\/8080$/m);
  t.ok(script.indexOf('flush chain') < script.indexOf('delete chain'), 'the chain is emptied before it goes');
  t.equal(pending.chains.size + pending.sets.size, 0);
  t.equal(counts.chainsDeleted, 2);

  for (let i = 0; i < PENDING_LIMIT - 1; i++) pending.chains.add(`endpoint-X-default/web/tcp/http__10.0.0.${i}/80`);
  const webNow = plan(svc(aff), threeEps.slice(1));
  const again = renderPartialSync(
    [
      {
        service: 'default/web',
        old: full.applied.get('default/web') && {
          ...full.applied.get('default/web')!,
          chains: new Map(webNow.chains.map((c) => [c.name, c.rules.join('\n')])),
          sets: webNow.sets,
        },
        next: plan(svc(aff), threeEps.slice(2)),
      },
    ],
    full.owners,
    pending,
    hairpins,
  );
  t.equal(
    again.script.match(/^delete chain /gm)?.length,
    PENDING_LIMIT,
    'the limit reached: every waiting chain deleted',
  );
  t.equal(pending.chains.size, 0);
});

t.test(
  'sessionAffinity ClientIP: an endpoint change empties the unused endpoint chain, which waits for deletion',
  async (t) => {
    const aff = { sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 300 } } };
    const before = plan(svc(aff), threeEps);
    const full = emptyFull([before]);
    const pending: Pending = noPending();
    const after = plan(svc(aff), threeEps.slice(0, 2));
    const { script } = renderPartialSync(
      [{ service: 'default/web', old: full.applied.get('default/web'), next: after }],
      full.owners,
      pending,
      new Set(full.hairpins),
    );
    t.match(
      script,
      /^flush chain ip kubenode service-\S+\nadd chain ip kubenode service-\S+ \{ .* ; numgen random mod 2 0 goto endpoint-\S+ ; goto endpoint-\S+__10\.244\.1\.12\/8080 ; \}$/m,
    );
    t.match(
      script,
      /^flush chain ip kubenode endpoint-\S+__10\.244\.1\.13\/8080$/m,
      'the unused endpoint chain is emptied',
    );
    t.equal(
      script.match(/^add set ip kubenode affinity-\S+ \{ type ipv4_addr ; flags dynamic,timeout ; timeout 300s ; \}$/gm)
        ?.length,
      2,
      'the sets the rewritten chain names are declared (a no-op), or nft could not evaluate it',
    );
    t.notMatch(script, /^(list|delete|add rule|add element) /m);
    t.equal(pending.chains.size, 1, 'its deletion waits');
    t.equal(pending.sets.size, 1, "and its affinity set's");
  },
);

t.test('a deleted Service: its elements deleted, and its chains with them', async (t) => {
  const before = plan(svc({}), threeEps);
  const full = emptyFull([before]);
  const pending: Pending = { ...noPending(), chains: new Set(['endpoint-OLD-default/x/tcp/http__10.0.0.1/80']) };
  const { script, applied } = renderPartialSync(
    [{ service: 'default/web', old: full.applied.get('default/web'), next: undefined }],
    full.owners,
    pending,
    new Set(full.hairpins),
  );
  t.match(script, /^delete element ip kubenode service-ips \{ 10\.96\.0\.10 \. tcp \. 80 \}$/m);
  t.match(script, /^delete element ip kubenode cluster-ips \{ 10\.96\.0\.10 \}$/m);
  t.equal(script.match(/^delete chain /gm)!.length, 2, 'its chain and the one pending before');
  t.ok(
    script.indexOf('delete element') < script.indexOf('delete chain'),
    'references go before the chains they point to',
  );
  t.equal(applied.get('default/web'), undefined);
  t.equal(full.owners.size, 0, 'its elements are free for another Service');
});

t.test('the first sync reads our leftovers from a listing of every table', async (t) => {
  const chains =
    'table ip nat {\n\tchain PREROUTING {\n\t}\n}\ntable ip kubenode {\n\tchain services {\n\t}\n\tchain service-AAAA-ns/a/tcp/http {\n\t}\n}\n';
  const sets =
    'table ip kubenode {\n\tset affinity-BBBB-ns/a/tcp/http__10.0.0.1/80 {\n\t\ttype ipv4_addr\n\t\tflags dynamic,timeout\n\t\ttimeout 1h30m\n\t}\n}\ntable ip other {\n\tset affinity-x {\n\t\ttimeout 5m\n\t}\n}\n';
  const got = parseListing(chains, sets);
  t.same([...got.chains], ['service-AAAA-ns/a/tcp/http'], 'per-Service chains of our table only');
  t.same([...got.sets], [['affinity-BBBB-ns/a/tcp/http__10.0.0.1/80', 5400]]);
});
