// kubenode-bridge with kubenode-ipam in real namespaces: 20 pods get unique addresses and a
// default route via the gateway, talk HTTP to each other and to the node, reach themselves
// through a "Service" address (hairpin), and DEL leaves no veth and an empty store. CHECK notices
// what is missing; DEL is idempotent; a second ADD does not allocate again.
import t from 'tap';
import { run } from '../../lib/exec.js';
import { bridgeConf, cniWorld } from '../fixtures/cni/world.js';

const PODS = 20;

t.test('20 pods: addresses, routes, pod-to-pod and pod-to-gateway HTTP, clean DEL', async (t) => {
  const w = await cniWorld(t);
  const conf = bridgeConf(w, { ipMasq: true, mtu: 1400 });
  const pods: { ns: string; path: string; ip: string; id: string; result: Record<string, unknown> }[] = [];
  for (let i = 0; i < PODS; i++) {
    const path = await w.pod(`p${i}`);
    const id = `${w.prefix}-sandbox-${i}`;
    const r = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: id, netns: path });
    t.equal(r.code, 0, `ADD pod ${i} succeeds: ${r.stdout}`);
    const ips = r.json?.ips as { address: string; gateway: string; interface: number }[];
    t.equal(ips.length, 1);
    t.equal(ips[0]!.gateway, '10.244.1.1');
    t.equal(ips[0]!.interface, 2, 'the IP is on the pod interface (index 2)');
    pods.push({ ns: `${w.prefix}-p${i}`, path, ip: ips[0]!.address.split('/')[0]!, id, result: r.json! });
  }
  const addrs = pods.map((p) => p.ip);
  t.equal(new Set(addrs).size, PODS, 'every pod has a different address');
  t.ok(
    addrs.every((a) => /^10\.244\.1\.\d+$/.test(a) && a !== '10.244.1.1' && a !== '10.244.1.0'),
    'all addresses are from the range, none is the gateway or network',
  );
  t.equal(w.allocations().length, PODS, 'the store holds one file per pod');

  const route = await w.sh(pods[0]!.ns, 'ip', ['route', 'show', 'default']);
  t.match(route, /default via 10\.244\.1\.1 dev eth0/, 'default route via the gateway');
  const link = await w.sh(pods[0]!.ns, 'ip', ['-o', 'link', 'show', 'eth0']);
  t.match(link, /mtu 1400/, 'the pod interface has the configured MTU');
  const port = await w.sh(w.node, 'ip', [
    '-d',
    'link',
    'show',
    (pods[0]!.result.interfaces as { name: string }[])[1]!.name,
  ]);
  t.match(port, new RegExp(`master ${w.bridge}`), 'the host end is on the bridge');
  t.match(port, /hairpin on/, 'hairpin mode is on for the bridge port');
  t.match(
    await w.natRules(),
    new RegExp(`kubenode-bridge net=${w.network} id=${pods[0]!.id} if=eth0`),
    'ipMasq rules name network and container',
  );

  for (const p of pods) await w.httpd(p.ns, '80', `hello from ${p.id}`);
  await w.httpd(w.node, '10.244.1.1:8080', 'hello from the node');
  for (let i = 0; i < PODS; i++) {
    const to = pods[(i + 1) % PODS]!;
    t.equal(
      await w.get(pods[i]!.ns, `http://${to.ip}/`),
      `hello from ${to.id}`,
      `pod ${i} -> pod ${(i + 1) % PODS} over HTTP`,
    );
  }
  t.equal(await w.get(pods[3]!.ns, 'http://10.244.1.1:8080/'), 'hello from the node', 'pod -> gateway over HTTP');

  // Hairpin: a pod reaching itself through a Service-like address that the node DNATs back to
  // it (what kube-proxy does); the reply leaves by the port it came in, so hairpin is required.
  const self = pods[5]!;
  const rules = [
    '*nat',
    `-A PREROUTING -d 10.96.0.10/32 -p tcp --dport 80 -j DNAT --to-destination ${self.ip}:80`,
    // Inserted first, as kube-proxy inserts its KUBE-POSTROUTING jump: the ipMasq chain ACCEPTs
    // pod-network traffic, which ends the nat POSTROUTING walk.
    `-I POSTROUTING 1 -s ${self.ip}/32 -d ${self.ip}/32 -j MASQUERADE`,
    'COMMIT',
    '',
  ].join('\n');
  await run('ip', ['netns', 'exec', w.node, 'iptables-restore', '--noflush'], { input: rules });
  t.equal(
    await w.get(self.ns, 'http://10.96.0.10/'),
    `hello from ${self.id}`,
    'a pod reaches itself through a Service address (hairpin)',
  );
  const selfPort = (self.result.interfaces as { name: string }[])[1]!.name;
  await w.sh(w.node, 'ip', ['link', 'set', 'dev', selfPort, 'type', 'bridge_slave', 'hairpin', 'off']);
  await t.rejects(w.get(self.ns, 'http://10.96.0.10/', 1), 'control: with hairpin off the same request fails');

  for (const p of pods) {
    const r = await w.exec(
      'kubenode-bridge',
      'DEL',
      { ...conf, prevResult: p.result },
      { containerId: p.id, netns: p.path },
    );
    t.equal(r.code, 0, `DEL ${p.id}: ${r.stdout}`);
  }
  t.same(await w.nodeLinks(), [w.bridge], 'no veth left, only the bridge');
  t.same(w.allocations(), [], 'the allocation store is empty');
  t.notMatch(await w.natRules(), /KUBENODE-BR-/, 'no ipMasq chain left');
});

t.test('CHECK, idempotent DEL, no second allocation, DEL without the namespace', async (t) => {
  const w = await cniWorld(t);
  const conf = bridgeConf(w);
  const path = await w.pod('a');
  const ns = `${w.prefix}-a`;
  const id = `${w.prefix}-a`;
  const add = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: id, netns: path });
  t.equal(add.code, 0, add.stdout);
  const withPrev = { ...conf, prevResult: add.json };
  const check = await w.exec('kubenode-bridge', 'CHECK', withPrev, { containerId: id, netns: path });
  t.equal(check.code, 0, `CHECK right after ADD passes: ${check.stdout}`);

  const again = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: id, netns: path });
  t.not(again.code, 0, 'a second ADD of the same attachment fails (the interface exists, as the spec requires)');
  t.match(again.json?.msg, /already exists/);
  t.equal(w.allocations().length, 1, '...and did not allocate a second address');
  t.equal(
    (await w.exec('kubenode-bridge', 'CHECK', withPrev, { containerId: id, netns: path })).code,
    0,
    '...nor broke the first attachment',
  );

  await w.sh(ns, 'ip', ['route', 'del', 'default']);
  let r = await w.exec('kubenode-bridge', 'CHECK', withPrev, { containerId: id, netns: path });
  t.not(r.code, 0, 'CHECK fails when the default route is gone');
  t.match(r.json?.details, /route to 0\.0\.0\.0\/0 via 10\.244\.1\.1 is missing/);
  await w.sh(ns, 'ip', ['route', 'add', 'default', 'via', '10.244.1.1']);

  const ip = (add.json!.ips as { address: string }[])[0]!.address;
  await w.sh(ns, 'ip', ['addr', 'del', ip, 'dev', 'eth0']);
  r = await w.exec('kubenode-bridge', 'CHECK', withPrev, { containerId: id, netns: path });
  t.not(r.code, 0, 'CHECK fails when the address is gone');
  t.match(r.json?.details, new RegExp(`lacks address ${ip.replace(/\./g, '\\.')}`));

  await w.sh(ns, 'ip', ['link', 'del', 'eth0']);
  r = await w.exec('kubenode-bridge', 'CHECK', withPrev, { containerId: id, netns: path });
  t.not(r.code, 0, 'CHECK fails when the interface is gone');
  t.match(r.json?.details, /interface eth0 is missing/);

  for (let i = 0; i < 2; i++) {
    r = await w.exec('kubenode-bridge', 'DEL', withPrev, { containerId: id, netns: path });
    t.equal(r.code, 0, `DEL #${i + 1} succeeds: ${r.stdout}`);
  }
  t.same(w.allocations(), [], 'DEL released the address');

  // A pod whose namespace is already gone: DEL still releases its address.
  const path2 = await w.pod('b');
  const add2 = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: `${id}-b`, netns: path2 });
  t.equal(add2.code, 0);
  await run('ip', ['netns', 'delete', `${w.prefix}-b`]);
  r = await w.exec('kubenode-bridge', 'DEL', conf, { containerId: `${id}-b`, netns: path2 });
  t.equal(r.code, 0, `DEL with a vanished namespace succeeds: ${r.stdout}`);
  r = await w.exec('kubenode-bridge', 'DEL', conf, { containerId: `${id}-b` });
  t.equal(r.code, 0, 'DEL without CNI_NETNS succeeds');
  t.same(w.allocations(), [], 'its address was released');
  t.same(await w.nodeLinks(), [w.bridge], 'no veth left');
});

t.test('results in 1.1.0, 1.0.0 and 0.4.0; delegated IPAM; GC; STATUS', async (t) => {
  const w = await cniWorld(t);
  const path = await w.pod('v');
  const shapes: Record<string, (ip: Record<string, unknown>) => boolean> = {
    '1.1.0': (ip) => !('version' in ip),
    '1.0.0': (ip) => !('version' in ip),
    '0.4.0': (ip) => ip.version === '4',
    '0.3.1': (ip) => ip.version === '4',
  };
  for (const [v, ok] of Object.entries(shapes)) {
    const conf = bridgeConf(w, { cniVersion: v, mtu: 1400 });
    const id = `${w.prefix}-v${v.replace(/\./g, '')}`;
    const r = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: id, netns: path });
    t.equal(r.code, 0, r.stdout);
    t.equal(r.json?.cniVersion, v, `result in ${v}`);
    t.ok(ok((r.json!.ips as Record<string, unknown>[])[0]!), `ips shaped as ${v} wants`);
    const pod = (r.json!.interfaces as Record<string, unknown>[])[2]!;
    t.equal('mtu' in pod, v === '1.1.0', 'interface mtu only in 1.1.0');
    t.equal((await w.exec('kubenode-bridge', 'DEL', conf, { containerId: id, netns: path })).code, 0);
  }

  // kubenode-ipam executed as a delegated plugin gives the same kind of result.
  const conf = bridgeConf(w, { ipMasq: true });
  const r1 = await w.exec('kubenode-bridge', 'ADD', conf, {
    containerId: `${w.prefix}-x1`,
    netns: path,
    extra: { KUBENODE_CNI_IPAM_EXEC: '1' },
  });
  t.equal(r1.code, 0, `ADD with kubenode-ipam executed from CNI_PATH: ${r1.stdout}`);
  t.equal(w.allocations().length, 1);

  // GC: x1 is not in the valid list, so its reservation goes; x2 stays.
  const path2 = await w.pod('v2');
  const r2 = await w.exec('kubenode-bridge', 'ADD', conf, {
    containerId: `${w.prefix}-x2`,
    netns: path2,
    ifName: 'net1',
  });
  t.equal(r2.code, 0);
  t.equal(w.allocations().length, 2);
  const gc = await w.exec('kubenode-bridge', 'GC', {
    ...conf,
    'cni.dev/valid-attachments': [{ containerID: `${w.prefix}-x2`, ifname: 'net1' }],
  });
  t.equal(gc.code, 0, `GC succeeds: ${gc.stdout}`);
  const left = w.allocations();
  t.equal(left.length, 1, 'GC released the stale reservation');
  t.equal(left[0], (r2.json!.ips as { address: string }[])[0]!.address.split('/')[0], 'and kept the valid one');
  const nat = await w.natRules();
  t.notMatch(nat, new RegExp(`id=${w.prefix}-x1 `), "GC removed the stale attachment's ipMasq chain");
  t.match(nat, new RegExp(`id=${w.prefix}-x2 if=net1`), 'and kept the valid one');

  const st = await w.exec('kubenode-bridge', 'STATUS', conf);
  t.equal(st.code, 0, `STATUS ready: ${st.stdout}`);
  const small = bridgeConf(w, { name: `${w.prefix}-small` }, { ranges: [[{ subnet: '10.99.0.0/30' }]] });
  const path3 = await w.pod('v3');
  t.equal((await w.exec('kubenode-bridge', 'ADD', small, { containerId: `${w.prefix}-s1`, netns: path3 })).code, 0);
  const full = await w.exec('kubenode-bridge', 'STATUS', small);
  t.equal(full.json?.code, 50, 'STATUS says not available (50) when the range is exhausted');
  const old = await w.exec('kubenode-bridge', 'STATUS', { ...conf, cniVersion: '1.0.0' });
  t.equal(old.json?.code, 1, 'STATUS needs a 1.1.0 configuration');
});

t.test('dual-stack: an IPv4 and an IPv6 address, both gateways, CHECK, clean DEL', async (t) => {
  const w = await cniWorld(t);
  const conf = bridgeConf(
    w,
    { ipMasq: true },
    { ranges: [[{ subnet: '10.244.20.0/24' }], [{ subnet: 'fd00:10:244:20::/64' }]] },
  );
  const pods = [];
  for (const n of ['d1', 'd2']) {
    const path = await w.pod(n);
    const r = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: `${w.prefix}-${n}`, netns: path });
    t.equal(r.code, 0, r.stdout);
    const ips = r.json!.ips as { address: string; gateway: string }[];
    t.same(
      ips.map((i) => i.gateway),
      ['10.244.20.1', 'fd00:10:244:20::1'],
    );
    pods.push({
      ns: `${w.prefix}-${n}`,
      path,
      id: `${w.prefix}-${n}`,
      result: r.json!,
      v6: ips[1]!.address.split('/')[0]!,
    });
  }
  t.match(await w.sh(pods[0]!.ns, 'ip', ['-6', 'route', 'show', 'default']), /default via fd00:10:244:20::1 dev eth0/);
  for (const target of [pods[1]!.v6, 'fd00:10:244:20::1']) {
    t.match(
      await w.sh(pods[0]!.ns, 'busybox', ['ping', '-c', '1', '-W', '3', target]),
      /1 packets received/,
      `IPv6 ping ${target}`,
    );
  }
  const check = await w.exec(
    'kubenode-bridge',
    'CHECK',
    { ...conf, prevResult: pods[0]!.result },
    { containerId: pods[0]!.id, netns: pods[0]!.path },
  );
  t.equal(check.code, 0, `CHECK passes for both families: ${check.stdout}`);
  t.match(
    await w.sh(w.node, 'ip6tables-save', ['-t', 'nat']),
    /KUBENODE-BR-.*kubenode-bridge net=/,
    'IPv6 masquerade chain installed',
  );
  for (const p of pods)
    t.equal((await w.exec('kubenode-bridge', 'DEL', conf, { containerId: p.id, netns: p.path })).code, 0);
  t.same(w.allocations(), [], 'both families released');
  t.notMatch(
    await w.sh(w.node, 'ip6tables-save', ['-t', 'nat']),
    /KUBENODE-BR-/,
    'no IPv6 chain left (found without prevResult)',
  );
  t.same(await w.nodeLinks(), [w.bridge], 'no veth left');
});
