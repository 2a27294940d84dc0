// kubenode-proxy's userspace mode moving real packets: the proxy accepts every connection itself
// and copies the bytes, behind REDIRECT/DNAT rules in the node namespace's real iptables (see
// test/fixtures/proxy/world.ts for the namespaces). Nothing here touches the root namespace.
import t from 'tap';
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { run } from '../../lib/exec.js';
import {
  BRIDGE_IP,
  createWorld,
  endpointSlice,
  eventually,
  NODE_IP,
  PROXY_BIN,
  service,
  startProxy,
  tally,
} from '../fixtures/proxy/world.js';

const world = await createWorld(t, ['a', 'b', 'c', 'd', 'cli']);
await world.startBackends(['a', 'b', 'c']);
const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'kubenode-userspace-'));
t.teardown(() => run('rm', ['-rf', dir]));
let proxy = await startProxy(t, world, ['--proxy-mode', 'userspace'], dir);
const cli = world.pod('cli').netns;
const [A, B, C, D] = ['a', 'b', 'c', 'd'].map((n) => world.pod(n).ip) as [string, string, string, string];

async function apply(file: string, docs: object[]) {
  const synced = proxy.nextSync();
  proxy.write(file, docs);
  await synced;
}

const web = service({
  name: 'web',
  clusterIP: '10.96.0.10',
  type: 'NodePort',
  ports: [{ name: 'http', port: 80, nodePort: 30080 }],
});
await apply('web.yaml', [web, endpointSlice('web', [{ ip: A }, { ip: B }, { ip: C }])]);

t.test('ClusterIP from a pod: strict round-robin over the endpoints; the backend sees the node', async (t) => {
  const r = await world.http(cli, '10.96.0.10', 80, 60);
  t.equal(r.filter((x) => x.ok).length, 60, 'no request failed');
  // One client, one connection at a time: the rotation gives each endpoint exactly its share.
  t.same(Object.fromEntries(tally(r)), { a: 20, b: 20, c: 20 });
  // The proxy opens the connection to the pod itself: the client's address is lost (the
  // course's other reason, beside speed, why iptables mode replaced this one).
  t.ok(
    r.every((x) => x.body!.endsWith(` ${BRIDGE_IP}`)),
    `source seen by the backend: ${r[0]!.body}`,
  );
});

t.test('ClusterIP from the node itself (DNAT to the host IP)', async (t) => {
  const r = await world.http(world.node, '10.96.0.10', 80, 9);
  t.same(Object.fromEntries(tally(r)), { a: 3, b: 3, c: 3 });
});

t.test('NodePort from outside the cluster', async (t) => {
  const r = await world.http(world.ext, NODE_IP, 30080, 30);
  t.same([...tally(r).keys()].sort(), ['a', 'b', 'c']);
  t.equal(r.filter((x) => x.ok).length, 30);
});

t.test('the rules: REDIRECT to the proxy socket, which listens on an ephemeral port', async (t) => {
  const save = await world.iptablesSave();
  const redirect =
    /-A KUBE-PORTALS-CONTAINER -d 10\.96\.0\.10\/32 -p tcp -m comment --comment "default\/web:http" -m tcp --dport 80 -j REDIRECT --to-ports (\d+)/.exec(
      save,
    );
  t.ok(redirect, 'ClusterIP redirect in KUBE-PORTALS-CONTAINER');
  const port = redirect![1]!;
  t.match(
    save,
    `-A KUBE-PORTALS-HOST -d 10.96.0.10/32 -p tcp -m comment --comment "default/web:http" -m tcp --dport 80 -j DNAT --to-destination ${NODE_IP}:${port}`,
  );
  t.match(
    save,
    `-A KUBE-NODEPORT-CONTAINER -p tcp -m comment --comment "default/web:http" -m tcp --dport 30080 -j REDIRECT --to-ports ${port}`,
  );
  const listening = await world.exec(world.node, 'ss', ['-Hltn', `sport = :${port}`]);
  t.match(listening, `0.0.0.0:${port}`, 'the proxy listens there on every address');
  t.ok(Number(port) >= 32768, `an ephemeral port (${port})`);
});

t.test('UDP: one connection per client address; replies come back from the ClusterIP', async (t) => {
  await apply('dns.yaml', [
    service({ name: 'dns', clusterIP: '10.96.0.53', ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
    endpointSlice('dns', [{ ip: A }, { ip: B }], [{ name: 'dns', port: 8081, protocol: 'UDP' }]),
  ]);
  // A connected socket only accepts datagrams from the address it sent to: the reply must be
  // un-NATed back to 10.96.0.53:53, or this times out.
  const script = `const s=require('dgram').createSocket('udp4');const t=setTimeout(()=>{console.log('timeout');process.exit(1)},3000);
    s.connect(53,'10.96.0.53',()=>{s.send('a');s.once('message',(m)=>{s.send('b');s.once('message',(n)=>{console.log(m+'|'+n);clearTimeout(t);s.close()})})})`;
  const out = (await world.exec(cli, process.execPath, ['-e', script])).trim();
  const [first, second] = out.split('|').map((x) => x.trim().split(' ')[0]);
  t.ok(first === 'a' || first === 'b', `answered through the ClusterIP: ${out}`);
  t.equal(second, first, 'the same client address stays on its endpoint');
  // New client ports are new connections: they take turns.
  const spread = tally(await world.udp(cli, '10.96.0.53', 53, 10));
  t.same([...spread.keys()].sort(), ['a', 'b'], `spread: ${JSON.stringify([...spread])}`);
});

t.test('sessionAffinity ClientIP keeps a client on one backend', async (t) => {
  await apply('sticky.yaml', [
    service({ name: 'sticky', clusterIP: '10.96.0.20', sessionAffinity: 'ClientIP', affinitySeconds: 300 }),
    endpointSlice('sticky', [{ ip: A }, { ip: B }, { ip: C }]),
  ]);
  const fromPod = tally(await world.http(cli, '10.96.0.20', 80, 30));
  t.equal(fromPod.size, 1, `one backend for the pod: ${JSON.stringify([...fromPod])}`);
  t.equal([...fromPod.values()][0], 30);
  t.equal(tally(await world.http(world.node, '10.96.0.20', 80, 10)).size, 1, 'another client sticks too');
});

t.test('a Service with no endpoints is refused at once', async (t) => {
  await apply('empty.yaml', [
    service({
      name: 'empty',
      clusterIP: '10.96.0.50',
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, nodePort: 30050 }],
    }),
  ]);
  for (const [from, host, port] of [
    [cli, '10.96.0.50', 80],
    [world.node, '10.96.0.50', 80],
    [world.ext, NODE_IP, 30050],
  ] as const) {
    const r = (await world.http(from, host, port, 1))[0]!;
    t.equal(r.error, 'ECONNREFUSED', `${from} -> ${host}:${port}`);
    t.ok(r.ms < 500, `refused in ${r.ms.toFixed(1)} ms`);
  }
  await apply('empty.yaml', [
    service({
      name: 'empty',
      clusterIP: '10.96.0.50',
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, nodePort: 30050 }],
    }),
    endpointSlice('empty', [{ ip: B }]),
  ]);
  t.same([...tally(await world.http(cli, '10.96.0.50', 80, 3)).keys()], ['b'], 'endpoints appear: it answers');
});

/** An HTTP server in pod d that the test can kill; it prints "served" for each request. */
async function startD(): Promise<{ child: ChildProcess; served: () => number }> {
  const script =
    "require('http').createServer((q,s)=>{s.setHeader('Connection','close');s.end('d '+q.socket.remoteAddress+'\\n');console.log('served')}).listen(8080,'0.0.0.0',()=>console.log('ready'));process.on('SIGTERM',()=>process.exit(0))";
  const child = spawn('ip', ['netns', 'exec', world.pod('d').netns, process.execPath, '-e', script], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  t.teardown(() => child.kill('SIGKILL'));
  let served = 0;
  await new Promise<void>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (l) =>
      l === 'ready' ? resolve() : l === 'served' && served++,
    );
    child.once('exit', (code) => reject(new Error(`backend d exited ${code}`)));
  });
  return { child, served: () => served };
}

/**
 * Service "loop" over a, b and d; a client connects 400 times in a row while d's server is
 * stopped (SIGTERM) early on. The EndpointSlice is never updated: d stays listed, as in the
 * seconds before a real endpoint controller notices a dead pod.
 */
async function loopWhileBackendDies() {
  const d = await startD();
  await apply('loop.yaml', [
    service({ name: 'loop', clusterIP: '10.96.0.80' }),
    endpointSlice('loop', [{ ip: A }, { ip: B }, { ip: D }]),
  ]);
  const requests = world.http(cli, '10.96.0.80', 80, 400);
  // d dies once the loop is well under way (it has answered a few), whatever the machine's load.
  await eventually('d to serve 3 requests', async () => d.served() >= 3, 30_000, 10);
  d.child.kill('SIGTERM');
  await new Promise((r) => d.child.once('exit', r));
  const r = await requests;
  const failed = r.filter((x) => !x.ok);
  return {
    // A connection d had already accepted when it died is reset: no mode can save that one.
    inFlight: failed.filter((x) => x.error === 'ECONNRESET').length,
    failedConnects: failed.filter((x) => x.error !== 'ECONNRESET').length,
    counts: Object.fromEntries(tally(r)),
  };
}

t.test('a backend dies while a client connects in a loop: zero failed connects', async (t) => {
  const from = proxy.logs.length;
  const r = await loopWhileBackendDies();
  t.comment(
    `userspace mode: ${r.failedConnects} failed connects of 400 (${r.inFlight} in flight on d when it died); by backend ${JSON.stringify(r.counts)}`,
  );
  t.equal(r.failedConnects, 0, 'no connect failed');
  t.ok(r.inFlight <= 1, 'at most the one request d was serving when it died');
  t.ok(r.counts.d! >= 3, 'd answered while it was alive');
  const failovers = proxy.logs
    .slice(from)
    .filter((l) => l.msg === 'endpoint connect failed; trying the next one' && l.endpoint === `${D}:8080`);
  t.ok(failovers.length > 0, `connects to the dead d fell through to the next endpoint (${failovers.length} times)`);
});

t.test('a removed Service: its rules go and its socket is closed', async (t) => {
  const port = /--dport 80 -j REDIRECT --to-ports (\d+)/.exec(
    (await world.iptablesSave()).split('\n').find((l) => l.includes('10.96.0.80/32'))!,
  )![1]!;
  const synced = proxy.nextSync();
  proxy.remove('loop.yaml');
  await synced;
  t.notMatch(await world.iptablesSave(), '10.96.0.80', 'no rule mentions it');
  t.equal((await world.exec(world.node, 'ss', ['-Hltn', `sport = :${port}`])).trim(), '', `nothing listens on ${port}`);
});

const chains = async () =>
  (await world.iptablesSave())
    .split('\n')
    .filter((l) => /^:KUBE-/.test(l))
    .map((l) => l.split(' ')[0]!.slice(1));

t.test("switching modes: each removes the other's rules; --cleanup removes ours", async (t) => {
  await proxy.stop();
  proxy = await startProxy(t, world, [], dir);
  let now = await chains();
  t.notOk(
    now.some((c) => c.startsWith('KUBE-PORTALS') || c.startsWith('KUBE-NODEPORT-')),
    `iptables mode removed the userspace chains: ${now.join(' ')}`,
  );
  t.ok(
    now.some((c) => c.startsWith('KUBE-SVC-')),
    'and has its own',
  );
  // Random choice in iptables mode: 30 requests miss one of 3 backends with probability 2e-5.
  t.equal(tally(await world.http(cli, '10.96.0.10', 80, 30)).size, 3, 'the Service works in iptables mode');
  // The contrast: iptables mode DNATs to the dead d until the EndpointSlice drops it.
  const r = await loopWhileBackendDies();
  t.comment(
    `iptables mode: ${r.failedConnects} failed connects of 400 (${r.inFlight} in flight); by backend ${JSON.stringify(r.counts)}`,
  );
  t.ok(r.failedConnects > 0, 'in iptables mode the client sees the dead backend');
  proxy.remove('loop.yaml');
  await proxy.stop();

  proxy = await startProxy(t, world, ['--proxy-mode', 'userspace'], dir);
  now = await chains();
  t.notOk(
    now.some((c) => c.startsWith('KUBE-SVC-') || c === 'KUBE-SERVICES'),
    `userspace mode removed the iptables chains: ${now.join(' ')}`,
  );
  t.equal(tally(await world.http(cli, '10.96.0.10', 80, 6)).size, 3, 'the Service works in userspace mode again');
  await proxy.stop();

  await run(
    'ip',
    ['netns', 'exec', world.node, process.execPath, PROXY_BIN, '--cleanup', '--proxy-mode', 'userspace'],
    { timeoutMs: 60_000 },
  );
  // KUBE-FIREWALL (the iptables mode's guard of localhost NodePorts, with its INPUT/OUTPUT jumps)
  // outlives --cleanup on purpose, as upstream's does: route_localnet stays 1, and without the
  // guard's martian drop, 127.0.0.0/8 would be reachable from outside.
  const firewall = /KUBE-FIREWALL/;
  t.same(
    (await chains()).filter((c) => !firewall.test(c)),
    [],
    "no chain of ours left (but the iptables mode's KUBE-FIREWALL)",
  );
  t.notMatch(
    (await world.iptablesSave())
      .split('\n')
      .filter((l) => !firewall.test(l))
      .join('\n'),
    'KUBE-',
    'no jump either',
  );
});
