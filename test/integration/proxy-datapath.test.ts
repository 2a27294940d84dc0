// kubenode-proxy's iptables mode moving real packets. The proxy runs inside a node namespace;
// pods are namespaces on the node's bridge, and "ext" is a machine outside the cluster (see
// test/fixtures/proxy/world.ts). Nothing here touches the root namespace's iptables.
import t from 'tap';
import { BRIDGE_IP, createWorld, endpointSlice, EXT_IP, eventually, NODE_IP, service, startProxy, tally } from '../fixtures/proxy/world.js';

const world = await createWorld(t, ['a', 'b', 'c', 'cli']);
await world.startBackends(['a', 'b', 'c']);
const proxy = await startProxy(t, world);
const cli = world.pod('cli').netns;
const A = world.pod('a').ip;
const B = world.pod('b').ip;
const C = world.pod('c').ip;

/** Write manifests and wait for the sync that programs them. */
async function apply(file: string, docs: object[]) {
  const synced = proxy.nextSync();
  proxy.write(file, docs);
  await synced;
}

await apply('web.yaml', [
  service({ name: 'web', clusterIP: '10.96.0.10', type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }),
  endpointSlice('web', [{ ip: A }, { ip: B }, { ip: C }]),
]);

t.test('ClusterIP from a pod reaches every backend over 100 requests', async (t) => {
  const r = await world.http(cli, '10.96.0.10', 80, 100);
  const counts = tally(r);
  t.same([...counts.keys()].sort(), ['a', 'b', 'c'], `spread: ${JSON.stringify([...counts])}`);
  t.equal(r.filter((x) => x.ok).length, 100, 'no request failed');
  // A pod's own address arrives unchanged (only off-cluster sources are masqueraded).
  t.ok(r.every((x) => x.body!.endsWith(` ${world.pod('cli').ip}`)), 'the backend sees the pod IP');
});

t.test('ClusterIP from the node itself', async (t) => {
  const r = await world.http(world.node, '10.96.0.10', 80, 30);
  t.equal(r.filter((x) => x.ok).length, 30);
  t.ok(tally(r).size >= 2, 'spread over backends');
});

t.test('NodePort from outside the cluster reaches every backend, masqueraded', async (t) => {
  const r = await world.http(world.ext, NODE_IP, 30080, 100);
  t.same([...tally(r).keys()].sort(), ['a', 'b', 'c']);
  t.ok(r.every((x) => x.body!.endsWith(` ${BRIDGE_IP}`)), 'externalTrafficPolicy Cluster: the source is the node');
});

t.test('a removed endpoint leaves the rotation', async (t) => {
  await apply('web.yaml', [
    service({ name: 'web', clusterIP: '10.96.0.10', type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30080 }] }),
    endpointSlice('web', [{ ip: A }, { ip: B }, { ip: C, ready: false }]),
  ]);
  const r = await world.http(cli, '10.96.0.10', 80, 60);
  const counts = tally(r);
  t.notOk(counts.has('c'), `c (not ready) got no request: ${JSON.stringify([...counts])}`);
  t.same([...counts.keys()].sort(), ['a', 'b']);
  const viaNodePort = tally(await world.http(world.ext, NODE_IP, 30080, 30));
  t.notOk(viaNodePort.has('c'), 'nor through the NodePort');
});

t.test('sessionAffinity ClientIP keeps a client on one backend', async (t) => {
  await apply('sticky.yaml', [
    service({ name: 'sticky', clusterIP: '10.96.0.20', sessionAffinity: 'ClientIP', affinitySeconds: 300 }),
    endpointSlice('sticky', [{ ip: A }, { ip: B }, { ip: C }]),
  ]);
  const fromPod = tally(await world.http(cli, '10.96.0.20', 80, 40));
  t.equal(fromPod.size, 1, `one backend for the pod: ${JSON.stringify([...fromPod])}`);
  t.equal([...fromPod.values()][0], 40);
  const fromNode = tally(await world.http(world.node, '10.96.0.20', 80, 20));
  t.equal(fromNode.size, 1, 'another client sticks too');
});

t.test('externalTrafficPolicy Local: real client IP, local backends only, health check node port', async (t) => {
  // c is declared to run on another node: it must not receive external traffic here.
  await apply('local.yaml', [
    service({ name: 'local', clusterIP: '10.96.0.30', type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32100, loadBalancerIPs: ['203.0.113.30'], ports: [{ name: 'http', port: 80, nodePort: 30030 }] }),
    endpointSlice('local', [{ ip: A }, { ip: B }, { ip: C, nodeName: 'node-2' }]),
  ]);
  const r = await world.http(world.ext, NODE_IP, 30030, 60);
  const counts = tally(r);
  t.same([...counts.keys()].sort(), ['a', 'b'], `only local backends: ${JSON.stringify([...counts])}`);
  t.ok(r.every((x) => x.body!.endsWith(` ${EXT_IP}`)), 'the backend sees the real client IP');

  const hc = await world.http(world.ext, NODE_IP, 32100, 1);
  t.ok(hc[0]!.ok);
  t.same(JSON.parse(hc[0]!.body!), { service: { namespace: 'default', name: 'local' }, localEndpoints: 2, serviceProxyHealthy: true });

  // From inside the cluster, the ClusterIP still uses every endpoint.
  t.ok(tally(await world.http(cli, '10.96.0.30', 80, 60)).has('c'));

  await apply('local.yaml', [
    service({ name: 'local', clusterIP: '10.96.0.30', type: 'LoadBalancer', externalTrafficPolicy: 'Local', healthCheckNodePort: 32100, loadBalancerIPs: ['203.0.113.30'], ports: [{ name: 'http', port: 80, nodePort: 30030 }] }),
    endpointSlice('local', [{ ip: C, nodeName: 'node-2' }]),
  ]);
  const hc2 = (await world.http(world.ext, NODE_IP, 32100, 1))[0]!;
  t.equal(hc2.status, 503, 'no local endpoint: the health check fails so load balancers skip this node');
  t.match(JSON.parse(hc2.body!), { localEndpoints: 0 });
  const dropped = await world.http(world.ext, NODE_IP, 30030, 1, 500);
  t.notOk(dropped[0]!.ok, 'external traffic is not sent to another node');
});

t.test('internalTrafficPolicy Local: the ClusterIP uses local endpoints only', async (t) => {
  await apply('itp.yaml', [
    service({ name: 'itp', clusterIP: '10.96.0.40', internalTrafficPolicy: 'Local' }),
    endpointSlice('itp', [{ ip: A }, { ip: C, nodeName: 'node-2' }]),
  ]);
  const counts = tally(await world.http(cli, '10.96.0.40', 80, 40));
  t.same([...counts.keys()], ['a']);
});

t.test('a Service with no endpoints is refused at once', async (t) => {
  await apply('empty.yaml', [service({ name: 'empty', clusterIP: '10.96.0.50', type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30050 }] })]);
  const fromPod = await world.http(cli, '10.96.0.50', 80, 5);
  for (const r of fromPod) {
    t.equal(r.error, 'ECONNREFUSED');
    t.ok(r.ms < 100, `refused in ${r.ms.toFixed(1)} ms`);
  }
  const fromNode = await world.http(world.node, '10.96.0.50', 80, 1);
  t.equal(fromNode[0]!.error, 'ECONNREFUSED', 'from the node too');
  const viaNodePort = await world.http(world.ext, NODE_IP, 30050, 1);
  t.equal(viaNodePort[0]!.error, 'ECONNREFUSED', 'and through the NodePort');
  t.ok(viaNodePort[0]!.ms < 100);

  // Endpoints appear: the same Service starts answering.
  await apply('empty.yaml', [service({ name: 'empty', clusterIP: '10.96.0.50', type: 'NodePort', ports: [{ name: 'http', port: 80, nodePort: 30050 }] }), endpointSlice('empty', [{ ip: B }])]);
  t.same([...tally(await world.http(cli, '10.96.0.50', 80, 3)).keys()], ['b']);
});

t.test('terminating but serving endpoints are used only when no endpoint is ready', async (t) => {
  await apply('term.yaml', [
    service({ name: 'term', clusterIP: '10.96.0.60' }),
    endpointSlice('term', [{ ip: A, ready: false, serving: true, terminating: true }, { ip: B, ready: false, serving: false, terminating: true }]),
  ]);
  t.same([...tally(await world.http(cli, '10.96.0.60', 80, 20)).keys()], ['a'], 'fallback to the serving one');
  await apply('term.yaml', [
    service({ name: 'term', clusterIP: '10.96.0.60' }),
    endpointSlice('term', [{ ip: A, ready: false, serving: true, terminating: true }, { ip: C }]),
  ]);
  t.same([...tally(await world.http(cli, '10.96.0.60', 80, 20)).keys()], ['c'], 'a ready endpoint wins');
});

t.test('hairpin: a pod reaches itself through its own Service', async (t) => {
  await apply('self.yaml', [service({ name: 'self', clusterIP: '10.96.0.70' }), endpointSlice('self', [{ ip: A }])]);
  const r = await world.http(world.pod('a').netns, '10.96.0.70', 80, 5);
  t.equal(r.filter((x) => x.ok).length, 5);
  t.ok(r.every((x) => x.body === `a ${BRIDGE_IP}`), `masqueraded to the node so the reply comes back: ${r[0]!.body}`);
});

t.test('UDP: a removed endpoint loses its flows (stale conntrack entries are deleted)', async (t) => {
  await apply('dns.yaml', [
    service({ name: 'dns', clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
    endpointSlice('dns', [{ ip: A }, { ip: B }], [{ name: 'dns', port: 8081, protocol: 'UDP' }]),
  ]);
  // One client port: one conntrack flow, which pins one backend.
  const first = await world.udp(cli, '10.96.0.53', 53, 5, 1000, 40000);
  const pinned = tally(first);
  t.equal(pinned.size, 1, `one flow, one backend: ${JSON.stringify([...pinned])}`);
  const backend = [...pinned.keys()][0]!;
  const other = backend === 'a' ? 'b' : 'a';
  await apply('dns.yaml', [
    service({ name: 'dns', clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
    endpointSlice('dns', [{ ip: world.pod(other).ip }], [{ name: 'dns', port: 8081, protocol: 'UDP' }]),
  ]);
  await proxy.waitForLog((l) => l.msg === 'deleted stale UDP conntrack entries', 5000);
  const after = tally(await eventually('the flow to move', async () => {
    const r = await world.udp(cli, '10.96.0.53', 53, 3, 1000, 40000);
    return r.every((x) => x.ok) && r;
  }));
  t.same([...after.keys()], [other], 'the same client flow now reaches the remaining backend');
});
