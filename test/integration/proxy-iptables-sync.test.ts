// iptables mode's periodic sync against real iptables in test-created namespaces:
// a periodic sync writes only what changed, so packet counters of unchanged rules keep counting;
// rules flushed behind the proxy's back are found by the canary check and rewritten; NodePorts
// answer on 127.0.0.1 (--iptables-localhost-nodeports, upstream's default) and not with =false.
import t from 'tap';
import { run } from '../../lib/exec.js';
import { createWorld, endpointSlice, eventually, service, startProxy, tally } from '../fixtures/proxy/world.js';

const WEB = [
  service({
    name: 'web',
    clusterIP: '10.96.0.10',
    type: 'NodePort',
    ports: [{ name: 'http', port: 80, nodePort: 30080 }],
  }),
];

/** `[packets:bytes] -A ...` lines of iptables-save -c whose rule text contains `needle`. */
function counters(save: string, needle: string): Array<{ packets: number; rule: string }> {
  const out: Array<{ packets: number; rule: string }> = [];
  for (const line of save.split('\n')) {
    const m = /^\[(\d+):\d+\] (-A .*)$/.exec(line);
    if (m && m[2]!.includes(needle)) out.push({ packets: Number(m[1]), rule: m[2]! });
  }
  return out;
}

t.test('periodic syncs, counters and the canary', async (t) => {
  const world = await createWorld(t, ['a', 'b', 'cli']);
  await world.startBackends(['a', 'b']);
  const proxy = await startProxy(t, world, ['--sync-period', '3s']);
  const A = world.pod('a').ip;
  const B = world.pod('b').ip;
  const synced = proxy.nextSync();
  proxy.write('web.yaml', [...WEB, endpointSlice('web', [{ ip: A }, { ip: B }])]);
  await synced;
  const cli = world.pod('cli').netns;
  const periodic = (from: number) =>
    proxy.logs.slice(from).filter((l) => l.msg === 'synced proxy rules' && l.kind === 'periodic');

  t.test('packet counters of unchanged rules survive periodic syncs', async (t) => {
    const r = await world.http(cli, '10.96.0.10', 80, 20);
    t.equal(r.filter((x) => x.ok).length, 20, 'traffic through the ClusterIP');
    const save = () => world.exec(world.node, 'iptables-save', ['-c', '-t', 'nat']);
    const before = await save();
    const capture = counters(before, 'default/web:http cluster IP"').find((c) =>
      c.rule.startsWith('-A KUBE-SERVICES'),
    )!;
    const dnat = counters(before, '-j DNAT --to-destination');
    t.equal(capture.packets, 20, 'the KUBE-SERVICES rule counted every connection (one NEW packet each in nat)');
    t.equal(
      dnat.reduce((n, c) => n + c.packets, 0),
      20,
      'and the KUBE-SEP DNAT rules between them',
    );
    const from = proxy.logs.length;
    await proxy.waitForLog(() => periodic(from).length >= 2, 15_000);
    t.ok(
      periodic(from).every((l) => l.full === false),
      'the periodic syncs wrote only what changed (nothing)',
    );
    const after = await save();
    t.same(
      counters(after, 'default/web:http cluster IP"').find((c) => c.rule === capture.rule),
      capture,
      'KUBE-SERVICES counter unchanged',
    );
    t.same(counters(after, '-j DNAT --to-destination'), dnat, 'KUBE-SEP counters unchanged');
    // And iptables -L -v, what users read, says the same.
    const listing = await world.exec(world.node, 'iptables', ['-t', 'nat', '-L', 'KUBE-SERVICES', '-v', '-n', '-x']);
    t.match(listing, /^\s+20\s+\d+\s+KUBE-SVC-\S+\s+.*\s10\.96\.0\.10\s+\/\* default\/web:http cluster IP \*\//m);
  });

  t.test("an endpoint change rewrites its Service only: the other Service's counters stay", async (t) => {
    const synced = proxy.nextSync();
    proxy.write('other.yaml', [
      service({ name: 'other', clusterIP: '10.96.0.11' }),
      endpointSlice('other', [{ ip: A }]),
    ]);
    await synced;
    t.equal((await world.http(cli, '10.96.0.11', 80, 7)).filter((x) => x.ok).length, 7);
    const read = async () =>
      counters(await world.exec(world.node, 'iptables-save', ['-c', '-t', 'nat']), 'default/other:http');
    const before = await read();
    const changed = proxy.nextSync();
    proxy.write('web.yaml', [...WEB, endpointSlice('web', [{ ip: A }])]);
    t.equal((await changed).full, false, 'a partial sync');
    t.same(await read(), before, "default/other's rules and counters untouched");
  });

  for (const [how, commands, reason] of [
    [
      'the nat table flushed and its chains deleted (as a firewall reload)',
      [
        ['-t', 'nat', '-F'],
        ['-t', 'nat', '-X'],
      ],
      /KUBE-PROXY-CANARY chain is gone/,
    ],
    [
      'the nat table flushed, chains kept',
      [['-t', 'nat', '-F']],
      /jump rules are gone: .*nat PREROUTING -> KUBE-SERVICES/,
    ],
  ] as const) {
    t.test(`${how}: found at the next periodic sync and rewritten`, async (t) => {
      // Right after a periodic sync, so that the flush is complete before the next one looks.
      const at = proxy.logs.length;
      await proxy.waitForLog(() => periodic(at).length >= 1, 10_000);
      const from = proxy.logs.length;
      for (const args of commands) await world.exec(world.node, 'iptables', [...args]);
      const flushed = await world.iptablesSave();
      t.notMatch(flushed, /^-A KUBE-SVC-/m, 'our nat rules are gone');
      const dead = await world.http(cli, '10.96.0.10', 80, 1, 1000);
      t.notOk(dead[0]!.ok, `the ClusterIP does not answer (${dead[0]!.error})`);
      const log = await proxy.waitForLog((l) => l.msg === 'periodic sync rewrites every rule', 10_000, from);
      t.match(log.reason, reason);
      await proxy.waitForLog((l) => l.msg === 'synced proxy rules' && l.full === true, 10_000, from);
      const save = await world.iptablesSave();
      t.match(save, /^:KUBE-PROXY-CANARY - /m, 'the canary is back');
      t.equal(
        save
          .split('\n')
          .filter((l) => l === '-A PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES')
          .length,
        1,
        'the jump is back, once',
      );
      t.equal(
        save.split('\n').filter((l) => l === '-A INPUT -j KUBE-FIREWALL').length,
        1,
        "KUBE-FIREWALL's jump (no comment) is recognised, never doubled",
      );
      t.equal((await world.http(cli, '10.96.0.10', 80, 10)).filter((x) => x.ok).length, 10, 'the Service works again');
    });
  }
});

t.test('NodePort on 127.0.0.1 (--iptables-localhost-nodeports)', async (t) => {
  const world = await createWorld(t, ['a']);
  await world.startBackends(['a']);
  // The node namespace starts with route_localnet 0 (a new namespace's default).
  const localnet = () =>
    world.exec(world.node, 'sysctl', ['-n', 'net.ipv4.conf.all.route_localnet']).then((s) => s.trim());
  t.equal(await localnet(), '0');

  t.test(
    'default (true): route_localnet=1, the NodePort answers on 127.0.0.1, KUBE-FIREWALL drops martians',
    async (t) => {
      const proxy = await startProxy(t, world);
      const synced = proxy.nextSync();
      proxy.write('web.yaml', [...WEB, endpointSlice('web', [{ ip: world.pod('a').ip }])]);
      await synced;
      t.equal(await localnet(), '1');
      const r = await world.http(world.node, '127.0.0.1', 30080, 5);
      t.same(
        [...tally(r).keys()],
        ['a'],
        `127.0.0.1:30080 reaches the pod: ${JSON.stringify(r.map((x) => x.error ?? x.body))}`,
      );
      const curl = await run(
        'ip',
        ['netns', 'exec', world.node, 'curl', '-sS', '--max-time', '5', 'http://127.0.0.1:30080/'],
        { timeoutMs: 10_000 },
      );
      t.match(curl.stdout, /^a /, 'curl too');
      const save = await world.iptablesSave();
      t.match(save, /^-A INPUT -j KUBE-FIREWALL$/m);
      t.match(save, /^-A OUTPUT -j KUBE-FIREWALL$/m);
      t.match(
        save,
        /^-A KUBE-FIREWALL ! -s 127\.0\.0\.0\/8 -d 127\.0\.0\.0\/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP$/m,
      );
      await proxy.stop();
    },
  );

  t.test('=false: 127.0.0.1 excluded from NodePorts, other addresses still answer', async (t) => {
    await run(
      'ip',
      [
        'netns',
        'exec',
        world.node,
        process.execPath,
        (await import('../fixtures/proxy/world.js')).PROXY_BIN,
        '--cleanup',
      ],
      { timeoutMs: 60_000 },
    );
    const proxy = await startProxy(t, world, ['--iptables-localhost-nodeports=false']);
    const synced = proxy.nextSync();
    proxy.write('web.yaml', [...WEB, endpointSlice('web', [{ ip: world.pod('a').ip }])]);
    await synced;
    const save = await world.iptablesSave();
    t.match(
      save,
      /^-A KUBE-SERVICES ! -d 127\.0\.0\.0\/8 -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS$/m,
    );
    const r = await world.http(world.node, '127.0.0.1', 30080, 1, 1000);
    t.notOk(r[0]!.ok, `127.0.0.1:30080 does not reach the pod (${r[0]!.error})`);
    await eventually('the NodePort on the node address', async () =>
      (await world.http(world.ext, '192.0.2.1', 30080, 1)).every((x) => x.ok),
    );
    await proxy.stop();
  });
});
