// Bad input and failures: the spec's error JSON with the right code, a non-zero exit, and
// nothing left behind (no veth, no allocation, no iptables chain, no interface in the pod).
import t, { type Test } from 'tap';
import { run } from '../../lib/exec.js';
import { bridgeConf, cniWorld, type CniWorld, type PluginRun } from '../fixtures/cni/world.js';

async function state(w: CniWorld, podNs: string) {
  const pod = (await w.sh(podNs, 'ip', ['-o', 'link', 'show']))
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split(':')[1]!.trim().split('@')[0]);
  return {
    links: await w.nodeLinks(),
    allocations: w.allocations().sort(),
    chains: (await w.natRules()).split('\n').filter((l) => l.includes('KUBENODE-BR-')),
    pod,
  };
}

function errorJSON(t: Test, r: PluginRun, code: number, what: string): void {
  t.not(r.code, 0, `${what}: non-zero exit`);
  t.equal(r.json?.code, code, `${what}: error code ${code} (${r.json?.msg}: ${r.json?.details})`);
  t.type(r.json?.msg, 'string', `${what}: has msg`);
  t.equal(r.json?.cniVersion, '1.1.0', `${what}: error in the config's version`);
}

t.test('bad input gives the spec error codes and leaves nothing behind', async (t) => {
  const w = await cniWorld(t);
  const path = await w.pod('e');
  const ns = `${w.prefix}-e`;
  const conf = bridgeConf(w, { ipMasq: true });
  const env = { containerId: `${w.prefix}-e1`, netns: path };
  const before = await state(w, ns);

  errorJSON(t, await w.exec('kubenode-bridge', 'ADD', '{"cniVersion": "1.1.0", "name": ', env), 6, 'malformed JSON');
  errorJSON(t, await w.exec('kubenode-bridge', 'ADD', conf, { containerId: env.containerId }), 4, 'missing CNI_NETNS');
  const noNetns = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: env.containerId });
  t.match(noNetns.json?.msg, /CNI_NETNS/, 'the message names the variable');
  const badVersion = await w.exec('kubenode-bridge', 'ADD', { ...conf, cniVersion: '0.9.9' }, env);
  t.equal(badVersion.json?.code, 1, 'unknown cniVersion: code 1 (incompatible version)');
  t.not(badVersion.code, 0);
  errorJSON(
    t,
    await w.exec('kubenode-bridge', 'ADD', conf, { ...env, netns: `/run/netns/${w.prefix}-does-not-exist` }),
    3,
    'namespace path that does not exist',
  );
  errorJSON(
    t,
    await w.exec('kubenode-bridge', 'ADD', conf, { ...env, netns: '/etc/hostname' }),
    4,
    'path that is not a namespace',
  );
  errorJSON(t, await w.exec('kubenode-bridge', 'ADD', { ...conf, vlan: 100 }, env), 2, 'unsupported field');
  const vlan = await w.exec('kubenode-bridge', 'ADD', { ...conf, vlan: 100 }, env);
  t.match(vlan.json?.details, /vlan=100/, 'unsupported field: key and value named');
  errorJSON(t, await w.exec('kubenode-bridge', 'ADD', { ...conf, mtu: 'big' }, env), 7, 'invalid mtu');
  const hostBits = await w.exec(
    'kubenode-bridge',
    'ADD',
    bridgeConf(w, {}, { ranges: [[{ subnet: '10.244.1.7/24' }]] }),
    env,
  );
  errorJSON(t, hostBits, 7, 'subnet with host bits');
  t.match(hostBits.json?.details, /ipam\.ranges\[0\]\[0\]\.subnet/, 'the field is named');
  errorJSON(
    t,
    await w.exec('kubenode-bridge', 'ADD', conf, { ...env, containerId: '-bad id' }),
    4,
    'invalid container id',
  );
  errorJSON(
    t,
    await w.exec('kubenode-bridge', 'ADD', conf, { ...env, ifName: 'a-very-long-interface-name' }),
    4,
    'invalid interface name',
  );
  errorJSON(t, await w.exec('kubenode-bridge', 'BOGUS', conf, env), 4, 'unknown CNI_COMMAND');

  t.same(await state(w, ns), before, 'nothing was created by any of them');
});

t.test('an exhausted range: code 11 (try again later), nothing of the failed ADD left', async (t) => {
  const w = await cniWorld(t);
  const conf = bridgeConf(w, { ipMasq: true }, { ranges: [[{ subnet: '10.244.9.0/30' }]] });
  const p1 = await w.pod('x1');
  const p2 = await w.pod('x2');
  const first = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: `${w.prefix}-x1`, netns: p1 });
  t.equal(first.code, 0, 'the one address of a /30 (gateway excluded) is handed out');
  const before = await state(w, `${w.prefix}-x2`);
  const second = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: `${w.prefix}-x2`, netns: p2 });
  errorJSON(t, second, 11, 'exhausted range');
  t.match(second.json?.details, /10\.244\.9\.0\/30.*exhausted/, 'the details name the range');
  t.same(await state(w, `${w.prefix}-x2`), before, 'nothing left by the failed ADD');

  // Delegated: Debian's host-local in the same situation; its error is passed through.
  const hl = bridgeConf(
    w,
    { cniVersion: '1.0.0', name: `${w.prefix}-hl` },
    { type: 'host-local', ranges: [[{ subnet: '10.244.10.0/30' }]] },
  );
  const p3 = await w.pod('x3');
  const p4 = await w.pod('x4');
  t.equal((await w.exec('kubenode-bridge', 'ADD', hl, { containerId: `${w.prefix}-x3`, netns: p3 })).code, 0);
  const hlBefore = await state(w, `${w.prefix}-x4`);
  const hlFull = await w.exec('kubenode-bridge', 'ADD', hl, { containerId: `${w.prefix}-x4`, netns: p4 });
  t.not(hlFull.code, 0, 'host-local exhausted: ADD fails');
  t.match(hlFull.json?.msg, /IPAM plugin host-local/, 'the error says which IPAM plugin failed');
  t.same(await state(w, `${w.prefix}-x4`), hlBefore, 'nothing left');
});

t.test('a failure after the veth exists rolls everything back', async (t) => {
  const w = await cniWorld(t);
  // A non-bridge link with the bridge's name: the veth and the address exist by the time
  // attaching to "the bridge" fails.
  await run('ip', ['-n', w.node, 'link', 'add', w.bridge, 'type', 'veth', 'peer', 'name', `${w.prefix}x`]);
  const conf = bridgeConf(w, { ipMasq: true });
  const p = await w.pod('r');
  const before = await state(w, `${w.prefix}-r`);
  const r = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: `${w.prefix}-r`, netns: p });
  t.not(r.code, 0, 'ADD fails');
  t.match(r.json?.msg, new RegExp(`attach .* to bridge ${w.bridge}`), `the error says what failed: ${r.json?.details}`);
  t.same(await state(w, `${w.prefix}-r`), before, 'no veth, no allocation, no chain, no pod interface left');

  const missing = await w.exec('kubenode-bridge', 'ADD', bridgeConf(w, {}, { type: 'no-such-ipam' }), {
    containerId: `${w.prefix}-r`,
    netns: p,
  });
  t.not(missing.code, 0, 'an IPAM plugin missing from CNI_PATH fails the ADD');
  t.match(missing.json?.msg, /no-such-ipam/);
  t.same(await state(w, `${w.prefix}-r`), before, 'and leaves nothing');
});

t.test('kubenode-ipam alone: errors and podCIDR file', async (t) => {
  const w = await cniWorld(t);
  const podcidr = `${w.tmp}/podcidr`;
  const conf = {
    cniVersion: '1.1.0',
    name: w.network,
    type: 'kubenode-ipam',
    ipam: { type: 'kubenode-ipam', podCIDRFile: podcidr, dataDir: w.dataDir },
  };
  const env = { containerId: `${w.prefix}-i1`, netns: '/run/netns/unused' };
  const early = await w.exec('kubenode-ipam', 'ADD', conf, env);
  t.equal(early.json?.code, 11, 'no podCIDR file yet: try again later');
  t.match(early.json?.details, /podCIDRFile .* does not exist/);
  t.equal(
    (await w.exec('kubenode-ipam', 'STATUS', conf)).json?.code,
    50,
    'STATUS: not available until the podCIDR is known',
  );
  const { writeFileSync } = await import('node:fs');
  writeFileSync(podcidr, '10.244.5.0/24\n');
  const ok = await w.exec('kubenode-ipam', 'ADD', conf, env);
  t.equal(ok.code, 0, ok.stdout);
  t.same(
    ok.json?.ips,
    [{ address: '10.244.5.2/24', gateway: '10.244.5.1' }],
    'the first address of the podCIDR after the gateway',
  );
  t.notOk('interfaces' in (ok.json ?? {}), 'an IPAM result has no interfaces');
  t.equal((await w.exec('kubenode-ipam', 'STATUS', conf)).code, 0, 'STATUS ready');
  t.equal((await w.exec('kubenode-ipam', 'DEL', conf, env)).code, 0);
  t.same(w.allocations(), [], 'released');
});
