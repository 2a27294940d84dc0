// kubenode-bridge's pure parts: configuration, names, the planned iproute2 batches and ipMasq
// rules, and the comparisons CHECK makes.
import t from 'tap';
import { podStateProblems } from '../../cni/bridge/check.js';
import { parseBridgeConf } from '../../cni/bridge/config.js';
import { masqChainsInSave, masqDeletion, masqRules } from '../../cni/bridge/masq.js';
import { attachmentNames, hash64 } from '../../cni/bridge/names.js';
import { buildResult, clashingBridgeAddrs, planWiring, podBatch, portPlan } from '../../cni/bridge/plan.js';
import { parseCIDR } from '../../lib/ip.js';
import { attachBatch, bridgeStateFrom } from '../../cni/link/host.js';
import { namedNetns, parseBatchOutput } from '../../cni/link/iproute.js';
import { parseNetConf } from '../../cni/skel/netconf.js';
import type { CniError } from '../../cni/spec/errors.js';

const netconf = (o: Record<string, unknown>) =>
  parseNetConf(
    Buffer.from(JSON.stringify({ cniVersion: '1.1.0', name: 'pods', type: 'kubenode-bridge', ...o })),
    'ADD',
  );

t.test('bridge configuration: reference fields, defaults, refusals', async (t) => {
  const c = parseBridgeConf(netconf({}), {});
  t.same(c, {
    bridge: 'cni0',
    isGateway: false,
    isDefaultGateway: false,
    forceAddress: false,
    ipMasq: false,
    hairpinMode: true,
    promiscMode: false,
    enableDad: false,
  });
  const d = parseBridgeConf(
    netconf({
      bridge: 'br1',
      isDefaultGateway: true,
      mtu: 1450,
      hairpinMode: false,
      runtimeConfig: { mac: '0A:00:00:00:00:01' },
    }),
    {},
  );
  t.equal(d.isGateway, true, 'isDefaultGateway implies isGateway');
  t.equal(d.mtu, 1450);
  t.equal(d.hairpinMode, false);
  t.equal(d.mac, '0a:00:00:00:00:01');
  t.equal(parseBridgeConf(netconf({}), { MAC: '02:00:00:00:00:09' }).mac, '02:00:00:00:00:09', 'CNI_ARGS MAC');
  const codeOf = (o: Record<string, unknown>) => {
    try {
      parseBridgeConf(netconf(o), {});
      return 0;
    } catch (e) {
      return (e as CniError).code;
    }
  };
  t.equal(codeOf({ vlan: 10 }), 2, 'vlan is refused as unsupported');
  t.equal(codeOf({ vlan: 0 }), 0, 'vlan 0 is the default: fine');
  t.equal(codeOf({ macspoofchk: true }), 2);
  t.equal(codeOf({ vlanTrunk: [{ id: 5 }] }), 2);
  t.equal(codeOf({ ipMasqBackend: 'nftables' }), 2);
  t.equal(codeOf({ mtu: 10 }), 7, 'mtu out of range');
  t.equal(codeOf({ isGateway: 'yes' }), 7, 'booleans are booleans');
  t.equal(codeOf({ bridge: 'a-name-too-long-for-linux' }), 7);
  t.equal(codeOf({ runtimeConfig: { mac: 'zz' } }), 7);
});

t.test('names are deterministic, short enough and distinct', async (t) => {
  const a = attachmentNames('pods', 'c1', 'eth0');
  t.same(attachmentNames('pods', 'c1', 'eth0'), a, 'the same attachment always gets the same names');
  t.match(a.hostVeth, /^veth[0-9a-f]{8}$/);
  t.ok(a.hostVeth.length <= 15);
  t.match(a.masqChain, /^KUBENODE-BR-[0-9A-F]{12}$/);
  t.ok(a.masqChain.length <= 28, 'iptables chain names are limited to 28');
  t.equal(a.masqComment, 'kubenode-bridge net=pods id=c1 if=eth0');
  t.match(a.containerMac, /^02(:[0-9a-f]{2}){5}$/, 'locally administered unicast');
  t.not(a.containerMac, a.hostMac);
  t.not(attachmentNames('pods', 'c2', 'eth0').hostVeth, a.hostVeth);
  t.not(attachmentNames('other', 'c1', 'eth0').masqChain, a.masqChain, 'per network');
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) seen.add(hash64('n', `container-${i}`, 'eth0').slice(0, 8));
  t.equal(seen.size, 5000, 'no veth name collision among 5000 containers');
});

const wiring = (over: Record<string, unknown> = {}) =>
  planWiring({
    conf: parseBridgeConf(netconf({ bridge: 'cni0', isDefaultGateway: true, mtu: 1400, ...over }), {}),
    names: attachmentNames('pods', 'c1', 'eth0'),
    ifName: 'eth0',
    netns: '/run/netns/p1',
    pid: 4242,
    bridgeMac: '02:aa:bb:cc:dd:ee',
    ipam: {
      cniVersion: '1.1.0',
      ips: [{ address: '10.244.1.5/24', gateway: '10.244.1.1' }, { address: 'fd00::5/64' }],
      routes: [{ dst: '10.96.0.0/12' }],
    },
  });

t.test('the pod-side and host-side batches', async (t) => {
  const w = wiring();
  const n = w.names;
  t.same(
    podBatch(w),
    [
      `link add name eth0 address ${n.containerMac} mtu 1400 type veth peer name ${n.hostVeth} address ${n.hostMac} mtu 1400 netns 4242`,
      'addr add 10.244.1.5/24 dev eth0',
      'addr add fd00::5/64 dev eth0 nodad',
      'link set dev eth0 up',
      'route add 10.96.0.0/12 via 10.244.1.1 dev eth0',
      'route add 0.0.0.0/0 via 10.244.1.1 dev eth0',
      'route add ::/0 via fd00::1 dev eth0',
    ],
    'veth created in the pod with its host end sent to the plugin; addresses; routes via the gateway',
  );
  t.same(
    attachBatch(portPlan(w)),
    [
      'link add name cni0 address 02:aa:bb:cc:dd:ee mtu 1400 type bridge',
      'addr replace 10.244.1.1/24 dev cni0',
      'addr replace fd00::1/64 dev cni0 nodad',
      'link set dev cni0 up',
      `link set dev ${n.hostVeth} master cni0 up`,
      `link set dev ${n.hostVeth} type bridge_slave hairpin on`,
      'addr show dev cni0',
    ],
    'bridge ensured with gateways (the IPv6 one defaulted to the first address), port attached with hairpin',
  );
  const plain = wiring({ isDefaultGateway: false, isGateway: false, hairpinMode: false, mtu: 0 });
  t.same(plain.bridgeAddrs, [], 'no gateway on the bridge without isGateway');
  t.notOk(
    podBatch(plain).some((l) => l.includes('0.0.0.0/0')),
    'no default route without isDefaultGateway',
  );
  t.notOk(attachBatch(portPlan(plain)).some((l) => l.includes('hairpin')));
  t.notOk(podBatch(plain).some((l) => l.includes(' mtu ')));
  const routed = planWiring({
    ...wiring(),
    conf: wiring().conf,
    names: wiring().names,
    ifName: 'eth0',
    netns: '/x',
    pid: 1,
    bridgeMac: '02:00:00:00:00:01',
    ipam: {
      cniVersion: '1.1.0',
      ips: [{ address: '10.0.0.2/24', gateway: '10.0.0.1' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.254', priority: 5, table: 100 }],
    },
  });
  t.same(
    podBatch(routed).slice(-1),
    ['route add 0.0.0.0/0 via 10.0.0.254 dev eth0 metric 5 table 100'],
    "IPAM's default route is used as is, not doubled",
  );
});

t.test('the result: bridge, host veth, pod interface; prevResult kept', async (t) => {
  const w = wiring();
  const r = buildResult(w, '1.1.0', '02:aa:bb:cc:dd:ee', undefined, undefined);
  t.same(r.interfaces, [
    { name: 'cni0', mac: '02:aa:bb:cc:dd:ee' },
    { name: w.names.hostVeth, mac: w.names.hostMac },
    { name: 'eth0', mac: w.names.containerMac, sandbox: '/run/netns/p1', mtu: 1400 },
  ]);
  t.same(r.ips, [
    { address: '10.244.1.5/24', gateway: '10.244.1.1', interface: 2 },
    { address: 'fd00::5/64', gateway: 'fd00::1', interface: 2 },
  ]);
  const prev = {
    cniVersion: '1.1.0',
    interfaces: [{ name: 'lo', sandbox: '/run/netns/p1' }],
    ips: [{ address: '127.0.0.1/8', interface: 0 }],
  };
  const chained = buildResult(w, '1.1.0', 'x', { nameservers: ['1.1.1.1'] }, prev);
  t.equal(chained.interfaces!.length, 4);
  t.same(chained.ips![0], { address: '127.0.0.1/8', interface: 0 });
  t.equal(chained.ips![1]!.interface, 3, 'indexes shift past the previous interfaces');
  t.same(chained.dns, { nameservers: ['1.1.1.1'] });
});

t.test('bridge address clashes (forceAddress)', async (t) => {
  const w = wiring();
  const cur = (s: string) => parseCIDR(s)!;
  t.same(clashingBridgeAddrs(w, [cur('10.244.1.1/24'), cur('fd00::1/64')]), [], 'our own gateways do not clash');
  t.same(
    clashingBridgeAddrs(w, [cur('10.244.1.254/24')]).map((c) => c.prefix),
    [24],
    'another address in the subnet clashes',
  );
  t.same(clashingBridgeAddrs(w, [cur('192.168.9.1/24')]), [], 'an unrelated subnet does not');
  const st = bridgeStateFrom([
    [
      {
        address: '02:aa:bb:cc:dd:ee',
        addr_info: [
          { family: 'inet', local: '10.244.1.1', prefixlen: 24 },
          { family: 'inet6', local: 'fe80::1', prefixlen: 64, scope: 'link' },
        ],
      },
    ],
  ]);
  t.equal(st?.mac, '02:aa:bb:cc:dd:ee');
  t.equal(st?.addrs.length, 1, 'link-local addresses are ignored');
});

t.test('ipMasq rules, their removal and GC', async (t) => {
  const n = attachmentNames('pods', 'c1', 'eth0');
  const rules = masqRules({
    chain: n.masqChain,
    comment: n.masqComment,
    addresses: [parseCIDR('10.244.1.5/24')!, parseCIDR('fd00::5/64')!],
  });
  const c = `-m comment --comment "${n.masqComment}"`;
  t.equal(
    rules.get(4),
    [
      '*nat',
      `:${n.masqChain} - [0:0]`,
      `-A ${n.masqChain} -d 10.244.1.0/24 ${c} -j ACCEPT`,
      `-A ${n.masqChain} ! -d 224.0.0.0/4 ${c} -j MASQUERADE`,
      `-A POSTROUTING -s 10.244.1.5/32 ${c} -j ${n.masqChain}`,
      'COMMIT',
      '',
    ].join('\n'),
  );
  t.match(rules.get(6), /! -d ff00::\/8/);
  const save = [
    '*nat',
    ':PREROUTING ACCEPT [0:0]',
    ':POSTROUTING ACCEPT [0:0]',
    `:${n.masqChain} - [0:0]`,
    ':KUBENODE-BR-000000000000 - [0:0]',
    '-A POSTROUTING -s 10.244.1.5/32 -m comment --comment "kubenode-bridge net=pods id=c1 if=eth0" -j ' + n.masqChain,
    '-A POSTROUTING -s 10.244.1.6/32 -m comment --comment "kubenode-bridge net=pods id=c2 if=eth0" -j KUBENODE-BR-000000000000',
    `-A ${n.masqChain} -d 10.244.1.0/24 -m comment --comment "kubenode-bridge net=pods id=c1 if=eth0" -j ACCEPT`,
    '-A KUBENODE-BR-000000000000 -d 10.244.1.0/24 -m comment --comment "kubenode-bridge net=pods id=c2 if=eth0" -j ACCEPT',
    '-A POSTROUTING -j DOCKER-ISH',
    'COMMIT',
  ].join('\n');
  t.equal(
    masqDeletion(save, new Set([n.masqChain])),
    [
      '*nat',
      `-D POSTROUTING -s 10.244.1.5/32 -m comment --comment "kubenode-bridge net=pods id=c1 if=eth0" -j ${n.masqChain}`,
      `-F ${n.masqChain}`,
      `-X ${n.masqChain}`,
      'COMMIT',
      '',
    ].join('\n'),
    "only our jump and our chain, nobody else's rules",
  );
  t.equal(masqDeletion(save, new Set(['KUBENODE-BR-FFFFFFFFFFFF'])), undefined, 'nothing to do when absent');
  const chains = masqChainsInSave(save);
  t.same([...chains.values()].map((a) => a.containerId).sort(), ['c1', 'c2']);
  t.same(chains.get('KUBENODE-BR-000000000000'), { network: 'pods', containerId: 'c2', ifName: 'eth0' });
});

t.test('iproute2 batch output and namespace paths', async (t) => {
  const r = parseBatchOutput(
    1,
    '[{"a":1}]\n\n[]\n',
    'RTNETLINK answers: File exists\nCommand failed -:1\nCannot find device "x"\nCommand failed -:4\n',
    true,
  );
  t.same(r.failures, [
    { line: 1, message: 'RTNETLINK answers: File exists' },
    { line: 4, message: 'Cannot find device "x"' },
  ]);
  t.same(r.outputs, [[{ a: 1 }], []]);
  t.equal(
    parseBatchOutput(1, '', 'nsenter: cannot open /x: No such file or directory\n', false).otherErrors,
    'nsenter: cannot open /x: No such file or directory',
  );
  t.equal(namedNetns('/run/netns/cni-1234'), 'cni-1234');
  t.equal(namedNetns('/var/run/netns/cni-1234'), 'cni-1234');
  t.equal(namedNetns('/proc/42/ns/net'), undefined, 'other paths go through nsenter');
});

t.test('CHECK compares the pod with prevResult', async (t) => {
  const w = wiring();
  const result = buildResult(w, '1.1.0', 'x', undefined, undefined);
  const addr = {
    address: w.names.containerMac,
    flags: ['BROADCAST', 'UP'],
    addr_info: [
      { family: 'inet', local: '10.244.1.5', prefixlen: 24 },
      { family: 'inet6', local: 'fd00::5', prefixlen: 64 },
    ],
  };
  const routes = [
    { dst: 'default', gateway: '10.244.1.1', dev: 'eth0' },
    { dst: '10.96.0.0/12', gateway: '10.244.1.1', dev: 'eth0' },
    { dst: 'default', gateway: 'fd00::1', dev: 'eth0' },
    { dst: '10.244.1.0/24', dev: 'eth0' },
  ];
  t.same(podStateProblems(result, 2, 'eth0', addr, routes), []);
  t.same(podStateProblems(result, 2, 'eth0', undefined, routes), ['interface eth0 is missing']);
  t.match(podStateProblems(result, 2, 'eth0', { ...addr, address: '02:00:00:00:00:99' }, routes), [
    /has MAC 02:00:00:00:00:99/,
  ]);
  t.match(podStateProblems(result, 2, 'eth0', { ...addr, addr_info: addr.addr_info.slice(1) }, routes), [
    /lacks address 10\.244\.1\.5\/24/,
  ]);
  t.match(podStateProblems(result, 2, 'eth0', addr, routes.slice(1)), [
    /route to 0\.0\.0\.0\/0 via 10\.244\.1\.1 is missing/,
  ]);
  t.same(
    podStateProblems(result, 2, 'eth0', addr, [
      ...routes,
      { dst: '192.168.0.0/16', gateway: '10.244.1.9', dev: 'eth0' },
    ]),
    [],
    'routes added by later plugins are allowed',
  );
});
