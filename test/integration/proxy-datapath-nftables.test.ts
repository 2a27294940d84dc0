// kubenode-proxy's nftables mode moving real packets: the same datapath scenario as the
// iptables mode (test/fixtures/proxy/datapath-scenario.ts), then what is particular to this
// mode: everything lives in our own table, a partial sync writes a small transaction, another
// mode's start removes the table, and --cleanup removes it.
import t from 'tap';
import { run } from '../../lib/exec.js';
import { datapathScenario } from '../fixtures/proxy/datapath-scenario.js';
import { endpointSlice, PROXY_BIN, service, startProxy, tally } from '../fixtures/proxy/world.js';

const { world, proxy } = await datapathScenario('nftables');

t.test('nftables mode: only our table, nothing in iptables', async (t) => {
  const ruleset = await world.exec(world.node, 'nft', ['list', 'tables']);
  t.same(ruleset.trim().split('\n'), ['table ip kubenode'], 'one table of ours and nothing else');
  const saved = await world.iptablesSave();
  t.notMatch(saved, /KUBE-/, 'no iptables chain of the iptables mode');
  const table = await world.exec(world.node, 'nft', ['list', 'table', 'ip', 'kubenode']);
  t.match(table, /map service-ips \{/);
  t.match(
    table,
    /10\.96\.0\.10 \. tcp \. 80 : goto service-\S+-default\/web\/tcp\/http/,
    'the ClusterIP is an element of the service-ips verdict map',
  );
  t.match(
    table,
    /numgen random mod 2 0 meta l4proto tcp dnat to 10\.244\.1\.\d+:8080\n\s+meta l4proto tcp dnat to 10\.244\.1\.\d+:8080/,
    'web (2 ready endpoints): the first rule takes half and DNATs, the second the rest',
  );
  t.notMatch(table, /chain endpoint-\S+-default\/web\//, 'no chain per endpoint without session affinity');
});

t.test('nftables mode: an endpoint change is one small partial sync', async (t) => {
  const from = proxy.logs.length;
  const synced = proxy.nextSync();
  proxy.write('web.yaml', [
    service({
      name: 'web',
      clusterIP: '10.96.0.10',
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, nodePort: 30080 }],
    }),
    endpointSlice('web', [{ ip: world.pod('a').ip }]),
  ]);
  const line = await synced;
  t.equal(line.full, false, 'a partial sync');
  t.equal(line.restores, 1, 'one nft transaction');
  t.ok(Number(line.written) <= 2, `one Service chain rewritten: ${String(line.written)} objects`);
  t.notOk(
    proxy.logs.slice(from).some((l) => l.msg === 'deleted stale chains'),
    'no full-sync cleanup',
  );
  t.same([...tally(await world.http(world.pod('cli').netns, '10.96.0.10', 80, 10)).keys()], ['a']);
});

t.test('starting iptables mode removes the nftables table; --cleanup removes ours', async (t) => {
  await proxy.stop();
  const ipt = await startProxy(t, world, ['--proxy-mode', 'iptables'], proxy.dir);
  t.equal(
    (await world.exec(world.node, 'nft', ['list', 'tables', 'ip'])).includes('kubenode'),
    false,
    'the nftables table is gone',
  );
  t.same(
    [...tally(await world.http(world.pod('cli').netns, '10.96.0.10', 80, 10)).keys()],
    ['a'],
    'and the iptables mode serves the Service',
  );
  await ipt.stop();
  const back = await startProxy(t, world, ['--proxy-mode', 'nftables'], proxy.dir);
  t.notMatch(await world.iptablesSave(), /KUBE-SVC-/, 'nftables mode removed the iptables mode chains');
  await back.stop();
  await world.exec(world.node, process.execPath, [PROXY_BIN, '--proxy-mode', 'nftables', '--cleanup']);
  t.equal(
    (await world.exec(world.node, 'nft', ['list', 'tables'])).includes('kubenode'),
    false,
    '--cleanup deleted the table',
  );
});

t.test('without nft, nftables mode exits 2 and says what to install', async (t) => {
  // A PATH without nft: the mode is refused before anything is touched.
  const r = await run(
    process.execPath,
    [
      PROXY_BIN,
      '--proxy-mode',
      'nftables',
      '--services-dir',
      proxy.dir,
      '--healthz-bind-address=',
      '--metrics-bind-address=',
    ],
    { allowFailure: true, env: { ...process.env, PATH: '/nonexistent' }, timeoutMs: 30_000 },
  );
  t.equal(r.code, 2);
  t.match(
    r.stderr,
    /--proxy-mode nftables: nft is not installed \(apt-get install nftables\); or use --proxy-mode iptables/,
  );
});
