// kubenode-proxy as a good neighbour: it leaves other programs' rules alone, repairs its own
// rules when someone deletes them, survives bad input, reports its health, and --cleanup
// removes exactly what it added. All inside test-created namespaces.
import t from 'tap';
import { writeFileSync } from 'node:fs';
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
  type World,
} from '../fixtures/proxy/world.js';

/** iptables-save without timestamps and counters, for comparing before and after. */
const normalize = (save: string) =>
  save
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]/g, '[0:0]'))
    .join('\n');
const lines = (save: string, prefix: string) => save.split('\n').filter((l) => l.startsWith(prefix));

// Rules as Docker would have them on a node: they must survive every sync and the cleanup.
const FOREIGN = `*nat
:DOCKER - [0:0]
-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER
-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER
-A POSTROUTING -s 172.17.0.0/16 ! -o docker0 -j MASQUERADE
-A DOCKER -i docker0 -j RETURN
COMMIT
*filter
:DOCKER-USER - [0:0]
-A INPUT -p tcp -m tcp --dport 22 -j ACCEPT
-A FORWARD -j DOCKER-USER
-A OUTPUT -o lo -j ACCEPT
-A DOCKER-USER -j RETURN
COMMIT
`;

async function cleanup(world: World, backendArgs: string[] = []) {
  return run('ip', ['netns', 'exec', world.node, process.execPath, PROXY_BIN, '--cleanup', ...backendArgs], {
    timeoutMs: 60_000,
  });
}

t.test('nft backend (the default)', async (t) => {
  const world = await createWorld(t, ['a', 'b', 'cli']);
  await world.startBackends(['a', 'b']);
  await run('ip', ['netns', 'exec', world.node, 'iptables-restore', '--noflush'], { input: FOREIGN });
  const before = normalize(await world.iptablesSave());
  const proxy = await startProxy(t, world, ['--sync-period', '3s']);
  const A = world.pod('a').ip;
  const B = world.pod('b').ip;
  const synced = proxy.nextSync();
  proxy.write('web.yaml', [
    service({
      name: 'web',
      clusterIP: '10.96.0.10',
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, nodePort: 30080 }],
    }),
    endpointSlice('web', [{ ip: A }, { ip: B }]),
  ]);
  await synced;

  t.test("other programs' rules are untouched and our jumps are never duplicated", async (t) => {
    // Two more periodic syncs, each of which checks and would re-insert missing jumps.
    const periodicSyncs = () =>
      proxy.logs.filter((l) => l.msg === 'synced proxy rules' && l.kind === 'periodic').length;
    const n = periodicSyncs();
    await proxy.waitForLog(() => periodicSyncs() >= n + 2, 10_000);
    const save = await world.iptablesSave();
    for (const l of before.split('\n').filter((x) => x.startsWith('-A'))) t.ok(save.includes(l), `still there: ${l}`);
    t.equal(lines(save, '-A PREROUTING -m comment --comment "kubernetes service portals"').length, 1);
    t.equal(lines(save, '-A FORWARD -m comment --comment "kubernetes forwarding rules"').length, 1);
    t.equal(lines(save, '-A POSTROUTING -m comment --comment "kubernetes postrouting rules"').length, 1);
    t.equal(tally(await world.http(world.ext, NODE_IP, 30080, 20)).size, 2, 'and the Service works');
  });

  t.test('rules deleted by hand are back after the periodic sync finds a jump missing', async (t) => {
    // Right after a periodic sync, so that the next one is a whole period away.
    await proxy.waitForLog((l) => l.msg === 'synced proxy rules' && l.kind === 'periodic', 5000, proxy.logs.length);
    const save = await world.iptablesSave();
    const dnat = lines(save, '-A KUBE-SEP-').find((l) => l.endsWith(`--to-destination ${A}:8080`))!;
    const sep = dnat.split(' ')[1]!;
    await world.exec(world.node, 'iptables', ['-t', 'nat', '-D', sep, '2']);
    await world.exec(world.node, 'iptables', [
      '-t',
      'nat',
      '-D',
      'PREROUTING',
      '-m',
      'comment',
      '--comment',
      'kubernetes service portals',
      '-j',
      'KUBE-SERVICES',
    ]);
    const broken = await world.http(world.ext, NODE_IP, 30080, 1, 1000);
    t.notOk(broken[0]!.ok, `without the PREROUTING jump the NodePort is dead (${broken[0]!.error})`);
    const deletedAt = Date.now();
    // The missing jump makes the periodic sync a full one, which also restores the SEP rule.
    await proxy.waitForLog((l) => l.msg === 'synced proxy rules' && l.full === true, 5000, proxy.logs.length);
    const repaired = await world.iptablesSave();
    t.ok(repaired.includes(dnat), "the endpoint's DNAT rule is back");
    t.equal(
      lines(repaired, '-A PREROUTING -m comment --comment "kubernetes service portals"').length,
      1,
      'the jump is back, once',
    );
    t.ok(Date.now() - deletedAt < 4000, 'within the sync period');
    t.same([...tally(await world.http(world.ext, NODE_IP, 30080, 30)).keys()].sort(), ['a', 'b']);
  });

  t.test('bad input is logged with the object and reason, and skipped; the rest keeps working', async (t) => {
    const from = proxy.logs.length;
    proxy.write('bad.yaml', [
      service({ name: 'bad-ip', clusterIP: '10.96.0.999' }),
      {
        ...service({ name: 'bad-port', clusterIP: '10.96.0.12' }),
        spec: { clusterIP: '10.96.0.12', ports: [{ name: 'http', port: 0 }] },
      },
      endpointSlice('ghost', [{ ip: A }]),
    ]);
    writeFileSync(`${proxy.dir}/junk.yaml`, 'this: [is not, {valid yaml');
    const synced = proxy.nextSync();
    proxy.write('good.yaml', [service({ name: 'good', clusterIP: '10.96.0.11' }), endpointSlice('good', [{ ip: B }])]);
    await synced;
    const rejected = await proxy.waitForLog(
      (l) => l.msg === 'Service rejected' && l.object === 'Service default/bad-ip',
      5000,
      from,
    );
    t.match(rejected.errors, [/spec\.clusterIP: "10\.96\.0\.999" is not a valid IPv4 address/]);
    const port = await proxy.waitForLog(
      (l) => l.msg === 'Service rejected' && l.object === 'Service default/bad-port',
      5000,
      from,
    );
    t.match(port.errors, [/spec\.ports\[0\]\.port: 0 is not a port number/]);
    const orphan = await proxy.waitForLog(
      (l) => String(l.msg).startsWith('EndpointSlice for a Service that does not exist'),
      5000,
      from,
    );
    t.match(orphan, { object: 'EndpointSlice default/ghost-abc12', service: 'default/ghost' });
    const junk = await proxy.waitForLog(
      (l) => l.msg === 'bad manifest skipped' && String(l.reason).includes('junk.yaml'),
      5000,
      from,
    );
    t.match(junk.reason, /not YAML/);
    t.same(
      [...tally(await world.http(world.pod('cli').netns, '10.96.0.11', 80, 5)).keys()],
      ['b'],
      'the good Service works',
    );
    t.equal(
      (await world.http(world.pod('cli').netns, '10.96.0.10', 80, 5)).filter((r) => r.ok).length,
      5,
      'and so does the old one',
    );
    t.notOk((await world.iptablesSave()).includes('bad-ip'), 'nothing of the bad Service was programmed');
  });

  t.test('/healthz and /metrics', async (t) => {
    const raw = await world.exec(world.node, process.execPath, [
      '-e',
      `
      const get = (p) => fetch('http://127.0.0.1' + p).then(async (r) => ({ status: r.status, body: await r.text() }));
      Promise.all([get(':10256/healthz'), get(':10249/metrics')]).then((x) => console.log(JSON.stringify(x)));`,
    ]);
    const [healthz, metrics] = JSON.parse(raw) as Array<{ status: number; body: string }>;
    t.equal(healthz!.status, 200);
    const hz = JSON.parse(healthz!.body);
    t.ok(Date.now() - Date.parse(hz.lastUpdated) < 5000, `last sync ${hz.lastUpdated}`);
    const m = metrics!.body;
    t.match(m, /^kubeproxy_sync_proxy_rules_duration_seconds_bucket\{le="0\.001"\} \d+$/m);
    t.match(m, /^kubeproxy_sync_full_proxy_rules_duration_seconds_count [1-9]\d*$/m);
    t.match(m, /^kubeproxy_sync_partial_proxy_rules_duration_seconds_count [1-9]\d*$/m);
    const last = Number(/^kubeproxy_sync_proxy_rules_last_timestamp_seconds (\S+)$/m.exec(m)![1]);
    t.ok(Date.now() / 1000 - last < 5, 'last sync timestamp is recent');
    // The rule counts are what is really in the kernel.
    const save = await world.iptablesSave();
    const natTable = save.slice(save.indexOf('*nat'));
    const filterTable = save.slice(
      save.indexOf('*filter'),
      save.indexOf('*nat') > save.indexOf('*filter') ? save.indexOf('*nat') : undefined,
    );
    t.equal(
      Number(/^kubeproxy_sync_proxy_rules_iptables_total\{table="nat"\} (\d+)$/m.exec(m)![1]),
      lines(natTable, '-A KUBE-').length,
      'nat rule count',
    );
    t.equal(
      Number(/^kubeproxy_sync_proxy_rules_iptables_total\{table="filter"\} (\d+)$/m.exec(m)![1]),
      lines(filterTable, '-A KUBE-').length,
      'filter rule count',
    );
  });

  t.test('bad flags and a missing services dir fail with a clear message', async (t) => {
    const bin = (args: string[]) =>
      run('ip', ['netns', 'exec', world.node, process.execPath, PROXY_BIN, ...args], {
        allowFailure: true,
        timeoutMs: 30_000,
      });
    const badFlag = await bin(['--services-dir', proxy.dir, '--sync-period', 'often']);
    t.equal(badFlag.code, 2);
    t.match(badFlag.stderr, /--sync-period: "often" is not a duration/);
    const noDir = await bin([
      '--services-dir',
      '/nonexistent/kubenode',
      '--healthz-bind-address',
      '',
      '--metrics-bind-address',
      '',
    ]);
    t.equal(noDir.code, 1);
    t.match(noDir.stderr, /--services-dir \/nonexistent\/kubenode: no such directory/);
  });

  t.test('a restart removes the chains of Services deleted while it was down', async (t) => {
    await proxy.stop();
    t.ok((await world.iptablesSave()).includes('KUBE-SERVICES'), 'stopping keeps the rules (traffic keeps flowing)');
    const goodChains = lines(await world.iptablesSave(), '-A KUBE-SVC-')
      .filter((l) => l.includes('default/good:http'))
      .map((l) => l.split(' ')[1]);
    t.ok(goodChains.length > 0);
    proxy.remove('good.yaml');
    const again = await startProxy(t, world, [], proxy.dir);
    const save = await world.iptablesSave();
    for (const c of new Set(goodChains)) t.notOk(save.includes(`:${c} `), `${c} deleted`);
    t.ok(save.includes('default/web:http cluster IP'), 'the others stay');
    await again.stop();
  });

  t.test('--cleanup leaves iptables-save as it found it, but for KUBE-FIREWALL', async (t) => {
    await cleanup(world);
    // Upstream's CleanupLeftovers keeps KUBE-FIREWALL and its jumps: route_localnet stays 1
    // after a cleanup, and this rule is what makes that safe (proxy/iptables/static-rules.ts).
    const firewall = /^(:KUBE-FIREWALL - \[0:0\]|-A (INPUT|OUTPUT) -j KUBE-FIREWALL|-A KUBE-FIREWALL .*)$/;
    const after = normalize(await world.iptablesSave()).split('\n');
    t.equal(after.filter((l) => firewall.test(l)).length, 4, 'the firewall chain, its rule and two jumps stay');
    t.equal(after.filter((l) => !firewall.test(l)).join('\n'), before);
    const again = await cleanup(world);
    t.equal(again.code, 0, 'a second cleanup has nothing to do and succeeds');
  });
});

t.test('legacy backend', async (t) => {
  const world = await createWorld(t, ['a', 'cli']);
  await world.startBackends(['a']);
  await run('ip', ['netns', 'exec', world.node, 'iptables-legacy-restore', '--noflush'], { input: FOREIGN });
  const save = () => world.exec(world.node, 'iptables-legacy-save', []);
  const before = normalize(await save());
  // NodePorts only on the node's address in 192.0.2.0/24 (read with `ip -j addr`).
  const proxy = await startProxy(t, world, ['--iptables-backend', 'legacy', '--nodeport-addresses', '192.0.2.0/24']);
  const synced = proxy.nextSync();
  proxy.write('web.yaml', [
    service({
      name: 'web',
      clusterIP: '10.96.0.10',
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, nodePort: 30090 }],
    }),
    endpointSlice('web', [{ ip: world.pod('a').ip }]),
  ]);
  await synced;
  t.same([...tally(await world.http(world.pod('cli').netns, '10.96.0.10', 80, 5)).keys()], ['a']);
  t.same(
    [...tally(await world.http(world.ext, NODE_IP, 30090, 3)).keys()],
    ['a'],
    'NodePort on the node address in --nodeport-addresses',
  );
  const other = await world.http(world.pod('cli').netns, BRIDGE_IP, 30090, 1, 1000);
  t.equal(other[0]!.error, 'ECONNREFUSED', 'but not on its other addresses');
  t.match(
    await save(),
    /-A KUBE-SERVICES -d 192\.0\.2\.1\/32 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -j KUBE-NODEPORTS/,
  );
  t.match(await save(), /-A KUBE-SERVICES -d 10\.96\.0\.10\/32/);
  t.notMatch(await world.exec(world.node, 'iptables-nft-save', []), /KUBE-/, 'nothing written through nft');
  await proxy.stop();
  await cleanup(world, ['--iptables-backend', 'legacy']);
  t.equal(normalize(await save()), before);
  await eventually('nothing of ours left', async () => !(await save()).includes('KUBE-'));
});
