// The iptables planner is pure: these tests check the properties of the rules it writes for
// representative Services (what each chain jumps to, which endpoints appear where, what every
// rule says in its comment), not a frozen copy of its output.
import t from 'tap';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { parseEndpointSlice } from '../../proxy/model/endpoint-slice.js';
import { parseService } from '../../proxy/model/service.js';
import type { Endpoint, ServicePort } from '../../proxy/model/types.js';
import { createHash } from 'node:crypto';
import { base32, portProtoHash, sepChain, svcChain, svlChain, extChain } from '../../proxy/iptables/names.js';
import { compactRules } from '../../proxy/iptables/applied.js';
import { newStats, renderFullSync, renderPartialSync } from '../../proxy/iptables/restore.js';
import type { PlanConfig } from '../../proxy/iptables/types.js';
import { planService, type ServiceRules } from '../../proxy/iptables/service-rules.js';
import { JUMP_RULES, missingJumps, nodePortsJumpRules } from '../../proxy/iptables/static-rules.js';

const cfg: PlanConfig = {
  nodeName: 'node-1',
  clusterCIDR: '10.244.0.0/16',
  masqueradeAll: false,
  masqueradeMark: '0x4000',
  nodePortIPs: 'all',
  nodeIPs: ['192.0.2.1'],
  localhostNodePorts: true,
  largeCluster: false,
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

function slice(eps: Ep[], ports = [{ name: 'http', port: 8080, protocol: 'TCP' }], service = 'web'): V1EndpointSlice {
  return {
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
}

/** Plan one Service from API objects, as the proxy would. */
function plan(
  s: V1Service,
  eps: Ep[] | undefined,
  c: PlanConfig = cfg,
  ports?: Array<{ name: string; port: number; protocol: string }>,
): { rules: ServiceRules; ports: ServicePort[]; chain: (name: string) => string[]; nat: string[]; filter: string[] } {
  const parsed = parseService(s);
  if (parsed.errors.length) throw new Error(JSON.stringify(parsed.errors));
  const endpoints = eps ? parseEndpointSlice(slice(eps, ports)).ports : new Map<string, Endpoint[]>();
  const rules = planService(parsed.key!, parsed.ports, endpoints, c);
  const nat = [
    ...rules.shared.filter((r) => r.table === 'nat').map((r) => r.line),
    ...rules.chains.flatMap((ch) => ch.body.trimEnd().split('\n')),
  ];
  const filter = rules.shared.filter((r) => r.table === 'filter').map((r) => r.line);
  const chain = (name: string) => [...nat, ...filter].filter((l) => l.startsWith(`-A ${name} `));
  return { rules, ports: parsed.ports, chain, nat, filter };
}

const spn = 'default/web:http';

t.test('chain names are upstream kube-proxy names', async (t) => {
  // The well-known name of the "kubernetes" Service's https port in every cluster.
  t.equal(svcChain('default/kubernetes:https', 'TCP'), 'KUBE-SVC-NPX46M4PTMTKRN6Y');
  t.match(sepChain(spn, 'TCP', '10.244.1.11:8080'), /^KUBE-SEP-[A-Z2-7]{16}$/);
  t.not(sepChain(spn, 'TCP', '10.244.1.11:8080'), sepChain(spn, 'TCP', '10.244.1.12:8080'), 'one chain per endpoint');
  t.not(svcChain(spn, 'TCP'), svcChain(spn, 'UDP'), 'protocol is part of the name');
  t.equal(svcChain(spn, 'TCP').slice(9), svlChain(spn, 'TCP').slice(9), 'SVC and SVL share the hash');
});

t.test('the fast 16-character hash is the base32 of sha256, as upstream computes it', async (t) => {
  for (const s of ['ns/a:http', 'kube-system/kube-dns:dns-tcp', 'x/y', 'default/web:http']) {
    for (const proto of ['TCP', 'UDP', 'SCTP'] as const) {
      t.equal(
        portProtoHash(s, proto),
        base32(
          createHash('sha256')
            .update(s + proto.toLowerCase())
            .digest(),
        ).slice(0, 16),
      );
    }
  }
});

t.test('ClusterIP with three endpoints: capture, spread, DNAT, hairpin', async (t) => {
  const eps = [{ ip: '10.244.1.11' }, { ip: '10.244.1.12' }, { ip: '10.244.1.13' }];
  const { chain, nat, filter } = plan(svc({}), eps);
  const svcC = svcChain(spn, 'TCP');
  t.same(chain('KUBE-SERVICES'), [
    `-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "${spn} cluster IP" -m tcp --dport 80 -j ${svcC}`,
  ]);
  t.same(filter, [], 'nothing rejected');
  const lb = chain(svcC);
  t.match(
    lb[0],
    /! -s 10\.244\.0\.0\/16 -d 10\.96\.0\.10\/32 .* -j KUBE-MARK-MASQ$/,
    'off-cluster sources are masqueraded',
  );
  const spread = lb.slice(1);
  t.equal(spread.length, 3);
  t.match(spread[0], /--probability 0\.3333333333 -j /);
  t.match(spread[1], /--probability 0\.5000000000 -j /);
  t.notMatch(spread[2], /statistic/, 'the last endpoint takes what is left');
  for (const [i, ep] of eps.entries()) {
    const sep = sepChain(spn, 'TCP', `${ep.ip}:8080`);
    t.ok(spread[i]!.endsWith(`-j ${sep}`), `spread rule ${i} jumps to the endpoint's chain`);
    t.ok(spread[i]!.includes(`"${spn} -> ${ep.ip}:8080"`), 'comment names the endpoint');
    t.same(chain(sep), [
      `-A ${sep} -s ${ep.ip}/32 -m comment --comment "${spn}" -j KUBE-MARK-MASQ`,
      `-A ${sep} -p tcp -m comment --comment "${spn}" -m tcp -j DNAT --to-destination ${ep.ip}:8080`,
    ]);
  }
  for (const l of nat) t.ok(l.includes(`--comment "${spn}`), `every rule names the Service port: ${l}`);
});

t.test('no endpoints: REJECT in the filter table for every address, no nat chains', async (t) => {
  const s = svc(
    {
      type: 'LoadBalancer',
      externalIPs: ['198.51.100.7'],
      ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }],
    },
    { loadBalancer: { ingress: [{ ip: '203.0.113.5' }] } },
  );
  const { rules, nat, filter } = plan(s, []);
  t.same(rules.chains, []);
  t.same(nat, []);
  t.equal(filter.length, 4, 'cluster IP, external IP, LB IP, NodePort');
  for (const l of filter) {
    t.ok(l.endsWith('-j REJECT --reject-with icmp-port-unreachable'), l);
    t.ok(l.includes(`"${spn} has no endpoints"`));
  }
  t.ok(filter.some((l) => l.startsWith('-A KUBE-SERVICES -d 10.96.0.10/32')));
  t.ok(filter.some((l) => l.startsWith('-A KUBE-EXTERNAL-SERVICES -d 198.51.100.7/32')));
  t.ok(filter.some((l) => l.startsWith('-A KUBE-EXTERNAL-SERVICES -d 203.0.113.5/32')));
  t.ok(filter.some((l) => l.includes('-m addrtype --dst-type LOCAL -m tcp --dport 30080')));
});

t.test('unready endpoints are not used; terminating-but-serving only when nothing is ready', async (t) => {
  const some = plan(svc({}), [
    { ip: '10.244.1.11' },
    { ip: '10.244.1.12', ready: false, serving: true, terminating: true },
    { ip: '10.244.1.13', ready: false, serving: false },
  ]);
  const lb = some.chain(svcChain(spn, 'TCP')).slice(1);
  t.equal(lb.length, 1);
  t.ok(lb[0]!.includes('10.244.1.11:8080'));

  const fallback = plan(svc({}), [
    { ip: '10.244.1.12', ready: false, serving: true, terminating: true },
    { ip: '10.244.1.13', ready: false, serving: false, terminating: true },
  ]);
  const lb2 = fallback.chain(svcChain(spn, 'TCP')).slice(1);
  t.equal(lb2.length, 1, 'only the serving one');
  t.ok(lb2[0]!.includes('10.244.1.12:8080'));
  t.same(fallback.filter, []);

  const none = plan(svc({}), [{ ip: '10.244.1.13', ready: false, serving: false }]);
  t.same(none.rules.chains, []);
  t.match(none.filter[0], /REJECT/);
});

t.test('sessionAffinity ClientIP: recent checks before the spread, recent set at DNAT', async (t) => {
  const { chain } = plan(
    svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 600 } } }),
    [{ ip: '10.244.1.11' }, { ip: '10.244.1.12' }],
  );
  const lb = chain(svcChain(spn, 'TCP')).slice(1);
  t.equal(lb.length, 4);
  for (const l of lb.slice(0, 2))
    t.match(
      l,
      /-m recent --rcheck --seconds 600 --reap --name (KUBE-SEP-\S+) --mask 255\.255\.255\.255 --rsource -j \1$/,
    );
  t.match(lb[2], /statistic/);
  for (const ep of ['10.244.1.11', '10.244.1.12']) {
    const sep = sepChain(spn, 'TCP', `${ep}:8080`);
    t.match(
      chain(sep)[1],
      new RegExp(
        `-m recent --set --name ${sep} --mask 255.255.255.255 --rsource .*-j DNAT --to-destination ${ep}:8080$`,
      ),
    );
  }
  const defaults = parseService(svc({ sessionAffinity: 'ClientIP' }));
  t.equal(defaults.ports[0]!.affinityTimeoutSeconds, 10800, 'default timeout is three hours');
});

t.test('NodePort with externalTrafficPolicy Cluster: masquerade everything external', async (t) => {
  const { chain } = plan(
    svc({ type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }] }),
    [{ ip: '10.244.1.11' }, { ip: '10.244.2.5', node: 'node-2' }],
  );
  const ext = extChain(spn, 'TCP');
  t.same(chain('KUBE-NODEPORTS'), [
    `-A KUBE-NODEPORTS -p tcp -m comment --comment "${spn}" -m tcp --dport 30080 -j ${ext}`,
  ]);
  const e = chain(ext);
  t.match(e[0], /-j KUBE-MARK-MASQ$/);
  t.ok(e[1]!.endsWith(`-j ${svcChain(spn, 'TCP')}`));
  t.equal(chain(svcChain(spn, 'TCP')).length, 3, 'both endpoints, local and remote');
});

t.test(
  'externalTrafficPolicy Local: only local endpoints, client IP kept, pods and node short-circuited',
  async (t) => {
    const s = svc(
      {
        type: 'LoadBalancer',
        externalTrafficPolicy: 'Local',
        healthCheckNodePort: 32000,
        ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }],
      },
      { loadBalancer: { ingress: [{ ip: '203.0.113.5' }] } },
    );
    const { chain, ports, filter, nat } = plan(s, [{ ip: '10.244.1.11' }, { ip: '10.244.2.5', node: 'node-2' }]);
    t.equal(ports[0]!.healthCheckNodePort, 32000);
    const ext = chain(extChain(spn, 'TCP'));
    t.notOk(
      ext.some((l) => /-j KUBE-MARK-MASQ$/.test(l) && !l.includes('--src-type LOCAL')),
      'external clients are not masqueraded',
    );
    t.ok(
      ext.some((l) => l.includes('-s 10.244.0.0/16') && l.endsWith(`-j ${svcChain(spn, 'TCP')}`)),
      'pods use all endpoints',
    );
    t.ok(
      ext.some((l) => l.includes('--src-type LOCAL') && l.endsWith('-j KUBE-MARK-MASQ')),
      'the node itself is masqueraded',
    );
    t.ok(ext[ext.length - 1]!.endsWith(`-j ${svlChain(spn, 'TCP')}`), 'everything else goes to the local chain');
    const svl = chain(svlChain(spn, 'TCP'));
    t.equal(svl.length, 1);
    t.ok(svl[0]!.includes('10.244.1.11:8080'), 'only the local endpoint');
    t.ok(nat.some((l) => l.includes('203.0.113.5/32') && l.includes('loadbalancer IP')));
    t.same(filter, [
      `-A KUBE-NODEPORTS -p tcp -m comment --comment "${spn} health check node port" -m tcp --dport 32000 -j ACCEPT`,
    ]);

    const noLocal = plan(s, [{ ip: '10.244.2.5', node: 'node-2' }]);
    t.notOk(
      noLocal.chain(extChain(spn, 'TCP')).some((l) => l.includes('KUBE-SVL')),
      'no local endpoints: nothing to send external traffic to',
    );
    const drops = noLocal.filter.filter((l) => l.endsWith('-j DROP'));
    t.equal(drops.length, 2, 'LB IP and NodePort dropped (not rejected: endpoints exist elsewhere)');
    for (const d of drops) t.ok(d.includes('has no local endpoints'));
    t.ok(
      noLocal.nat.some((l) => l.startsWith('-A KUBE-SERVICES -d 10.96.0.10/32')),
      'the cluster IP still works',
    );
  },
);

t.test('internalTrafficPolicy Local: the cluster IP goes to local endpoints only', async (t) => {
  const s = svc({ internalTrafficPolicy: 'Local' });
  const { chain, rules } = plan(s, [{ ip: '10.244.1.11' }, { ip: '10.244.2.5', node: 'node-2' }]);
  t.ok(chain('KUBE-SERVICES')[0]!.endsWith(`-j ${svlChain(spn, 'TCP')}`));
  t.notOk(
    rules.chains.some((c) => c.name === svcChain(spn, 'TCP')),
    'no cluster-wide chain needed',
  );
  t.equal(chain(svlChain(spn, 'TCP')).length, 1);
  const noLocal = plan(s, [{ ip: '10.244.2.5', node: 'node-2' }]);
  t.same(noLocal.nat, []);
  t.match(noLocal.filter[0], /has no local endpoints.* -j DROP$/);
});

t.test('UDP and SCTP use their own protocol matches', async (t) => {
  for (const protocol of ['UDP', 'SCTP'] as const) {
    const p = protocol.toLowerCase();
    const { chain } = plan(svc({ ports: [{ name: 'dns', port: 53, protocol }] }), [{ ip: '10.244.1.11' }], cfg, [
      { name: 'dns', port: 5353, protocol },
    ]);
    const n = `default/web:dns`;
    const c = chain('KUBE-SERVICES')[0]!;
    t.ok(c.includes(`-p ${p} `) && c.includes(`-m ${p} --dport 53`), c);
    t.match(
      chain(sepChain(n, protocol, '10.244.1.11:5353'))[1],
      new RegExp(`-p ${p} .*-m ${p} -j DNAT --to-destination 10.244.1.11:5353`),
    );
  }
});

t.test('loadBalancerSourceRanges: a firewall chain and a DROP for the rest', async (t) => {
  const s = svc(
    {
      type: 'LoadBalancer',
      loadBalancerSourceRanges: ['198.51.100.0/24', '192.0.2.0/24'],
      ports: [{ name: 'http', port: 80, nodePort: 30080, protocol: 'TCP' }],
    },
    { loadBalancer: { ingress: [{ ip: '203.0.113.5' }] } },
  );
  const { chain, filter, rules } = plan(s, [{ ip: '10.244.1.11' }]);
  const fw = rules.chains.find((c) => c.name.startsWith('KUBE-FW-'))!;
  t.ok(fw);
  const fwRules = chain(fw.name);
  t.ok(fwRules.some((l) => l.includes('-s 198.51.100.0/24')));
  t.ok(
    fwRules.some((l) => l.includes('-s 203.0.113.5/32')),
    'the node (192.0.2.1 is in a range) may reach its own VIP',
  );
  t.ok(chain('KUBE-SERVICES').some((l) => l.includes('203.0.113.5') && l.endsWith(`-j ${fw.name}`)));
  t.ok(filter.some((l) => l.startsWith('-A KUBE-PROXY-FIREWALL -d 203.0.113.5/32') && l.endsWith('-j DROP')));
});

t.test('--nodeport-addresses limits the NodePort capture to those node IPs', async (t) => {
  t.match(nodePortsJumpRules(cfg)[0], /--dst-type LOCAL -j KUBE-NODEPORTS$/);
  const limited = nodePortsJumpRules({ ...cfg, nodePortIPs: ['192.0.2.1', '198.51.100.1'] });
  t.same(
    limited.map((l) => l.split(' ')[3]),
    ['192.0.2.1/32', '198.51.100.1/32'],
  );
});

t.test('--masquerade-all masquerades every cluster IP packet', async (t) => {
  const { chain } = plan(svc({}), [{ ip: '10.244.1.11' }], { ...cfg, masqueradeAll: true });
  const first = chain(svcChain(spn, 'TCP'))[0]!;
  t.notMatch(first, /! -s/);
  t.match(first, /-d 10\.96\.0\.10\/32 .* -j KUBE-MARK-MASQ$/);
});

t.test('full sync: only our chains declared, shared chains last, chunking keeps Services whole', async (t) => {
  const services = Array.from({ length: 20 }, (_, i) => {
    const name = `s${i}`;
    const parsed = parseService(svc({ clusterIP: `10.96.1.${i + 1}` }, undefined, name));
    const eps = parseEndpointSlice(
      slice([{ ip: `10.244.1.${i + 10}` }, { ip: `10.244.2.${i + 10}` }], undefined, name),
    ).ports;
    return planService(parsed.key!, parsed.ports, eps, cfg);
  });
  const stats = newStats();
  const existing = new Set(['KUBE-SVC-OLDOLDOLDOLDOLDO', 'DOCKER', 'KUBE-SERVICES', services[0]!.chains[0]!.name]);
  const one = [
    ...renderFullSync(
      { services, cfg, missingJumps: missingJumps(new Map()), existingChains: existing, maxChainsPerRestore: Infinity },
      stats,
    ),
  ];
  t.equal(one.length, 1, 'one transaction per table');
  const text = one[0]!;
  t.notMatch(
    text,
    /^:(PREROUTING|INPUT|OUTPUT|POSTROUTING|FORWARD) /m,
    'built-in chains are never declared (that would flush them)',
  );
  for (const j of JUMP_RULES)
    t.ok(
      text.includes(`-I ${j.builtin} 1 `) && text.includes(`"${j.comment}" -j ${j.target}`),
      `jump ${j.table} ${j.builtin} -> ${j.target}`,
    );
  t.match(
    text,
    /:KUBE-SVC-OLDOLDOLDOLDOLDO - \[0:0\]\n[\s\S]*-X KUBE-SVC-OLDOLDOLDOLDOLDO\nCOMMIT/,
    'stale chains flushed, then deleted',
  );
  t.equal([...text.matchAll(/^-X /gm)].length, 1, 'only the stale Service chain: not DOCKER, not live chains');
  t.equal(stats.staleChains, 1);
  const natPart = text.slice(text.indexOf('*nat'));
  const natLines = natPart.split('\n').filter((l) => l.startsWith('-A KUBE-SERVICES'));
  t.equal(natLines.length, 21);
  t.match(natLines[natLines.length - 1], /NOTE: this must be the last rule/);
  t.equal(stats.chainsWritten, 20 * 3);
  t.equal(
    stats.natRules,
    text.split('\n').filter((l) => l.startsWith('-A ') && text.indexOf(l) > text.indexOf('*nat')).length,
    'nat rules counted',
  );

  const chunked = [
    ...renderFullSync(
      { services, cfg, missingJumps: [], existingChains: new Set(), maxChainsPerRestore: 10 },
      newStats(),
    ),
  ];
  t.ok(chunked.length >= 6, `split into ${chunked.length} transactions`);
  const declared = new Set<string>();
  for (const [i, input] of chunked.entries()) {
    const decl = [...input.matchAll(/^:(KUBE-(?:SVC|SEP)-\S+) /gm)].map((m) => m[1]!);
    t.ok(decl.length <= 10, `restore ${i} declares ${decl.length} Service chains`);
    for (const d of decl) declared.add(d);
    // Every jump target of a chunk exists by the time it runs.
    for (const m of input.matchAll(/-j (KUBE-(?:SVC|SEP)-\S+)/g))
      t.ok(declared.has(m[1]!), `target ${m[1]} declared no later than restore ${i}`);
    t.equal(
      [...input.matchAll(/^COMMIT$/gm)].length,
      i < chunked.length - 1 ? 1 : 2,
      'each piece is whole transactions',
    );
    if (i < chunked.length - 1) t.notMatch(input, /KUBE-SERVICES/, 'shared chains only in the last transaction');
  }
  t.equal(declared.size, 60);
});

t.test('partial sync: an endpoint change rewrites only that Service chain and the endpoint chain', async (t) => {
  const before = plan(svc({}), [{ ip: '10.244.1.11' }, { ip: '10.244.1.12' }]).rules;
  const after = plan(svc({}), [{ ip: '10.244.1.11' }]).rules;
  const { input } = renderPartialSync([{ service: 'default/web', old: compactRules(before), next: after }]);
  const gone = sepChain(spn, 'TCP', '10.244.1.12:8080');
  const kept = sepChain(spn, 'TCP', '10.244.1.11:8080');
  t.notMatch(input, /KUBE-SERVICES/, 'shared chains untouched');
  t.notMatch(input, /\*filter/);
  t.match(input, new RegExp(`^:${svcChain(spn, 'TCP')} `, 'm'));
  t.notMatch(input, new RegExp(`^(:${kept}|-A ${kept}) `, 'm'), 'unchanged endpoint chain not rewritten');
  t.match(input, new RegExp(`-j ${kept}$`, 'm'), 'but still jumped to');
  t.match(input, new RegExp(`^:${gone} - \\[0:0\\]$[\\s\\S]*^-X ${gone}$`, 'm'));

  const same = renderPartialSync([{ service: 'default/web', old: compactRules(after), next: after }]);
  t.equal(same.input, '', 'no change, no restore');

  const none = plan(svc({}), []).rules;
  const toNone = renderPartialSync([{ service: 'default/web', old: compactRules(after), next: none }]).input;
  t.match(toNone, /^\*filter\n-A KUBE-SERVICES .*REJECT/m, 'REJECT added');
  t.match(toNone, /^-D KUBE-SERVICES -d 10\.96\.0\.10\/32 .*-j KUBE-SVC-/m, 'capture rule deleted by its exact text');
  t.match(toNone, /^-X KUBE-SVC-/m);
  const back = renderPartialSync([{ service: 'default/web', old: compactRules(none), next: after }]).input;
  t.match(back, /^-D KUBE-SERVICES .*REJECT/m);
  t.ok(
    back.indexOf(`-A ${svcChain(spn, 'TCP')} `) < back.indexOf('-A KUBE-SERVICES'),
    'the chain is filled before anything jumps to it',
  );

  const deleted = renderPartialSync([{ service: 'default/web', old: compactRules(after), next: undefined }]).input;
  t.match(deleted, /^-D KUBE-SERVICES /m);
  t.equal([...deleted.matchAll(/^-X /gm)].length, 2, 'SVC and SEP chains deleted');
});

t.test('jump rules: present ones are recognised, missing ones inserted in order', async (t) => {
  const present = new Map([
    [
      'nat PREROUTING',
      ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', '-A PREROUTING -j DOCKER'],
    ],
  ]);
  const missing = missingJumps(present);
  t.notOk(missing.some((j) => j.table === 'nat' && j.builtin === 'PREROUTING'));
  t.equal(missing.length, JUMP_RULES.length - 1);
  const filterInput = missing.filter((j) => j.table === 'filter' && j.builtin === 'FORWARD').map((j) => j.target);
  t.same(
    filterInput,
    ['KUBE-EXTERNAL-SERVICES', 'KUBE-SERVICES', 'KUBE-FORWARD', 'KUBE-PROXY-FIREWALL'],
    'inserted at 1 in reverse, so they end up in upstream order',
  );
});

t.test('cleanup plan: our jumps and chains only, referrers deleted before what they jump to', async (t) => {
  const { planCleanup } = await import('../../proxy/iptables/cleanup.js');
  const builtins = new Map([
    [
      'nat PREROUTING',
      ['-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES', '-A PREROUTING -j DOCKER'],
    ],
    [
      'filter FORWARD',
      ['-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD', '-A FORWARD -j DOCKER-USER'],
    ],
  ]);
  const chains = {
    nat: [
      'DOCKER',
      'KUBE-SERVICES',
      'KUBE-MARK-MASQ',
      'KUBE-SEP-AAAAAAAAAAAAAAAA',
      'KUBE-SVC-BBBBBBBBBBBBBBBB',
      'KUBE-EXT-BBBBBBBBBBBBBBBB',
      'KUBE-KUBELET-CANARY',
    ],
    filter: ['DOCKER-USER', 'KUBE-FORWARD', 'KUBE-SERVICES'],
  };
  const text = planCleanup(builtins, chains, 2).join('');
  t.match(text, /^-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES$/m);
  t.match(text, /^-D FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD$/m);
  t.notMatch(text, /DOCKER|CANARY/, "other programs' chains and jumps are not touched");
  const order = [...text.matchAll(/^-X (\S+)$/gm)].map((m) => m[1]);
  t.ok(order.indexOf('KUBE-EXT-BBBBBBBBBBBBBBBB') < order.indexOf('KUBE-SVC-BBBBBBBBBBBBBBBB'));
  t.ok(order.indexOf('KUBE-SVC-BBBBBBBBBBBBBBBB') < order.indexOf('KUBE-SEP-AAAAAAAAAAAAAAAA'));
  t.equal(order[order.length - 1], 'KUBE-MARK-MASQ', 'the shared target goes last');
  t.equal(order.length, 7);
});
