// host-gw routing across emulated nodes, with the real control plane and the route controller
// (hostgw/) in every node namespace and in the host, and stand-in pods (a namespace with a
// veth to its node, an address from the node's podCIDR). Nodes are Node objects the test
// creates, as the agent would register them: routes follow them as they join and leave.
import t, { type Test } from 'tap';
import { run } from '../../lib/exec.js';
import { newCluster, type EmulatedCluster } from '../harness/cluster.js';
import { clusterLeftovers } from '../harness/leftovers.js';
import { requireProgram } from '../harness/require.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function registerNode(c: EmulatedCluster, i: number): Promise<string> {
  const node = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: c.nodeName(i) },
    status: {
      addresses: [
        { type: 'InternalIP', address: c.nodeIP(i) },
        { type: 'Hostname', address: c.nodeName(i) },
      ],
    },
  };
  await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(node) });
  for (let k = 0; k < 100; k++) {
    const cidr = (await c.kubectl(['get', 'node', c.nodeName(i), '-o', 'jsonpath={.spec.podCIDR}'])).stdout.trim();
    if (cidr) return cidr;
    await sleep(200);
  }
  throw new Error(`node ${c.nodeName(i)} got no podCIDR`);
}

async function hostgwRoutes(c: EmulatedCluster, i?: number): Promise<string[]> {
  const r =
    i === undefined
      ? await run('ip', ['-4', 'route', 'show', 'proto', '107'])
      : await c.exec(i, ['ip', '-4', 'route', 'show', 'proto', '107']);
  return r.stdout
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes(' via '));
}

async function eventually(t: Test, what: string, check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await check()) {
      t.pass(what);
      return;
    }
    await sleep(250);
  }
  t.fail(`${what}: not within ${timeoutMs / 1000}s`);
}

/** A stand-in pod on node i: its own namespace, a veth to the node, the podCIDR's .5. */
async function standInPod(t: Test, c: EmulatedCluster, i: number, cidr: string): Promise<string> {
  const ns = `${c.name}-pod${i}`;
  const node = c.nodeName(i);
  const net = cidr.split('/')[0]!.split('.').slice(0, 3).join('.');
  await run('ip', ['netns', 'add', ns]);
  t.teardown(() => run('ip', ['netns', 'delete', ns], { allowFailure: true }));
  await run('ip', ['-n', node, 'link', 'add', 'pod0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
  await run('ip', ['-n', node, 'addr', 'add', `${net}.1/24`, 'dev', 'pod0']);
  await run('ip', ['-n', node, 'link', 'set', 'pod0', 'up']);
  await run('ip', ['-n', ns, 'addr', 'add', `${net}.5/24`, 'dev', 'eth0']);
  await run('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
  await run('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
  await run('ip', ['-n', ns, 'route', 'add', 'default', 'via', `${net}.1`]);
  return `${net}.5`;
}

const pings = async (ns: string | undefined, to: string, count = 3) => {
  const args = ['ping', '-c', String(count), '-i', '0.1', '-W', '1', to];
  const r = ns
    ? await run('ip', ['netns', 'exec', ns, 'busybox', ...args], { allowFailure: true })
    : await run('busybox', args, { allowFailure: true });
  return Number(/(\d+) packets received/.exec(r.stdout)?.[1] ?? 0);
};

t.test('host-gw routes follow the Node objects; pods on different nodes reach each other', async (t) => {
  requireProgram('busybox');
  const c = await newCluster(t, { components: ['hostgw'] });
  await c.sh(['up', '--nodes', '3']);
  const cidr: Record<number, string> = {};
  for (const i of [1, 2, 3]) cidr[i] = await registerNode(c, i);
  t.equal(new Set(Object.values(cidr)).size, 3, `three distinct podCIDRs: ${Object.values(cidr).join(' ')}`);

  const expected = (self: number | undefined, nodes: number[]) =>
    nodes
      .filter((j) => j !== self)
      .map((j) => `${cidr[j]} via ${c.nodeIP(j)} dev ${self === undefined ? `${c.name}-vnet0` : 'eth0'}`)
      .sort();
  for (const i of [1, 2, 3]) {
    await eventually(
      t,
      `node ${i} routes the other two podCIDRs via their nodes`,
      async () => JSON.stringify((await hostgwRoutes(c, i)).sort()) === JSON.stringify(expected(i, [1, 2, 3])),
    );
  }
  await eventually(
    t,
    'the host routes every podCIDR via its node',
    async () =>
      JSON.stringify((await hostgwRoutes(c)).filter((r) => r.includes(`${c.name}-vnet0`)).sort()) ===
      JSON.stringify(expected(undefined, [1, 2, 3])),
  );
  const unreachable = (await run('ip', ['-4', 'route', 'show', 'type', 'unreachable'])).stdout;
  t.match(
    unreachable,
    c.clusterCIDR,
    'the pod network never leaves the machine: unreachable route for the cluster CIDR',
  );

  const pod1 = await standInPod(t, c, 1, cidr[1]!);
  const pod3 = await standInPod(t, c, 3, cidr[3]!);
  t.equal(await pings(`${c.name}-pod1`, pod3), 3, `pod on node1 (${pod1}) reaches pod on node3 (${pod3}) by IP`);
  t.equal(await pings(undefined, pod3), 3, 'the host reaches a pod by IP');
  const masq = (await c.exec(1, ['iptables-save', '-t', 'nat'])).stdout;
  t.match(masq, /KUBENODE-POD-MASQ/, 'node.sh installed the pod masquerade chain in the node');

  // A node joins: `up --nodes 4` adds it; once its Node object exists, everyone routes to it.
  await c.sh(['up', '--nodes', '4']);
  cidr[4] = await registerNode(c, 4);
  for (const i of [1, 2, 3, 4]) {
    await eventually(
      t,
      `after node 4 joins, node ${i} routes to the other three`,
      async () => JSON.stringify((await hostgwRoutes(c, i)).sort()) === JSON.stringify(expected(i, [1, 2, 3, 4])),
    );
  }

  // A route removed by someone else is put back by the periodic resync (10 s).
  await c.exec(2, ['ip', 'route', 'del', cidr[1]!]);
  await eventually(
    t,
    'a deleted route is restored by the resync',
    async () => (await hostgwRoutes(c, 2)).some((r) => r.startsWith(`${cidr[1]} via`)),
    25_000,
  );

  // A node leaves: its Node object is deleted, every route to it goes.
  await c.kubectl(['delete', 'node', c.nodeName(3)]);
  for (const i of [1, 2, 4]) {
    await eventually(
      t,
      `after node 3 leaves, node ${i} no longer routes to it`,
      async () => JSON.stringify((await hostgwRoutes(c, i)).sort()) === JSON.stringify(expected(i, [1, 2, 4])),
    );
  }
  await eventually(
    t,
    'nor does the host',
    async () => !(await hostgwRoutes(c)).some((r) => r.startsWith(`${cidr[3]} `)),
  );
  t.equal(await pings(`${c.name}-pod1`, pod3, 2), 0, 'pods of a node that left are no longer routed to');

  const logs = (await c.sh(['logs', '1', 'hostgw'])).stdout;
  t.match(logs, /"msg":"routes updated"/, 'the controller logs what it changed');

  await run('ip', ['netns', 'delete', `${c.name}-pod1`]);
  await run('ip', ['netns', 'delete', `${c.name}-pod3`]);
  await c.sh(['down']);
  t.same(await clusterLeftovers(c), [], 'down leaves no namespace, link, route, chain, process or state');
});
