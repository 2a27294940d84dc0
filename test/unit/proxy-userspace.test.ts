// Userspace mode's pure parts: the nat/filter rules that steer Service addresses to the proxy's
// sockets, the jumps and their cleanup, the endpoint picker (round-robin, affinity, the order a
// failed connect falls through to), and which UDP flows go stale.
import t from 'tap';
import type { Endpoint } from '../../proxy/model/types.js';
import { EndpointPicker } from '../../proxy/userspace/picker.js';
import { staleUdpFlows } from '../../proxy/userspace/proxier.js';
import {
  missingUserspaceJumps,
  planPortals,
  type Portal,
  renderPortals,
  renderUserspaceCleanup,
  USERSPACE_JUMP_RULES,
} from '../../proxy/userspace/rules.js';

const web: Portal = {
  name: 'default/web:http',
  protocol: 'TCP',
  clusterIP: '10.96.0.10',
  port: 80,
  nodePort: 30080,
  externalAddresses: ['203.0.113.7'],
  proxyPort: 41234,
};

t.test(
  'a Service port with endpoints: REDIRECT from pods and outside, DNAT to the host IP from the node',
  async (t) => {
    const rules = planPortals([web], { hostIP: '192.0.2.1' });
    t.same(rules.get('nat KUBE-PORTALS-CONTAINER'), [
      '-A KUBE-PORTALS-CONTAINER -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 41234',
      '-A KUBE-PORTALS-CONTAINER -d 203.0.113.7/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j REDIRECT --to-ports 41234',
    ]);
    t.same(rules.get('nat KUBE-PORTALS-HOST'), [
      '-A KUBE-PORTALS-HOST -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.0.2.1:41234',
      '-A KUBE-PORTALS-HOST -d 203.0.113.7/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j DNAT --to-destination 192.0.2.1:41234',
    ]);
    t.same(rules.get('nat KUBE-NODEPORT-CONTAINER'), [
      '-A KUBE-NODEPORT-CONTAINER -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j REDIRECT --to-ports 41234',
    ]);
    t.same(rules.get('nat KUBE-NODEPORT-HOST'), [
      '-A KUBE-NODEPORT-HOST -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j DNAT --to-destination 192.0.2.1:41234',
    ]);
    t.same(rules.get('filter KUBE-NODEPORT-NON-LOCAL'), [
      '-A KUBE-NODEPORT-NON-LOCAL -p tcp -m comment --comment "default/web:http" -m tcp --dport 41234 -m state --state NEW -j ACCEPT',
    ]);
    t.same(rules.get('filter KUBE-PORTALS-REJECT'), []);
  },
);

t.test('no endpoints: no redirect, a REJECT for each address and the NodePort', async (t) => {
  const rules = planPortals([{ ...web, protocol: 'UDP', proxyPort: 0 }], { hostIP: '192.0.2.1' });
  for (const c of [
    'nat KUBE-PORTALS-CONTAINER',
    'nat KUBE-PORTALS-HOST',
    'nat KUBE-NODEPORT-CONTAINER',
    'nat KUBE-NODEPORT-HOST',
    'filter KUBE-NODEPORT-NON-LOCAL',
  ])
    t.same(rules.get(c), [], c);
  t.same(rules.get('filter KUBE-PORTALS-REJECT'), [
    '-A KUBE-PORTALS-REJECT -d 10.96.0.10/32 -p udp -m comment --comment "default/web:http has no endpoints" -m udp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
    '-A KUBE-PORTALS-REJECT -d 203.0.113.7/32 -p udp -m comment --comment "default/web:http has no endpoints" -m udp --dport 80 -j REJECT --reject-with icmp-port-unreachable',
    '-A KUBE-PORTALS-REJECT -p udp -m comment --comment "default/web:http has no endpoints" -m addrtype --dst-type LOCAL -m udp --dport 30080 -j REJECT --reject-with icmp-port-unreachable',
  ]);
});

t.test('without a host IP the node-side chains stay empty', async (t) => {
  const rules = planPortals([web], { hostIP: undefined });
  t.same(rules.get('nat KUBE-PORTALS-HOST'), []);
  t.same(rules.get('nat KUBE-NODEPORT-HOST'), []);
  t.equal(rules.get('nat KUBE-PORTALS-CONTAINER')!.length, 2);
});

t.test(
  'restore input: every chain declared (flushed) and rewritten, missing jumps inserted with portals above NodePorts',
  async (t) => {
    const missing = missingUserspaceJumps(new Map());
    t.equal(missing.length, USERSPACE_JUMP_RULES.length);
    const input = renderPortals(planPortals([web], { hostIP: '192.0.2.1' }), missing);
    const nat = input.slice(input.indexOf('*nat'));
    t.match(input, /^\*filter\n:KUBE-NODEPORT-NON-LOCAL - \[0:0\]\n:KUBE-PORTALS-REJECT - \[0:0\]\n/);
    // Each is inserted at position 1: the one written last ends up first.
    const pre = nat.split('\n').filter((l) => l.startsWith('-I PREROUTING 1 '));
    t.same(
      pre.map((l) => l.split(' -j ')[1]),
      ['KUBE-NODEPORT-CONTAINER', 'KUBE-PORTALS-CONTAINER'],
    );
    t.match(
      pre[0],
      '-m addrtype --dst-type LOCAL -m comment --comment "handle service NodePorts; NOTE: this must be the last rule in the chain"',
    );
    t.ok(input.endsWith('COMMIT\n'));

    // Jumps already there (as -S prints them) are not inserted again.
    const builtins = new Map([
      [
        'nat PREROUTING',
        [
          '-A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER',
        ],
      ],
    ]);
    t.notOk(
      missingUserspaceJumps(builtins).some((j) => j.target === 'KUBE-PORTALS-CONTAINER' && j.builtin === 'PREROUTING'),
    );
  },
);

t.test('cleanup deletes our jumps and chains, nothing else', async (t) => {
  const builtins = new Map([
    [
      'nat PREROUTING',
      [
        '-A PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER',
        '-A PREROUTING -j DOCKER',
      ],
    ],
    [
      'filter INPUT',
      ['-A INPUT -m comment --comment "Ensure that non-local NodePort traffic can flow" -j KUBE-NODEPORT-NON-LOCAL'],
    ],
  ]);
  const chains = {
    nat: new Set(['KUBE-PORTALS-CONTAINER', 'DOCKER', 'KUBE-SERVICES']),
    filter: new Set(['KUBE-NODEPORT-NON-LOCAL', 'DOCKER-USER']),
  };
  t.equal(
    renderUserspaceCleanup(builtins, chains),
    [
      '*filter',
      '-D INPUT -m comment --comment "Ensure that non-local NodePort traffic can flow" -j KUBE-NODEPORT-NON-LOCAL',
      ':KUBE-NODEPORT-NON-LOCAL - [0:0]',
      '-X KUBE-NODEPORT-NON-LOCAL',
      'COMMIT',
      '*nat',
      '-D PREROUTING -m comment --comment "handle ClusterIPs; NOTE: this must be before the NodePort rules" -j KUBE-PORTALS-CONTAINER',
      ':KUBE-PORTALS-CONTAINER - [0:0]',
      '-X KUBE-PORTALS-CONTAINER',
      'COMMIT',
      '',
    ].join('\n'),
  );
  t.equal(
    renderUserspaceCleanup(new Map(), { nat: new Set(['DOCKER']), filter: new Set() }),
    '',
    'nothing of ours: nothing to do',
  );
});

const ep = (ip: string): Endpoint => ({
  ip,
  port: 8080,
  ready: true,
  serving: true,
  terminating: false,
  nodeName: 'node-1',
});

t.test('picker: round-robin, each candidate list holds every endpoint once', async (t) => {
  const p = new EndpointPicker(0);
  p.update([ep('10.0.0.1'), ep('10.0.0.2'), ep('10.0.0.3')], 0);
  const firsts = Array.from({ length: 6 }, () => p.candidates('10.1.1.1', 0));
  t.same(
    firsts.map((c) => c[0]),
    ['10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080', '10.0.0.1:8080', '10.0.0.2:8080', '10.0.0.3:8080'],
  );
  t.same(
    firsts[1],
    ['10.0.0.2:8080', '10.0.0.3:8080', '10.0.0.1:8080'],
    'a failed connect falls through to the next ones in turn',
  );
  p.update([ep('10.0.0.1')], 0);
  t.same(p.candidates('10.1.1.1', 0), ['10.0.0.1:8080'], 'a shrunk list restarts the rotation within bounds');
  p.update([], 0);
  t.same(p.candidates('10.1.1.1', 0), []);
});

t.test('picker: ClientIP affinity sticks until idle for the timeout, and only to live endpoints', async (t) => {
  const p = new EndpointPicker(10);
  p.update([ep('10.0.0.1'), ep('10.0.0.2'), ep('10.0.0.3')], 10);
  const first = p.candidates('10.1.1.1', 0);
  p.connected('10.1.1.1', first[1]!, 0); // the first one failed; the second answered
  for (let s = 1; s <= 5; s++) t.equal(p.candidates('10.1.1.1', s * 1000)[0], first[1], `still sticky at ${s} s`);
  t.equal(p.candidates('10.1.1.1', 5000).length, 3, 'the others stay behind it, for failover');
  t.not(p.candidates('10.9.9.9', 5000)[0], undefined, 'another client gets its own');
  const later = [p.candidates('10.1.1.1', 16_000)[0], p.candidates('10.1.1.1', 16_001)[0]];
  t.not(later[0], later[1], 'expired (idle 11 s > 10 s): round-robin again');
  p.connected('10.1.1.1', '10.0.0.3:8080', 20_000);
  p.update([ep('10.0.0.1'), ep('10.0.0.2')], 10);
  t.not(p.candidates('10.1.1.1', 20_001)[0], '10.0.0.3:8080', 'an endpoint that left takes its affinities with it');
  p.connected('10.2.2.2', '10.0.0.1:8080', 0);
  p.expire(100_000);
  p.update([ep('10.0.0.1'), ep('10.0.0.2')], 0);
  t.equal(p.candidates('10.2.2.2', 100_001).length, 2, 'affinity switched off: every endpoint, in turn');
});

t.test('stale UDP flows: a UDP portal whose proxy port changed or went away', async (t) => {
  const dns: Portal = {
    name: 'kube-system/dns:dns',
    protocol: 'UDP',
    clusterIP: '10.96.0.53',
    port: 53,
    nodePort: 0,
    externalAddresses: [],
    proxyPort: 40000,
  };
  const prev = new Map([
    ['dns', dns],
    ['web', web],
  ]);
  t.same(
    staleUdpFlows(
      prev,
      new Map([
        ['dns', dns],
        ['web', web],
      ]),
    ),
    [],
    'unchanged: nothing',
  );
  t.same(
    staleUdpFlows(prev, new Map([['web', web]])),
    [{ kind: 'service', serviceIP: '10.96.0.53', port: 53 }],
    'removed',
  );
  t.same(
    staleUdpFlows(new Map([['dns', { ...dns, proxyPort: 0 }]]), new Map([['dns', dns]])),
    [{ kind: 'service', serviceIP: '10.96.0.53', port: 53 }],
    'from rejecting to proxied',
  );
  t.same(staleUdpFlows(new Map([['web', web]]), new Map()), [], 'TCP flows end by themselves');
});
