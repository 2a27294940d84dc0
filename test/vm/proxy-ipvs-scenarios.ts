// kubenode-proxy's IPVS mode moving real packets: the iptables mode's scenarios (see
// test/integration/proxy-datapath.test.ts and test/fixtures/proxy/world.ts) run with
// --proxy-mode ipvs. This file needs a kernel with IPVS, so it runs INSIDE the test VM:
// test/integration/proxy-ipvs.test.ts boots it with `scripts/vm.sh run -- node <this file>`
// and reads the TAP it prints.
import t from 'tap';
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { run } from '../../lib/exec.js';
import { startClients } from './clients.js';
import {
  BRIDGE_IP,
  createWorld,
  endpointSlice,
  EXT_IP,
  eventually,
  NODE_IP,
  PROXY_BIN,
  service,
  startProxy,
  tally,
} from '../fixtures/proxy/world.js';

// Run directly (not under the tap runner), tap's default is a 30 s limit for the whole file;
// under emulation these scenarios need a few minutes.
t.setTimeout(420_000);

const world = await createWorld(t, ['a', 'b', 'c', 'cli']);
const { node } = world;
const cli = world.pod('cli').netns;
const A = world.pod('a').ip;
const B = world.pod('b').ip;
const C = world.pod('c').ip;

// Someone else's virtual server in the node's IPVS table: no sync and no cleanup may touch it.
await run('ip', ['netns', 'exec', node, 'ipvsadm', '-A', '-t', '198.51.100.1:80', '-s', 'wlc']);
await run('ip', ['netns', 'exec', node, 'ipvsadm', '-a', '-t', '198.51.100.1:80', '-r', '198.51.100.2:80', '-m']);
const FOREIGN_VS = ['-A -t 198.51.100.1:80 -s wlc', '-a -t 198.51.100.1:80 -r 198.51.100.2:80 -m -w 1'];

await world.startBackends(['a', 'b', 'c']);
const proxy = await startProxy(t, world, ['--proxy-mode', 'ipvs', '--sync-period', '3s']);
const http = await startClients(t, [cli, node, world.ext, world.pod('a').netns]);

const ipvsadm = async (...args: string[]) => world.exec(node, 'ipvsadm', args);
const save = async () => (await ipvsadm('-Sn')).split('\n').filter(Boolean);

/** Write manifests, then wait until the kernel shows what they ask for. */
async function apply(file: string, docs: object[], until: (ipvs: string[]) => boolean, what: string) {
  proxy.write(file, docs);
  await eventually(what, async () => until(await save()), 20_000, 200);
}

const web = (eps: Array<{ ip: string; ready?: boolean }>) => [
  service({
    name: 'web',
    clusterIP: '10.96.0.10',
    type: 'NodePort',
    ports: [{ name: 'http', port: 80, nodePort: 30080 }],
  }),
  endpointSlice('web', eps),
];

await apply(
  'web.yaml',
  web([{ ip: A }, { ip: B }, { ip: C }]),
  (s) => s.filter((l) => l.startsWith('-a -t 10.96.0.10:80 ')).length === 3,
  'web to be programmed',
);

t.test('IPVS objects: kube-ipvs0, virtual servers per address, ipsets, one set of chains', async (t) => {
  const s = await save();
  t.ok(s.includes('-A -t 10.96.0.10:80 -s rr'), 'a round-robin virtual server for the ClusterIP');
  for (const ip of [A, B, C])
    t.ok(s.includes(`-a -t 10.96.0.10:80 -r ${ip}:8080 -m -w 1`), `real server ${ip} (masquerading, weight 1)`);
  for (const ip of [NODE_IP, BRIDGE_IP])
    t.ok(s.includes(`-A -t ${ip}:30080 -s rr`), `a NodePort virtual server on node address ${ip}`);
  const addrs = await world.exec(node, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0']);
  t.match(addrs, /inet 10\.96\.0\.10\/32/, 'the ClusterIP is bound to kube-ipvs0');
  const sets = await world.exec(node, 'ipset', ['save']);
  t.match(sets, /add KUBE-CLUSTER-IP 10\.96\.0\.10,tcp:80/);
  t.match(sets, /add KUBE-NODE-PORT-TCP 30080/);
  t.match(sets, new RegExp(`add KUBE-LOOP-BACK ${A.replace(/\./g, '\\.')},tcp:8080,${A.replace(/\./g, '\\.')}`));
  const ipt = await world.iptablesSave();
  t.match(ipt, /-A KUBE-SERVICES .*--match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ/);
  t.notMatch(ipt, /KUBE-SVC-|KUBE-SEP-/, 'no per-Service chains: IPVS does the load balancing');
  t.ok(
    FOREIGN_VS.every((l) => s.includes(l)),
    "someone else's virtual server is untouched",
  );
});

t.test('ClusterIP from a pod reaches every backend over 100 requests', async (t) => {
  const r = await http(cli, '10.96.0.10', 80, 100);
  const counts = tally(r);
  t.same([...counts.keys()].sort(), ['a', 'b', 'c'], `spread: ${JSON.stringify([...counts])}`);
  t.equal(r.filter((x) => x.ok).length, 100, 'no request failed');
  t.ok(
    r.every((x) => x.body!.endsWith(` ${world.pod('cli').ip}`)),
    'the backend sees the pod IP',
  );
});

t.test('ClusterIP from the node itself', async (t) => {
  const r = await http(node, '10.96.0.10', 80, 30);
  t.equal(r.filter((x) => x.ok).length, 30);
  t.ok(tally(r).size >= 2, `spread over backends: ${JSON.stringify([...tally(r)])}`);
});

t.test('NodePort from outside the cluster reaches every backend, masqueraded', async (t) => {
  const r = await http(world.ext, NODE_IP, 30080, 100);
  t.same([...tally(r).keys()].sort(), ['a', 'b', 'c'], `spread: ${JSON.stringify([...tally(r)])}`);
  t.ok(
    r.every((x) => x.body!.endsWith(` ${BRIDGE_IP}`)),
    `externalTrafficPolicy Cluster: the source is the node (${r[0]?.body})`,
  );
});

t.test('a Service address on a port no Service has is rejected', async (t) => {
  const r = await http(cli, '10.96.0.10', 8080, 1);
  t.equal(r[0]!.error, 'ECONNREFUSED', 'KUBE-IPVS-FILTER rejects it');
});

t.test('a removed endpoint drains at weight 0, gets no new connection, then is deleted', async (t) => {
  // A Service of its own: IPVS counts every connection a real server ever had until it expires
  // (2 minutes in TIME_WAIT), and draining waits for all of them, as upstream does.
  const drain = (eps: string[]) => [
    service({
      name: 'drain',
      clusterIP: '10.96.0.15',
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, nodePort: 30015 }],
    }),
    endpointSlice(
      'drain',
      eps.map((ip) => ({ ip })),
    ),
  ];
  await apply(
    'drain.yaml',
    drain([A, B, C]),
    (s) => s.filter((l) => l.startsWith('-a -t 10.96.0.15:80 ')).length === 3,
    'drain to be programmed',
  );
  // One connection held open (no request sent), then closed with a RST on demand.
  const holder = spawn(
    'ip',
    [
      'netns',
      'exec',
      cli,
      process.execPath,
      '-e',
      `
    const s = require('node:net').connect(80, '10.96.0.15', () => console.log('connected'));
    process.stdin.on('data', () => { s.resetAndDestroy(); console.log('reset'); setTimeout(() => process.exit(0), 200); });
  `,
    ],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  );
  t.teardown(() => holder.kill('SIGKILL'));
  const lines = createInterface({ input: holder.stdout! });
  const said = (what: string) => new Promise<void>((resolve) => lines.on('line', (l) => l === what && resolve()));
  await said('connected');
  const list = await ipvsadm('-Ln', '-t', '10.96.0.15:80');
  const busy = /->\s+(\S+):8080\s+Masq\s+1\s+1\s+/.exec(list)?.[1];
  t.ok(busy, `one real server holds the connection:\n${list}`);
  const pod = world.pods.find((p) => p.ip === busy)!;
  const rest = [A, B, C].filter((ip) => ip !== busy);

  await apply('drain.yaml', drain(rest), (s) => s.includes(`-a -t 10.96.0.15:80 -r ${busy}:8080 -m -w 0`), 'weight 0');
  t.match(
    await ipvsadm('-Ln', '-t', '10.96.0.15:80'),
    new RegExp(`-> ${busy!.replace(/\./g, '\\.')}:8080\\s+Masq\\s+0\\s+1\\s`),
    'weight 0, its connection still active',
  );
  const r = await http(cli, '10.96.0.15', 80, 60);
  const counts = tally(r);
  t.notOk(counts.has(pod.name), `${pod.name} got no new connection: ${JSON.stringify([...counts])}`);
  t.equal(r.filter((x) => x.ok).length, 60, 'every request answered by the others');
  t.notOk(tally(await http(world.ext, NODE_IP, 30015, 30)).has(pod.name), 'nor through the NodePort');

  const ended = said('reset');
  holder.stdin!.write('go\n');
  await ended;
  // A reset connection lingers 10 s in IPVS's CLOSE state; a sync after that deletes the server.
  const t0 = Date.now();
  await eventually(
    'the drained real server to be deleted',
    async () => !(await save()).some((l) => l.includes(`-r ${busy}:8080`) && l.includes('10.96.0.15:80')),
    60_000,
    500,
  );
  t.pass(`deleted ${((Date.now() - t0) / 1000).toFixed(1)} s after its last connection ended`);
  t.ok(
    proxy.logs.some((l) => l.msg === 'drained real server deleted'),
    'the proxy logged it',
  );
});

t.test('sessionAffinity ClientIP is IPVS persistence: a client sticks to one backend', async (t) => {
  await apply(
    'sticky.yaml',
    [
      service({ name: 'sticky', clusterIP: '10.96.0.20', sessionAffinity: 'ClientIP', affinitySeconds: 300 }),
      endpointSlice('sticky', [{ ip: A }, { ip: B }, { ip: C }]),
    ],
    (s) =>
      s.includes('-A -t 10.96.0.20:80 -s rr -p 300') &&
      s.filter((l) => l.startsWith('-a -t 10.96.0.20:80 ')).length === 3,
    'sticky to be programmed',
  );
  const fromPod = tally(await http(cli, '10.96.0.20', 80, 40));
  t.equal(fromPod.size, 1, `one backend for the pod: ${JSON.stringify([...fromPod])}`);
  t.equal([...fromPod.values()][0], 40);
  const fromNode = tally(await http(node, '10.96.0.20', 80, 20));
  t.equal(fromNode.size, 1, 'another client sticks too');
});

t.test('externalTrafficPolicy Local: real client IP and local backends only on the NodePort', async (t) => {
  await apply(
    'local.yaml',
    [
      service({
        name: 'local',
        clusterIP: '10.96.0.30',
        type: 'NodePort',
        externalTrafficPolicy: 'Local',
        ports: [{ name: 'http', port: 80, nodePort: 30030 }],
      }),
      endpointSlice('local', [{ ip: A }, { ip: B }, { ip: C, nodeName: 'node-2' }]),
    ],
    (s) => s.filter((l) => l.startsWith(`-a -t ${NODE_IP}:30030 `)).length === 2,
    'local to be programmed',
  );
  const r = await http(world.ext, NODE_IP, 30030, 40);
  t.same([...tally(r).keys()].sort(), ['a', 'b'], `only local backends: ${JSON.stringify([...tally(r)])}`);
  t.ok(
    r.every((x) => x.body!.endsWith(` ${EXT_IP}`)),
    'the backend sees the real client IP',
  );
  t.ok(tally(await http(cli, '10.96.0.30', 80, 40)).has('c'), 'the ClusterIP still uses every endpoint');
});

t.test('a Service with no endpoints is refused at once', async (t) => {
  await apply(
    'empty.yaml',
    [
      service({
        name: 'empty',
        clusterIP: '10.96.0.50',
        type: 'NodePort',
        ports: [{ name: 'http', port: 80, nodePort: 30050 }],
      }),
    ],
    (s) => s.includes('-A -t 10.96.0.50:80 -s rr'),
    'empty to be programmed',
  );
  const fromPod = await http(cli, '10.96.0.50', 80, 5);
  for (const r of fromPod) {
    t.equal(r.error, 'ECONNREFUSED');
    // The client times out after 2 s; a refusal is immediate even under emulation.
    t.ok(r.ms < 500, `refused in ${r.ms.toFixed(1)} ms`);
  }
  t.equal((await http(node, '10.96.0.50', 80, 1))[0]!.error, 'ECONNREFUSED', 'from the node too');
  const viaNodePort = await http(world.ext, NODE_IP, 30050, 1);
  t.equal(viaNodePort[0]!.error, 'ECONNREFUSED', 'and through the NodePort');

  await apply(
    'empty.yaml',
    [
      service({
        name: 'empty',
        clusterIP: '10.96.0.50',
        type: 'NodePort',
        ports: [{ name: 'http', port: 80, nodePort: 30050 }],
      }),
      endpointSlice('empty', [{ ip: B }]),
    ],
    (s) => s.some((l) => l.startsWith('-a -t 10.96.0.50:80 ')),
    'an endpoint for empty',
  );
  t.same([...tally(await http(cli, '10.96.0.50', 80, 3)).keys()], ['b'], 'endpoints appear: it answers');
});

t.test('hairpin: a pod reaches itself through its own Service', async (t) => {
  await apply(
    'self.yaml',
    [service({ name: 'self', clusterIP: '10.96.0.70' }), endpointSlice('self', [{ ip: A }])],
    (s) => s.some((l) => l.startsWith('-a -t 10.96.0.70:80 ')),
    'self to be programmed',
  );
  const r = await http(world.pod('a').netns, '10.96.0.70', 80, 5);
  t.equal(r.filter((x) => x.ok).length, 5, JSON.stringify(r[0]));
  t.ok(
    r.every((x) => x.body === `a ${BRIDGE_IP}`),
    `masqueraded to the node so the reply comes back: ${r[0]!.body}`,
  );
});

t.test('a deleted Service loses its virtual servers and its address; a hand-deleted one comes back', async (t) => {
  await ipvsadm('-D', '-t', '10.96.0.20:80');
  await eventually(
    'the full resync to restore the virtual server',
    async () => (await save()).includes('-A -t 10.96.0.20:80 -s rr -p 300'),
    20_000,
    500,
  );
  t.pass('restored by the periodic sync');
  proxy.remove('sticky.yaml');
  await eventually('sticky to go', async () => !(await save()).some((l) => l.includes('10.96.0.20:80')), 20_000, 200);
  await eventually(
    'its address to go',
    async () => !(await world.exec(node, 'ip', ['-o', 'addr', 'show', 'dev', 'kube-ipvs0'])).includes('10.96.0.20/32'),
    10_000,
    200,
  );
  t.pass('virtual server and kube-ipvs0 address removed');
});

t.test('--cleanup removes virtual servers, kube-ipvs0, ipsets and chains, and nothing else', async (t) => {
  await proxy.stop();
  const r = await run('ip', ['netns', 'exec', node, process.execPath, PROXY_BIN, '--proxy-mode', 'ipvs', '--cleanup'], {
    timeoutMs: 120_000,
    allowFailure: true,
  });
  t.equal(r.code, 0, `cleanup succeeded: ${r.stderr.slice(-400)}`);
  t.same(await save(), FOREIGN_VS, "only someone else's virtual server is left");
  const links = await world.exec(node, 'ip', ['-o', 'link', 'show']);
  t.notMatch(links, /kube-ipvs0/, 'kube-ipvs0 is gone');
  t.equal((await world.exec(node, 'ipset', ['list', '-n'])).trim(), '', 'no ipset left');
  t.notMatch(await world.iptablesSave(), /KUBE-/, 'no KUBE- chain or rule left');
});
