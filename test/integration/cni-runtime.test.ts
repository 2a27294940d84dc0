// The agent's CNI runtime (agent/network/cni.ts) driving real plugin chains in a node namespace:
//   [kubenode-bridge, portmap, bandwidth]  hostPorts answer from outside the node, shaping is
//                                          installed, CHECK passes, teardown leaves nothing
//   [bridge + host-local] (Debian's)       the runtime works with the reference plugins
//   [bridge + kubenode-ipam]               the reference bridge works with our IPAM
//   a failing chain is rolled back; status() follows the podCIDR file; GC drops stale state.
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { CniNetwork, type PodNetworkRequest } from '../../agent/network/cni.js';
import { cniWorld, type CniWorld } from '../fixtures/cni/world.js';
import { createNetns } from '../harness/netns.js';

const quiet = createLogger('cni-test', { sink: () => {} });

function runtime(w: CniWorld, name: string, conflist: Record<string, unknown> | undefined, file = '10-net.conflist') {
  const confDir = join(w.tmp, `conf-${name}`);
  mkdirSync(confDir, { recursive: true });
  if (conflist) writeFileSync(join(confDir, file), JSON.stringify(conflist));
  const cacheDir = join(w.tmp, `cache-${name}`);
  return { cni: new CniNetwork({ confDir, binDirs: [w.wrapperDir()], cacheDir, logger: quiet }), confDir, cacheDir };
}

function request(
  w: CniWorld,
  name: string,
  netnsPath: string,
  extra: Partial<PodNetworkRequest> = {},
): PodNetworkRequest {
  return {
    containerId: `${w.prefix}-${name}`,
    netnsPath,
    podName: name,
    podNamespace: 'default',
    podUid: `uid-${name}`,
    ...extra,
  };
}

/** A namespace outside the node, linked to it by a veth: node 192.168.250.1, outside .2. */
async function outside(t: Test, w: CniWorld): Promise<string> {
  const ext = `${w.prefix}-ext`;
  await createNetns(t, ext);
  await run('ip', [
    '-n',
    w.node,
    'link',
    'add',
    `${w.prefix}n`,
    'type',
    'veth',
    'peer',
    'name',
    `${w.prefix}e`,
    'netns',
    ext,
  ]);
  await run('ip', ['-n', w.node, 'addr', 'add', '192.168.250.1/24', 'dev', `${w.prefix}n`]);
  await run('ip', ['-n', w.node, 'link', 'set', `${w.prefix}n`, 'up']);
  await run('ip', ['-n', ext, 'addr', 'add', '192.168.250.2/24', 'dev', `${w.prefix}e`]);
  await run('ip', ['-n', ext, 'link', 'set', `${w.prefix}e`, 'up']);
  return ext;
}

t.test('kubenode-bridge + portmap + bandwidth through the runtime', async (t) => {
  const w = await cniWorld(t);
  const ext = await outside(t, w);
  const { cni, cacheDir } = runtime(w, 'chain', {
    cniVersion: '1.0.0',
    name: w.network,
    // Debian's portmap (1.1.1) fails CHECK for IPv4-only pods whenever ip6tables exists (it checks
    // its IPv6 chain unconditionally; fixed upstream later), so this list disables CHECK as an
    // administrator would. CHECK through our plugin is exercised by the other lists below.
    disableCheck: true,
    plugins: [
      {
        type: 'kubenode-bridge',
        bridge: w.bridge,
        isGateway: true,
        isDefaultGateway: true,
        ipMasq: true,
        ipam: { type: 'kubenode-ipam', ranges: [[{ subnet: '10.244.3.0/24' }]], dataDir: w.dataDir },
      },
      { type: 'portmap', capabilities: { portMappings: true } },
      { type: 'bandwidth', capabilities: { bandwidth: true } },
    ],
  });
  t.same(await cni.status(), {
    ready: true,
    message: `network ${w.network} (${join(w.tmp, 'conf-chain', '10-net.conflist')}, CNI 1.0.0) ready`,
  });

  const path = await w.pod('web');
  const req = request(w, 'web', path, {
    portMappings: [{ hostPort: 18080, containerPort: 80, protocol: 'tcp' }],
    bandwidth: { ingressRate: 8_000_000, ingressBurst: 800_000, egressRate: 4_000_000, egressBurst: 400_000 },
  });
  const st = await cni.setUpPod(req);
  t.equal(st.interfaceName, 'eth0');
  t.equal(st.ips.length, 1);
  t.match(st.ips[0], /^10\.244\.3\.\d+$/, `pod IP ${st.ips[0]}`);
  const result = st.result as { interfaces: { name: string; sandbox?: string }[] };
  const hostVeth = result.interfaces[1]!.name;

  await w.httpd(`${w.prefix}-web`, '80', 'web pod');
  t.equal(
    await w.get(ext, 'http://192.168.250.1:18080/'),
    'web pod',
    'hostPort 18080 on the node reaches the pod from outside (portmap)',
  );
  t.match(await w.natRules(), /CNI-HOSTPORT-DNAT/, 'portmap installed its chains');

  const qdisc = await w.sh(w.node, 'tc', ['qdisc', 'show', 'dev', hostVeth]);
  t.match(qdisc, /tbf .*rate 8Mbit/, `bandwidth shaped the host veth found through our result: ${qdisc.trim()}`);
  t.ok(
    (await w.nodeLinks()).some((l) => l.startsWith('bwp')),
    'bandwidth created its ifb device for egress',
  );

  await cni.checkPod(req);
  t.pass('checkPod honours disableCheck');
  t.ok(
    existsSync(join(cacheDir, 'results')) && readdirSync(join(cacheDir, 'results')).length === 1,
    'the result is cached',
  );

  await cni.tearDownPod(req);
  t.same((await w.nodeLinks()).sort(), [`${w.prefix}n`, w.bridge].sort(), 'no veth and no ifb left');
  t.same(w.allocations(), [], 'address released');
  const nat = await w.natRules();
  t.notMatch(nat, /KUBENODE-BR-/, 'ipMasq chain removed');
  t.notMatch(nat, /CNI-DN-/, 'portmap per-container chain removed');
  t.same(readdirSync(join(cacheDir, 'results')), [], 'cache entry removed');
  await cni.tearDownPod(req);
  t.pass('a second teardown succeeds');

  // Teardown after the namespace is gone (the sandbox died first).
  const path2 = await w.pod('gone');
  const req2 = request(w, 'gone', path2, { portMappings: [{ hostPort: 18081, containerPort: 80, protocol: 'tcp' }] });
  await cni.setUpPod(req2);
  await run('ip', ['netns', 'delete', `${w.prefix}-gone`]);
  await cni.tearDownPod(req2);
  t.same(w.allocations(), [], 'teardown with the namespace gone releases the address');
  t.notMatch(await w.natRules(), /KUBENODE-BR-|CNI-DN-/, 'and removes the rules');
});

t.test("Debian's bridge + host-local, and Debian's bridge + kubenode-ipam, through the runtime", async (t) => {
  const w = await cniWorld(t);
  for (const ipamType of ['host-local', 'kubenode-ipam']) {
    const name = `${w.prefix}-${ipamType === 'host-local' ? 'hl' : 'ki'}`;
    const { cni } = runtime(w, ipamType, {
      cniVersion: '1.0.0',
      name,
      plugins: [
        {
          type: 'bridge',
          bridge: `${w.prefix}${ipamType === 'host-local' ? 'b1' : 'b2'}`,
          isGateway: true,
          isDefaultGateway: true,
          ipam: {
            type: ipamType,
            ranges: [[{ subnet: ipamType === 'host-local' ? '10.244.4.0/24' : '10.244.6.0/24' }]],
            dataDir: w.dataDir,
          },
        },
      ],
    });
    const a = request(w, `${ipamType}-a`, await w.pod(`${ipamType}-a`));
    const b = request(w, `${ipamType}-b`, await w.pod(`${ipamType}-b`));
    const sa = await cni.setUpPod(a);
    const sb = await cni.setUpPod(b);
    t.not(sa.ips[0], sb.ips[0], `${ipamType}: two pods, two addresses (${sa.ips[0]}, ${sb.ips[0]})`);
    await w.httpd(`${w.prefix}-${ipamType}-b`, '80', `b via ${ipamType}`);
    t.equal(
      await w.get(`${w.prefix}-${ipamType}-a`, `http://${sb.ips[0]}/`),
      `b via ${ipamType}`,
      `${ipamType}: pod a reaches pod b over HTTP`,
    );
    await cni.checkPod(a);
    t.equal(w.allocations(name).length, 2, `${ipamType}: two allocations in the shared on-disk format`);
    await cni.tearDownPod(a);
    await cni.tearDownPod(b);
    t.same(w.allocations(name), [], `${ipamType}: released`);
  }
  t.same((await w.nodeLinks()).sort(), [`${w.prefix}b1`, `${w.prefix}b2`], 'no veth left');
});

t.test('a failing chain is rolled back; status and GC', async (t) => {
  const w = await cniWorld(t);
  const bridgePlugin = {
    type: 'kubenode-bridge',
    bridge: w.bridge,
    isGateway: true,
    ipMasq: true,
    ipam: { type: 'kubenode-ipam', ranges: [[{ subnet: '10.244.7.0/24' }]], dataDir: w.dataDir },
  };
  const broken = runtime(w, 'broken', {
    cniVersion: '1.0.0',
    name: w.network,
    plugins: [bridgePlugin, { type: 'no-such-plugin' }],
  });
  const path = await w.pod('rb');
  await t.rejects(broken.cni.setUpPod(request(w, 'rb', path)), /no-such-plugin/, 'ADD fails at the missing plugin');
  t.same(await w.nodeLinks(), [w.bridge], 'the bridge plugin was rolled back: no veth');
  t.same(w.allocations(), [], 'no allocation');
  t.notMatch(await w.natRules(), /KUBENODE-BR-/, 'no chain');
  t.notOk(
    existsSync(join(broken.cacheDir, 'results')) && readdirSync(join(broken.cacheDir, 'results')).length > 0,
    'nothing cached',
  );
  t.match((await broken.cni.status()).message, /no-such-plugin/, 'status names the missing plugin');

  const empty = runtime(w, 'empty', undefined);
  const s0 = await empty.cni.status();
  t.equal(s0.ready, false);
  t.match(s0.message, /no CNI network configuration/);
  writeFileSync(join(empty.confDir, '00-broken.conflist'), '{"cniVersion": "1.1.0", "plugins": [');
  t.match(
    (await empty.cni.status()).message,
    /00-broken\.conflist: not valid JSON/,
    'a broken file is named with the reason',
  );

  // A 1.1.0 network waiting for the node's podCIDR: not ready until the agent writes the file.
  const podcidr = join(w.tmp, 'podcidr');
  writeFileSync(
    join(empty.confDir, '10-kubenode.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: `${w.prefix}-pc`,
      plugins: [
        {
          type: 'kubenode-bridge',
          bridge: w.bridge,
          isGateway: true,
          isDefaultGateway: true,
          ipam: { type: 'kubenode-ipam', podCIDRFile: podcidr, dataDir: w.dataDir },
        },
      ],
    }),
  );
  const s1 = await empty.cni.status();
  t.equal(s1.ready, false, 'not ready without a podCIDR');
  t.match(s1.message, /no podCIDR yet/);
  writeFileSync(podcidr, '10.244.11.0/24\n');
  t.equal((await empty.cni.status()).ready, true, 'ready once the podCIDR file exists (the broken file is skipped)');

  const keep = request(w, 'keep', await w.pod('keep'));
  const drop = request(w, 'drop', await w.pod('drop'));
  await empty.cni.setUpPod(keep);
  await empty.cni.setUpPod(drop);
  await empty.cni.checkPod(keep);
  t.pass('CHECK through the runtime passes for a 1.1.0 kubenode-bridge network');
  await run('ip', ['-n', `${w.prefix}-keep`, 'route', 'del', 'default']);
  await t.rejects(
    empty.cni.checkPod(keep),
    /route to 0\.0\.0\.0\/0 .* is missing/,
    'and fails, naming the route, once the default route is gone',
  );
  await run('ip', ['-n', `${w.prefix}-keep`, 'route', 'add', 'default', 'via', '10.244.11.1']);
  t.equal(w.allocations(`${w.prefix}-pc`).length, 2);
  await empty.cni.garbageCollect([{ containerId: keep.containerId }]);
  t.equal(w.allocations(`${w.prefix}-pc`).length, 1, 'GC released the attachment that is no longer valid');
  t.same(
    readdirSync(join(empty.cacheDir, 'results')).map((f) => f.startsWith(keep.containerId)),
    [true],
    'and dropped its cache entry',
  );
  await empty.cni.tearDownPod(keep);
  t.same(w.allocations(`${w.prefix}-pc`), []);
});
