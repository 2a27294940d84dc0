// The pure halves of the IPVS applier: reading ipvsadm and ipset output, the difference between
// the plan and the kernel (ownership, draining at weight 0, deleting drained servers), the
// kube-ipvs0 address batch and the iptables restore input.
import t from 'tap';
import { planDummyAddresses } from '../../proxy/ipvs/addresses.js';
import { diffIpvs, type IpvsDiff, needsConnectionCounts, stateAfter } from '../../proxy/ipvs/diff.js';
import {
  Cmd,
  destAttr,
  genlMessage,
  NLM_F_REQUEST,
  parseAttrs,
  parseDest,
  parseService,
  serviceAttr,
} from '../../proxy/ipvs/genl-codec.js';

const cmds = (d: IpvsDiff) => renderIpvsadm(d.ops);
import {
  IPVS_JUMP_RULES,
  missingJumpRules,
  renderIpvsIptables,
  renderIpvsIptablesCleanup,
} from '../../proxy/ipvs/iptables.js';
import { IPSETS } from '../../proxy/ipvs/ipsets.js';
import { destroyIpsets, diffIpsets, parseIpsetSave } from '../../proxy/ipvs/ipset-restore.js';
import {
  ipvsCommand,
  parseIpvsadmList,
  parseIpvsadmSave,
  parseProcIpVs,
  renderIpvsadm,
} from '../../proxy/ipvs/ipvsadm.js';
import { ownership, parseAddresses } from '../../proxy/ipvs/ownership.js';
import type { IpvsPlanConfig, VirtualServer } from '../../proxy/ipvs/types.js';

const SAVE = `-A -t 10.96.0.10:80 -s rr -p 10800
-a -t 10.96.0.10:80 -r 10.244.1.11:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.1.12:8080 -m -w 0
-A -u 10.96.0.53:53 -s rr
-a -u 10.96.0.53:53 -r 10.244.1.11:53 -m -w 1
-A -f 7 -s rr
-A -t [2001:db8::1]:80 -s rr
-A -t 198.51.100.1:80 -s wlc
-a -t 198.51.100.1:80 -r 198.51.100.2:80 -g -w 3
`;

const LIST = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port           Forward Weight ActiveConn InActConn
TCP  10.96.0.10:80 rr persistent 10800
  -> 10.244.1.11:8080             Masq    1      4          2
  -> 10.244.1.12:8080             Masq    0      0          1
UDP  10.96.0.53:53 rr
  -> 10.244.1.11:53               Masq    1      0          3
`;

t.test('ipvsadm -Sn and -Ln are read back', async (t) => {
  const cur = parseIpvsadmSave(SAVE);
  t.same(
    [...cur.keys()],
    ['TCP/10.96.0.10:80', 'UDP/10.96.0.53:53', 'TCP/198.51.100.1:80'],
    'fwmark and IPv6 services are skipped',
  );
  t.match(cur.get('TCP/10.96.0.10:80'), { scheduler: 'rr', persistenceSeconds: 10800, extra: '' });
  t.same(cur.get('TCP/10.96.0.10:80')!.realServers, [
    { address: '10.244.1.11', port: 8080, weight: 1, method: 'masq' },
    { address: '10.244.1.12', port: 8080, weight: 0, method: 'masq' },
  ]);
  t.same(cur.get('TCP/198.51.100.1:80')!.realServers, [
    { address: '198.51.100.2', port: 80, weight: 3, method: 'gate' },
  ]);
  const counts = parseIpvsadmList(LIST);
  t.same(counts.get('TCP/10.96.0.10:80 10.244.1.11:8080'), { active: 4, inactive: 2 });
  t.same(counts.get('TCP/10.96.0.10:80 10.244.1.12:8080'), { active: 0, inactive: 1 });
  t.same(counts.get('UDP/10.96.0.53:53 10.244.1.11:53'), { active: 0, inactive: 3 });
});

t.test('the commands are what ipvsadm -R reads', async (t) => {
  const vs: VirtualServer = {
    protocol: 'SCTP',
    address: '10.96.0.9',
    port: 9,
    scheduler: 'sh',
    persistenceSeconds: 60,
    realServers: [],
    servicePort: 'x',
  };
  t.equal(ipvsCommand.addService(vs), '-A --sctp-service 10.96.0.9:9 -s sh -p 60');
  t.equal(ipvsCommand.editService({ ...vs, protocol: 'TCP', persistenceSeconds: 0 }), '-E -t 10.96.0.9:9 -s sh');
  t.equal(
    ipvsCommand.addServer({ ...vs, protocol: 'UDP' }, { address: '10.0.0.1', port: 53, weight: 1 }),
    '-a -u 10.96.0.9:9 -r 10.0.0.1:53 -m -w 1',
  );
  t.equal(
    ipvsCommand.deleteServer({ ...vs, protocol: 'TCP' }, { address: '10.0.0.1', port: 53 }),
    '-d -t 10.96.0.9:9 -r 10.0.0.1:53',
  );
  t.equal(ipvsCommand.deleteService({ ...vs, protocol: 'TCP' }), '-D -t 10.96.0.9:9');
});

const vs = (
  address: string,
  port: number,
  rss: string[],
  extra: Partial<VirtualServer> = {},
): [string, VirtualServer] => [
  `${extra.protocol ?? 'TCP'}/${address}:${port}`,
  {
    protocol: 'TCP',
    address,
    port,
    scheduler: 'rr',
    persistenceSeconds: 0,
    servicePort: 'default/web:http',
    realServers: rss.map((r) => ({ address: r.split(':')[0]!, port: Number(r.split(':')[1]), weight: 1 })),
    ...extra,
  },
];
const mine = (v: { address: string }) => v.address.startsWith('10.96.');

t.test('diff: add, edit, delete only what differs, and only ours', async (t) => {
  const current = parseIpvsadmSave(SAVE);
  const desired = new Map([
    vs('10.96.0.10', 80, ['10.244.1.11:8080', '10.244.1.12:8080', '10.244.1.13:8080']),
    vs('10.96.0.20', 80, ['10.244.1.11:8080']),
  ]);
  const d = diffIpvs({ desired, current, owned: mine });
  t.same(
    cmds(d),
    [
      '-D -u 10.96.0.53:53',
      '-E -t 10.96.0.10:80 -s rr',
      '-e -t 10.96.0.10:80 -r 10.244.1.12:8080 -m -w 1',
      '-a -t 10.96.0.10:80 -r 10.244.1.13:8080 -m -w 1',
      '-A -t 10.96.0.20:80 -s rr',
      '-a -t 10.96.0.20:80 -r 10.244.1.11:8080 -m -w 1',
    ],
    'persistence dropped, a draining endpoint back at weight 1, a new endpoint and Service; the UDP Service gone',
  );
  t.notMatch(cmds(d).join('\n'), /198\.51\.100\.1/, "someone else's virtual server is left alone");
  t.match(d, { virtualServersAdded: 1, virtualServersEdited: 1, virtualServersDeleted: 1, realServersAdded: 2 });

  const unchanged = new Map([vs('10.96.0.10', 80, ['10.244.1.11:8080'], { persistenceSeconds: 10800 })]);
  const cur = parseIpvsadmSave('-A -t 10.96.0.10:80 -s rr -p 10800\n-a -t 10.96.0.10:80 -r 10.244.1.11:8080 -m -w 1\n');
  t.same(
    cmds(diffIpvs({ desired: unchanged, current: cur, owned: mine })),
    [],
    'nothing to write when the kernel matches',
  );
});

t.test('diff: a removed TCP endpoint drains at weight 0, then goes once IPVS counts no connection', async (t) => {
  const save = `-A -t 10.96.0.10:80 -s rr
-a -t 10.96.0.10:80 -r 10.244.1.11:8080 -m -w 1
-a -t 10.96.0.10:80 -r 10.244.1.12:8080 -m -w 1
`;
  const desired = new Map([vs('10.96.0.10', 80, ['10.244.1.11:8080'])]);
  const first = diffIpvs({ desired, current: parseIpvsadmSave(save), owned: mine });
  t.same(cmds(first), ['-e -t 10.96.0.10:80 -r 10.244.1.12:8080 -m -w 0'], 'weight 0, not deleted');
  t.same(first.drainStarted, [{ virtualServer: 'TCP/10.96.0.10:80', realServer: '10.244.1.12:8080' }]);

  const draining = parseIpvsadmSave(save.replace('10.244.1.12:8080 -m -w 1', '10.244.1.12:8080 -m -w 0'));
  t.ok(needsConnectionCounts(desired, draining, mine), 'the applier must read connection counts');
  t.notOk(needsConnectionCounts(desired, parseIpvsadmSave(save), mine), 'but not before anything drains');
  const unknown = diffIpvs({ desired, current: draining, owned: mine });
  t.same(cmds(unknown), [], 'without counts, a draining server is kept');
  const busy = diffIpvs({
    desired,
    current: draining,
    owned: mine,
    counts: new Map([['TCP/10.96.0.10:80 10.244.1.12:8080', { active: 0, inactive: 1 }]]),
  });
  t.same(cmds(busy), [], 'a connection in TIME_WAIT or CLOSE still counts');
  t.same(busy.draining, [{ virtualServer: 'TCP/10.96.0.10:80', realServer: '10.244.1.12:8080' }]);
  const done = diffIpvs({
    desired,
    current: draining,
    owned: mine,
    counts: new Map([['TCP/10.96.0.10:80 10.244.1.12:8080', { active: 0, inactive: 0 }]]),
  });
  t.same(cmds(done), ['-d -t 10.96.0.10:80 -r 10.244.1.12:8080']);
  t.same(done.drained, [{ virtualServer: 'TCP/10.96.0.10:80', realServer: '10.244.1.12:8080' }]);
});

t.test('diff: UDP real servers go at once (no connection end to wait for)', async (t) => {
  const current = parseIpvsadmSave(
    '-A -u 10.96.0.53:53 -s rr\n-a -u 10.96.0.53:53 -r 10.244.1.11:53 -m -w 1\n-a -u 10.96.0.53:53 -r 10.244.1.12:53 -m -w 1\n',
  );
  const desired = new Map([vs('10.96.0.53', 53, ['10.244.1.11:53'], { protocol: 'UDP' })]);
  t.same(cmds(diffIpvs({ desired, current, owned: mine })), ['-d -u 10.96.0.53:53 -r 10.244.1.12:53']);
});

t.test('ownership: Service addresses, and node addresses on our NodePorts only', async (t) => {
  const links = parseAddresses(
    JSON.stringify([
      { ifname: 'lo', addr_info: [{ family: 'inet', local: '127.0.0.1' }] },
      {
        ifname: 'eth0',
        addr_info: [
          { family: 'inet', local: '192.0.2.1' },
          { family: 'inet6', local: 'fe80::1' },
        ],
      },
      { ifname: 'kube-ipvs0', addr_info: [{ family: 'inet', local: '10.96.0.10' }] },
    ]),
  );
  t.ok(links.links.has('kube-ipvs0'));
  t.same(
    links.addresses.map((a) => `${a.ifname} ${a.address}`),
    ['lo 127.0.0.1', 'eth0 192.0.2.1', 'kube-ipvs0 10.96.0.10'],
  );
  const owned = ownership({
    serviceAddresses: ['10.96.0.10', '10.96.0.20'],
    nodeAddresses: ['192.0.2.1'],
    nodePortSets: [
      new Map([['KUBE-NODE-PORT-TCP', new Set(['30080'])]]),
      new Map([['KUBE-NODE-PORT-UDP', new Set(['30053'])]]),
    ],
  });
  t.ok(owned({ protocol: 'TCP', address: '10.96.0.20', port: 1 }), 'a Service address');
  t.ok(owned({ protocol: 'TCP', address: '192.0.2.1', port: 30080 }), 'a NodePort in the kernel set');
  t.ok(owned({ protocol: 'UDP', address: '192.0.2.1', port: 30053 }), 'a NodePort this sync adds');
  t.notOk(owned({ protocol: 'UDP', address: '192.0.2.1', port: 30080 }), 'the protocol matters');
  t.notOk(
    owned({ protocol: 'TCP', address: '192.0.2.1', port: 80 }),
    "a node address on another port is someone else's",
  );
  t.notOk(owned({ protocol: 'TCP', address: '198.51.100.1', port: 80 }));
});

t.test('ipsets: created when missing, only differing entries added or deleted', async (t) => {
  const cur =
    parseIpsetSave(`create KUBE-CLUSTER-IP hash:ip,port family inet hashsize 1024 maxelem 65536 bucketsize 12 initval 0x1
add KUBE-CLUSTER-IP 10.96.0.10,tcp:80
add KUBE-CLUSTER-IP 10.96.0.11,tcp:80
create KUBE-LOAD-BALANCER-SOURCE-CIDR hash:ip,port,net family inet
add KUBE-LOAD-BALANCER-SOURCE-CIDR 198.51.100.9,tcp:80,203.0.113.7
create DOCKER-SET hash:ip family inet
add DOCKER-SET 172.17.0.2
`);
  t.same([...cur.keys()], ['KUBE-CLUSTER-IP', 'KUBE-LOAD-BALANCER-SOURCE-CIDR'], "someone else's sets are not ours");
  const desired = new Map(IPSETS.map((s) => [s.name, new Set<string>()]));
  desired.get('KUBE-CLUSTER-IP')!.add('10.96.0.10,tcp:80').add('10.96.0.12,udp:53');
  desired.get('KUBE-LOAD-BALANCER-SOURCE-CIDR')!.add('198.51.100.9,tcp:80,203.0.113.7/32');
  desired.get('KUBE-NODE-PORT-TCP')!.add('30080');
  const d = diffIpsets(desired, cur);
  const lines = d.input.trim().split('\n');
  t.ok(lines.includes('add KUBE-CLUSTER-IP 10.96.0.12,udp:53'));
  t.ok(lines.includes('del KUBE-CLUSTER-IP 10.96.0.11,tcp:80'));
  t.notOk(
    lines.some((l) => l.includes('10.96.0.10,tcp:80')),
    'an entry already there is not touched',
  );
  t.notOk(
    lines.some((l) => l.includes('203.0.113.7')),
    'a /32 net is the address ipset prints',
  );
  t.ok(lines.includes('create KUBE-NODE-PORT-TCP bitmap:port range 0-65535'));
  t.ok(
    lines.indexOf('create KUBE-NODE-PORT-TCP bitmap:port range 0-65535') <
      lines.indexOf('add KUBE-NODE-PORT-TCP 30080'),
    'created before filled',
  );
  t.equal(d.created, IPSETS.length - 2);
  t.equal(
    diffIpsets(
      desired,
      parseIpsetSave(
        IPSETS.map((s) => `create ${s.name} x`).join('\n') +
          '\n' +
          [...desired].flatMap(([n, es]) => [...es].map((e) => `add ${n} ${e}`)).join('\n'),
      ),
    ).input,
    '',
    'nothing to do when equal',
  );
  t.equal(destroyIpsets(cur), 'destroy KUBE-CLUSTER-IP\ndestroy KUBE-LOAD-BALANCER-SOURCE-CIDR\n');
});

t.test('kube-ipvs0: created once, new addresses before programming, old ones after', async (t) => {
  const c = planDummyAddresses(false, [], ['10.96.0.10']);
  t.same(c.before, ['link add kube-ipvs0 type dummy', 'address add 10.96.0.10/32 dev kube-ipvs0']);
  const d = planDummyAddresses(true, ['10.96.0.10', '10.96.0.11'], ['10.96.0.10', '10.96.0.12']);
  t.same(d.before, ['address add 10.96.0.12/32 dev kube-ipvs0']);
  t.same(d.after, ['address del 10.96.0.11/32 dev kube-ipvs0']);
});

const cfg: IpvsPlanConfig = {
  nodeName: 'n',
  scheduler: 'rr',
  nodePortIPs: [],
  clusterCIDR: '10.244.0.0/16',
  masqueradeAll: false,
  masqueradeMark: '0x4000',
};

t.test('iptables: constant chains matching ipsets, jumps inserted only when missing', async (t) => {
  const all = renderIpvsIptables(cfg, missingJumpRules(new Map()));
  const lines = all.input.split('\n');
  t.ok(
    lines.includes(
      '-A KUBE-SERVICES ! -s 10.244.0.0/16 -m comment --comment "Kubernetes service cluster ip + port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ',
    ),
  );
  t.ok(
    lines.includes(
      '-A KUBE-POSTROUTING -m comment --comment "Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose" -m set --match-set KUBE-LOOP-BACK dst,dst,src -j MASQUERADE',
    ),
  );
  t.ok(
    lines.includes(
      '-A KUBE-NODE-PORT -p tcp -m comment --comment "Kubernetes nodeport TCP port for masquerade purpose" -m set --match-set KUBE-NODE-PORT-TCP dst -j KUBE-MARK-MASQ',
    ),
  );
  t.ok(
    lines.includes(
      '-A KUBE-IPVS-FILTER -m conntrack --ctstate NEW -m set --match-set KUBE-IPVS-IPS dst -j REJECT --reject-with icmp-port-unreachable',
    ),
  );
  const services = lines.filter((l) => l.startsWith('-A KUBE-SERVICES '));
  t.match(services.at(-3), /--dst-type LOCAL -j KUBE-NODE-PORT$/, 'the NodePort jump comes after the address matches');
  t.equal(
    lines.filter((l) => l.startsWith('-I ')).length,
    IPVS_JUMP_RULES.length,
    'every jump inserted on a bare node',
  );
  t.notOk(
    lines.some((l) => /KUBE-SVC-|KUBE-SEP-/.test(l)),
    'no per-Service chain',
  );
  const masqAll = renderIpvsIptables({ ...cfg, masqueradeAll: true, clusterCIDR: undefined }, []).input;
  t.match(
    masqAll,
    /-A KUBE-SERVICES -m comment --comment "Kubernetes service cluster ip \+ port for masquerade purpose" -m set --match-set KUBE-CLUSTER-IP dst,dst -j KUBE-MARK-MASQ/,
  );

  // Once in place, as iptables -S prints them, nothing is missing.
  const builtins = new Map<string, string[]>();
  for (const j of IPVS_JUMP_RULES) {
    const k = `${j.table} ${j.builtin}`;
    builtins.set(k, [...(builtins.get(k) ?? []), `-A ${j.builtin} -m comment --comment "${j.comment}" -j ${j.target}`]);
  }
  t.same(missingJumpRules(builtins), []);
  const none = renderIpvsIptables(cfg, missingJumpRules(builtins)).input;
  t.notMatch(none, /^-I /m);

  const cleanup = renderIpvsIptablesCleanup(builtins, {
    nat: new Set(['KUBE-SERVICES', 'KUBE-MARK-MASQ', 'DOCKER']),
    filter: new Set(['KUBE-FORWARD']),
  });
  t.match(cleanup, /-D PREROUTING -m comment --comment "kubernetes service portals" -j KUBE-SERVICES/);
  t.match(cleanup, /-X KUBE-SERVICES/);
  t.match(cleanup, /-X KUBE-FORWARD/);
  t.notMatch(cleanup, /DOCKER/, "someone else's chain stays");
  t.notMatch(cleanup, /-X KUBE-NODE-PORT/, 'a chain that is not there is not deleted');
});

t.test('/proc/net/ip_vs is read back, with connection counts', async (t) => {
  const proc = `IP Virtual Server version 1.2.1 (size=4096)
Prot LocalAddress:Port Scheduler Flags
  -> RemoteAddress:Port Forward Weight ActiveConn InActConn
TCP  0A60000A:0050 rr persistent 300 FFFFFFFF
  -> 0AF4010B:1F90      Masq    1      2          3
  -> 0AF4010C:1F90      Masq    0      0          1
UDP  0A600035:0035 sh
  -> 0AF4010B:0035      Masq    1      0          0
FWM  00000007 rr
  -> 0AF4010B:0000      Route   1      0          0
`;
  const { services, counts } = parseProcIpVs(proc);
  t.same([...services.keys()], ['TCP/10.96.0.10:80', 'UDP/10.96.0.53:53'], 'fwmark services are skipped');
  t.match(services.get('TCP/10.96.0.10:80'), { scheduler: 'rr', persistenceSeconds: 300, extra: '' });
  t.same(services.get('TCP/10.96.0.10:80')!.realServers, [
    { address: '10.244.1.11', port: 8080, weight: 1, method: 'masq' },
    { address: '10.244.1.12', port: 8080, weight: 0, method: 'masq' },
  ]);
  t.same(counts.get('TCP/10.96.0.10:80 10.244.1.11:8080'), { active: 2, inactive: 3 });
  t.equal(counts.size, 3);
});

t.test('generic netlink messages: what is encoded decodes back', async (t) => {
  const vs: VirtualServer = {
    protocol: 'UDP',
    address: '10.96.0.53',
    port: 53,
    scheduler: 'wrr',
    persistenceSeconds: 600,
    realServers: [],
    servicePort: 'x',
  };
  t.match(parseService(serviceAttr(vs, true)), {
    protocol: 'UDP',
    address: '10.96.0.53',
    port: 53,
    scheduler: 'wrr',
    persistenceSeconds: 600,
    extra: '',
  });
  t.match(
    parseService(serviceAttr({ ...vs, persistenceSeconds: 0 }, true)),
    { persistenceSeconds: 0 },
    'no persistence flag, no timeout',
  );
  t.match(parseDest(destAttr({ address: '10.244.1.11', port: 8080, weight: 0 }, true)), {
    address: '10.244.1.11',
    port: 8080,
    weight: 0,
    method: 'masq',
  });
  const port = parseAttrs(parseAttrs(serviceAttr(vs, false)).get(1)!).get(4)!;
  t.same([...port], [0, 53], 'ports in network byte order');
  const msg = genlMessage(30, Cmd.NEW_DEST, NLM_F_REQUEST, 7, [
    serviceAttr(vs, false),
    destAttr({ address: '10.0.0.1', port: 1 }, true),
  ]);
  t.equal(msg.readUInt32LE(0), msg.length, 'nlmsg_len covers the message');
  t.same(
    [msg.readUInt16LE(4), msg.readUInt16LE(6), msg.readUInt32LE(8), msg[16], msg[17]],
    [30, 1, 7, Cmd.NEW_DEST, 1],
  );
  t.equal(msg.length % 4, 0, 'attributes are 4-byte aligned');
});

t.test('after a diff: desired servers plus those left draining at weight 0', async (t) => {
  const desired = new Map([vs('10.96.0.10', 80, ['10.244.1.11:8080'])]);
  const after = stateAfter(desired, {
    draining: [{ virtualServer: 'TCP/10.96.0.10:80', realServer: '10.244.1.12:8080' }],
  });
  t.same(after.get('TCP/10.96.0.10:80')!.realServers, [
    { address: '10.244.1.11', port: 8080, weight: 1, method: 'masq' },
    { address: '10.244.1.12', port: 8080, weight: 0, method: 'masq' },
  ]);
  const again = diffIpvs({
    desired,
    current: after,
    owned: mine,
    counts: new Map([['TCP/10.96.0.10:80 10.244.1.12:8080', { active: 0, inactive: 0 }]]),
  });
  t.same(cmds(again), ['-d -t 10.96.0.10:80 -r 10.244.1.12:8080'], 'the next sync deletes it once drained');
});
