// The host-gw planner: Node objects and local addresses in, routes out; and the sync plan
// against the routes already in the kernel.
import t from 'tap';
import type { V1Node } from '@kubernetes/client-node';
import { batchInput, desiredRoutes, planRouteSync, type Route } from '../../hostgw/routes.js';
import { parseAddresses, parseRoutes } from '../../hostgw/iproute.js';

function node(name: string, podCIDR?: string, ip?: string, extra: Partial<V1Node['spec']> = {}): V1Node {
  return {
    metadata: { name },
    spec: { ...(podCIDR ? { podCIDR, podCIDRs: [podCIDR] } : {}), ...extra },
    status: {
      addresses: ip
        ? [
            { type: 'Hostname', address: name },
            { type: 'InternalIP', address: ip },
          ]
        : [],
    },
  };
}

const local = [{ interface: 'eth0', cidr: '192.168.56.11/24' }];
const nodes = [
  node('n1', '10.244.0.0/24', '192.168.56.11'),
  node('n2', '10.244.1.0/24', '192.168.56.12'),
  node('n3', '10.244.2.0/24', '192.168.56.13'),
];

t.test('a node routes every other node pod CIDR via its InternalIP, never its own', async (t) => {
  const { routes, skipped } = desiredRoutes(nodes, { nodeName: 'n1', clusterCIDR: '10.244.0.0/16', local });
  t.same(routes, [
    { dst: '10.244.1.0/24', via: '192.168.56.12', dev: 'eth0' },
    { dst: '10.244.2.0/24', via: '192.168.56.13', dev: 'eth0' },
  ]);
  t.same(skipped, []);
});

t.test('the host (no node name) routes every node', async (t) => {
  const { routes } = desiredRoutes(nodes, {
    clusterCIDR: '10.244.0.0/16',
    local: [{ interface: 'kn-vnet0', cidr: '192.168.56.1/24' }],
  });
  t.same(
    routes.map((r) => `${r.dst}>${r.via}@${r.dev}`),
    [
      '10.244.0.0/24>192.168.56.11@kn-vnet0',
      '10.244.1.0/24>192.168.56.12@kn-vnet0',
      '10.244.2.0/24>192.168.56.13@kn-vnet0',
    ],
  );
});

t.test('the gateway interface is the one whose network holds the node address', async (t) => {
  const vagrant = [
    { interface: 'eth0', cidr: '10.0.2.15/24' },
    { interface: 'eth1', cidr: '192.168.56.11/24' },
  ];
  const other = node('w2', '10.244.1.0/24', '10.0.2.15');
  other.status!.addresses!.push({ type: 'InternalIP', address: '192.168.56.12' });
  const { routes, skipped } = desiredRoutes([node('w1', '10.244.0.0/24', '192.168.56.11'), other], {
    nodeName: 'w1',
    local: vagrant,
  });
  // 10.0.2.15 is this VM's own NAT address too (every Vagrant VM has it): never a gateway.
  t.same(routes, [{ dst: '10.244.1.0/24', via: '192.168.56.12', dev: 'eth1' }]);
  t.same(skipped, []);
  const onlyNat = node('w3', '10.244.3.0/24', '10.0.2.15');
  t.match(desiredRoutes([onlyNat], { nodeName: 'w1', local: vagrant }).skipped, [
    { node: 'w3', kind: 'conflict', reason: /10\.0\.2\.15 is an address of this machine/ },
  ]);
});

t.test('nodes without a pod CIDR or address wait; bad input names node, field and reason', async (t) => {
  const list = [
    node('a-waiting'),
    node('b-noaddr', '10.244.5.0/24'),
    node('c-bad', '10.244.300.0/24', '192.168.56.20'),
    node('d-far', '10.244.6.0/24', '172.16.0.4'),
    node('e-outside', '10.9.0.0/24', '192.168.56.21'),
    node('f-v6', 'fd00::/64', '192.168.56.22'),
    node('g-ok', '10.244.7.0/24', '192.168.56.23'),
  ];
  const { routes, skipped } = desiredRoutes(list, { nodeName: 'self', clusterCIDR: '10.244.0.0/16', local });
  t.same(
    routes,
    [{ dst: '10.244.7.0/24', via: '192.168.56.23', dev: 'eth0' }],
    'one bad node does not stop the others',
  );
  const by = Object.fromEntries(skipped.map((s) => [s.node, s]));
  t.match(by['a-waiting'], { kind: 'waiting', field: 'spec.podCIDR' });
  t.match(by['b-noaddr'], { kind: 'waiting', field: 'status.addresses' });
  t.match(by['c-bad'], { kind: 'invalid', field: 'spec.podCIDRs[0]', reason: /10\.244\.300\.0\/24.*not an IPv4 CIDR/ });
  t.match(by['d-far'], { kind: 'unreachable', reason: /172\.16\.0\.4 is not on a network directly attached/ });
  t.match(by['e-outside'], { kind: 'invalid', reason: /outside the cluster CIDR 10\.244\.0\.0\/16/ });
  t.match(by['f-v6'], { kind: 'unsupported', reason: /IPv6/ });
});

t.test('overlapping pod CIDRs: the own CIDR wins, then name order; host bits are cleared', async (t) => {
  const list = [
    node('self', '10.244.1.0/24', '192.168.56.11'),
    node('b', '10.244.1.128/25', '192.168.56.12'),
    node('c', '10.244.2.7/24', '192.168.56.13'),
    node('d', '10.244.2.0/23', '192.168.56.14'),
  ];
  const { routes, skipped } = desiredRoutes(list, { nodeName: 'self', local });
  t.same(routes, [{ dst: '10.244.2.0/24', via: '192.168.56.13', dev: 'eth0' }]);
  t.match(skipped, [
    { node: 'b', kind: 'conflict', reason: /overlaps 10\.244\.1\.0\/24 of node self/ },
    { node: 'd', kind: 'conflict', reason: /overlaps 10\.244\.2\.0\/24 of node c/ },
  ]);
});

t.test('a pod CIDR overlapping an attached network is refused', async (t) => {
  const { routes, skipped } = desiredRoutes([node('x', '192.168.56.0/25', '192.168.56.12')], { nodeName: 'me', local });
  t.same(routes, []);
  t.match(skipped[0], { kind: 'conflict', reason: /overlaps a network attached/ });
});

t.test('a bad cluster CIDR is an error', async (t) => {
  t.throws(
    () => desiredRoutes([], { clusterCIDR: '10.244.0.0', local }),
    /cluster CIDR "10\.244\.0\.0" is not an IPv4 CIDR/,
  );
});

t.test('sync plan: replace what differs, remove what is no longer wanted, leave the rest alone', async (t) => {
  const desired: Route[] = [
    { dst: '10.244.1.0/24', via: '192.168.56.12', dev: 'eth0' },
    { dst: '10.244.2.0/24', via: '192.168.56.13', dev: 'eth0' },
  ];
  const actual: Route[] = [
    { dst: '10.244.1.0/24', via: '192.168.56.12', dev: 'eth0' }, // in sync
    { dst: '10.244.2.0/24', via: '192.168.56.99', dev: 'eth0' }, // node moved
    { dst: '10.244.3.0/24', via: '192.168.56.14', dev: 'eth0' }, // node left
    { dst: '10.1.0.0/24', via: '192.168.56.15', dev: 'eth0' }, // outside the cluster CIDR: not ours to judge
  ];
  const sync = planRouteSync(desired, actual, '10.244.0.0/16');
  t.same(sync.replace, [{ dst: '10.244.2.0/24', via: '192.168.56.13', dev: 'eth0' }]);
  t.same(sync.remove, [{ dst: '10.244.3.0/24', via: '192.168.56.14', dev: 'eth0' }]);
  t.equal(
    batchInput(sync, 107),
    'route del 10.244.3.0/24 via 192.168.56.14 dev eth0 proto 107\nroute replace 10.244.2.0/24 via 192.168.56.13 dev eth0 proto 107\n',
  );
  t.same(planRouteSync(desired, desired), { replace: [], remove: [] }, 'in sync: nothing to do');
  t.equal(batchInput({ replace: [], remove: [] }, 107), '');
});

t.test('iproute2 JSON: gatewayed routes and global IPv4 addresses', async (t) => {
  const routes = parseRoutes(
    '[{"type":"unreachable","dst":"10.244.0.0/16","flags":[]},{"dst":"10.244.2.0/24","gateway":"192.168.77.12","dev":"d0","flags":[]},{"dst":"10.9.9.9","gateway":"192.168.77.12","dev":"d0","flags":[]}]',
  );
  t.same(routes, [
    { dst: '10.244.2.0/24', via: '192.168.77.12', dev: 'd0' },
    { dst: '10.9.9.9/32', via: '192.168.77.12', dev: 'd0' },
  ]);
  t.same(parseRoutes(''), []);
  const addrs = parseAddresses(
    '[{"ifname":"lo","addr_info":[{"family":"inet","local":"127.0.0.1","prefixlen":8,"scope":"host"}]},{"ifname":"eth0","addr_info":[{"family":"inet","local":"192.168.56.11","prefixlen":24,"scope":"global"},{"family":"inet6","local":"fe80::1","prefixlen":64,"scope":"link"}]}]',
  );
  t.same(addrs, [{ interface: 'eth0', cidr: '192.168.56.11/24' }]);
});
