// kubenode-ipam's pure parts (configuration, ranges, choosing addresses) and its disk store in
// a temporary directory (no root needed).
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { pickFree } from '../../cni/ipam/allocator.js';
import { parseIpamConfig, podCIDRRangeSets, requestedIPs } from '../../cni/ipam/config.js';
import { allocate, capacityProblem, collect, release, verify } from '../../cni/ipam/ipam.js';
import { canonicalRange, capacity } from '../../cni/ipam/range.js';
import { parseResolvConf } from '../../cni/ipam/resolv.js';
import { DiskStore } from '../../cni/ipam/store.js';
import { formatIP, parseIP } from '../../lib/ip.js';
import type { CniError } from '../../cni/spec/errors.js';

const ip = (s: string) => parseIP(s)!;

function tmpStore(t: { teardown(fn: () => void): void }, network = 'net') {
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-ipam-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { dir, store: new DiskStore(dir, network) };
}

t.test('host-local range defaults and validation', async (t) => {
  const r = canonicalRange({ subnet: '10.244.1.0/24' }, 'r');
  t.equal(formatIP(r.start), '10.244.1.1');
  t.equal(formatIP(r.end), '10.244.1.254', 'IPv4 excludes the broadcast address');
  t.equal(formatIP(r.gateway!), '10.244.1.1', 'gateway defaults to the first address');
  t.equal(capacity([r]), 253n, '254 hosts minus the gateway');
  const v6 = canonicalRange({ subnet: 'fd00::/120' }, 'r');
  t.equal(formatIP(v6.end), 'fd00::ff', 'IPv6 ends at the last address');
  const custom = canonicalRange(
    { subnet: '10.0.0.0/16', rangeStart: '10.0.5.10', rangeEnd: '10.0.5.20', gateway: '10.0.0.254' },
    'r',
  );
  t.equal(capacity([custom]), 11n);

  const bad: [unknown, RegExp][] = [
    [{ subnet: '10.0.0.1/24' }, /r\.subnet: 10\.0\.0\.1\/24 has host bits set \(did you mean 10\.0\.0\.0\/24\?\)/],
    [{ subnet: '10.0.0.0/31' }, /too small/],
    [{ subnet: 'nope' }, /r\.subnet: "nope" is not a subnet/],
    [{ subnet: '10.0.0.0/24', rangeStart: '10.0.1.5' }, /r\.rangeStart: 10\.0\.1\.5 is not in subnet/],
    [
      { subnet: '10.0.0.0/24', rangeStart: '10.0.0.50', rangeEnd: '10.0.0.10' },
      /rangeStart: 10\.0\.0\.50 is after rangeEnd/,
    ],
    [{ subnet: '10.0.0.0/24', gateway: 'x' }, /r\.gateway: "x" is not an IP address/],
  ];
  for (const [raw, re] of bad) {
    try {
      canonicalRange(raw as never, 'r');
      t.fail(`accepted ${JSON.stringify(raw)}`);
    } catch (e) {
      t.equal((e as CniError).code, 7, 'invalid network config');
      t.match((e as CniError).details, re);
    }
  }
});

t.test('ipam configuration: ranges, legacy subnet, podCIDR file, routes, requested IPs', async (t) => {
  const c = parseIpamConfig({
    type: 'kubenode-ipam',
    ranges: [[{ subnet: '10.1.0.0/24' }, { subnet: '10.1.1.0/24' }], [{ subnet: 'fd00::/64' }]],
    routes: [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00::1' }],
  });
  t.equal(c.rangeSets.length, 2);
  t.equal(c.rangeSets[0]!.length, 2);
  t.equal(c.dataDir, '/var/lib/cni/networks', "host-local's default dataDir");
  t.same(c.routes, [{ dst: '0.0.0.0/0' }, { dst: '::/0', gw: 'fd00::1' }]);
  const legacy = parseIpamConfig({ type: 'x', subnet: '10.2.0.0/16', rangeStart: '10.2.0.10' });
  t.equal(formatIP(legacy.rangeSets[0]![0]!.start), '10.2.0.10');
  const pc = parseIpamConfig(
    { type: 'x', podCIDRFile: '/var/lib/kubenode/podcidr' },
    '10.244.3.0/24\n# IPv6\nfd00:10:244:3::/64\n',
  );
  t.same(
    pc.rangeSets.map((s) => formatIP(s[0]!.start)),
    ['10.244.3.1', 'fd00:10:244:3::1'],
    'one range set per podCIDR line',
  );
  t.same(podCIDRRangeSets('10.9.0.0/24', '/f').length, 1);

  const errs: [Record<string, unknown>, RegExp][] = [
    [{ type: 'x' }, /no addresses to hand out/],
    [{ type: 'x', podCIDRFile: '/f', ranges: [[{ subnet: '10.0.0.0/24' }]] }, /either podCIDRFile or ranges/],
    [{ type: 'x', podCIDRFile: 'relative' }, /must be an absolute path/],
    [{ type: 'x', ranges: [[{ subnet: '10.0.0.0/24' }, { subnet: 'fd00::/64' }]] }, /same IP family/],
    [{ type: 'x', ranges: [[{ subnet: '10.0.0.0/24' }], [{ subnet: '10.0.0.0/25' }]] }, /overlaps range set/],
    [
      { type: 'x', ranges: [[{ subnet: '10.0.0.0/24' }]], routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] },
      /not of the same IP family/,
    ],
    [{ type: 'x', ranges: [[{ subnet: '10.0.0.0/24' }]], dataDir: 'x' }, /ipam\.dataDir/],
  ];
  for (const [raw, re] of errs) t.throws(() => parseIpamConfig(raw, ''), re, `rejects ${JSON.stringify(raw)}`);
  t.throws(() => parseIpamConfig({ type: 'x', podCIDRFile: '/f' }, '\n# nothing\n'), /holds no CIDR/);

  t.same(requestedIPs({ IP: '10.0.0.5,10.0.0.6' }, {}, {}).map(formatIP), ['10.0.0.5', '10.0.0.6'], 'CNI_ARGS IP=');
  t.same(
    requestedIPs({ IP: '10.0.0.5' }, { cni: { ips: ['10.0.0.7'] } }, { ips: ['10.0.0.8/24'] }).map(formatIP),
    ['10.0.0.8'],
    'runtimeConfig.ips wins',
  );
  t.throws(() => requestedIPs({ IP: 'x' }, {}, {}), /CNI_ARGS IP: "x" is not an IP address/);
});

t.test('pickFree continues after the last reserved address and wraps', async (t) => {
  const set = [canonicalRange({ subnet: '10.0.0.0/29' }, 'r')]; // .1 gateway, .2-.6 usable
  const used = new Set<bigint>();
  t.equal(formatIP(pickFree(set, used)!.ip), '10.0.0.2', 'starts after the gateway');
  t.equal(formatIP(pickFree(set, used, ip('10.0.0.4'))!.ip), '10.0.0.5', 'continues after the last one');
  t.equal(formatIP(pickFree(set, used, ip('10.0.0.6'))!.ip), '10.0.0.2', 'wraps around, skipping the gateway');
  used.add(ip('10.0.0.5').value).add(ip('10.0.0.6').value);
  t.equal(formatIP(pickFree(set, used, ip('10.0.0.4'))!.ip), '10.0.0.2', 'skips used ones while wrapping');
  for (const a of ['10.0.0.2', '10.0.0.3', '10.0.0.4']) used.add(ip(a).value);
  t.equal(pickFree(set, used, ip('10.0.0.4')), undefined, 'full');
  const two = [canonicalRange({ subnet: '10.1.0.0/30' }, 'a'), canonicalRange({ subnet: '10.2.0.0/30' }, 'b')];
  t.equal(
    formatIP(pickFree(two, new Set([ip('10.1.0.2').value]))!.ip),
    '10.2.0.2',
    'moves to the next range of the set',
  );
  t.equal(formatIP(pickFree(two, new Set(), ip('10.2.0.2'))!.ip), '10.1.0.2', 'wraps from the last range to the first');
});

t.test('disk store: allocate, idempotent re-ADD, release, exhaustion, GC, verify', async (t) => {
  const { dir, store } = tmpStore(t);
  const cfg = parseIpamConfig({
    type: 'kubenode-ipam',
    ranges: [[{ subnet: '10.0.0.0/29' }]],
    routes: [{ dst: '0.0.0.0/0' }],
  });
  const a = allocate(store, cfg, { containerId: 'c1', ifName: 'eth0' }, [], '1.1.0');
  t.same(a.result.ips, [{ address: '10.0.0.2/29', gateway: '10.0.0.1' }]);
  t.same(a.result.routes, [{ dst: '0.0.0.0/0' }]);
  t.ok(a.created);
  t.equal(readFileSync(join(dir, 'net', '10.0.0.2'), 'utf8'), 'c1\r\neth0', "host-local's file format");
  t.equal(readFileSync(join(dir, 'net', 'last_reserved_ip.0'), 'utf8'), '10.0.0.2');
  const again = allocate(store, cfg, { containerId: 'c1', ifName: 'eth0' }, [], '1.1.0');
  t.same(again.result.ips, a.result.ips, 'the same attachment gets the same address back');
  t.notOk(again.created, '...without a new allocation');
  t.equal(store.allocations().length, 1);
  const b = allocate(store, cfg, { containerId: 'c1', ifName: 'net1' }, [], '1.1.0');
  t.same(b.result.ips![0]!.address, '10.0.0.3/29', 'another interface of the same container is another attachment');

  const req = allocate(store, cfg, { containerId: 'c9', ifName: 'eth0' }, [ip('10.0.0.6')], '1.1.0');
  t.equal(req.result.ips![0]!.address, '10.0.0.6/29', 'a requested address is honoured');
  t.throws(
    () => allocate(store, cfg, { containerId: 'c8', ifName: 'eth0' }, [ip('10.0.0.6')], '1.1.0'),
    /already allocated/,
  );
  t.throws(
    () => allocate(store, cfg, { containerId: 'c8', ifName: 'eth0' }, [ip('10.0.0.1')], '1.1.0'),
    /is the gateway/,
  );
  t.throws(() => allocate(store, cfg, { containerId: 'c8', ifName: 'eth0' }, [ip('10.9.0.1')], '1.1.0'), /outside/);

  allocate(store, cfg, { containerId: 'c4', ifName: 'eth0' }, [], '1.1.0');
  allocate(store, cfg, { containerId: 'c5', ifName: 'eth0' }, [], '1.1.0');
  t.equal(store.allocations().length, 5, '.2-.6 all allocated');
  try {
    allocate(store, cfg, { containerId: 'c6', ifName: 'eth0' }, [], '1.1.0');
    t.fail('should be exhausted');
  } catch (e) {
    t.equal((e as CniError).code, 11, 'exhausted: try again later');
    t.match((e as CniError).details, /10\.0\.0\.0\/29 .*exhausted: all 5 addresses/);
  }
  t.match(capacityProblem(store, cfg), /exhausted/, 'STATUS sees the exhaustion');
  t.equal(store.allocations().length, 5, 'the failed ADD left nothing');

  t.doesNotThrow(() => verify(store, cfg, { containerId: 'c1', ifName: 'eth0' }, [ip('10.0.0.2')]));
  t.throws(
    () => verify(store, cfg, { containerId: 'c1', ifName: 'eth0' }, [ip('10.0.0.3')]),
    /10\.0\.0\.3 from prevResult is not reserved/,
  );
  t.throws(() => verify(store, cfg, { containerId: 'zz', ifName: 'eth0' }, []), /holds no address/);

  t.same(
    release(store, { containerId: 'c1', ifName: 'eth0' }).map((x) => x.file),
    ['10.0.0.2'],
  );
  t.same(release(store, { containerId: 'c1', ifName: 'eth0' }), [], 'releasing twice is fine');
  t.notOk(capacityProblem(store, cfg));
  const next = allocate(store, cfg, { containerId: 'c7', ifName: 'eth0' }, [], '1.1.0');
  t.equal(next.result.ips![0]!.address, '10.0.0.2/29', 'the released address is reused once the others are taken');

  writeFileSync(join(dir, 'net', '10.0.0.9'), 'legacy-id'); // a very old host-local file: id only
  const gone = collect(store, [
    { containerId: 'c1', ifName: 'net1' },
    { containerId: 'c9', ifName: 'eth0' },
  ]);
  t.same(
    gone.map((x) => x.file).sort(),
    ['10.0.0.2', '10.0.0.4', '10.0.0.5', '10.0.0.9'],
    'GC releases everything not valid',
  );
  t.same(
    store
      .allocations()
      .map((x) => x.file)
      .sort(),
    ['10.0.0.3', '10.0.0.6'],
  );
  t.notOk(existsSync(join(dir, 'net', '.kubenode.lock')), 'the lock is released');
});

t.test('the store lock: held locks are waited for, abandoned ones broken', async (t) => {
  const { dir, store } = tmpStore(t);
  const cfg = parseIpamConfig({ type: 'x', ranges: [[{ subnet: '10.0.0.0/24' }]] });
  allocate(store, cfg, { containerId: 'a', ifName: 'eth0' }, [], '1.1.0');
  // A lock left by a process that died (pid that cannot exist).
  writeFileSync(join(dir, 'net', '.kubenode.lock'), '4194305');
  const r = allocate(store, cfg, { containerId: 'b', ifName: 'eth0' }, [], '1.1.0');
  t.equal(r.result.ips![0]!.address, '10.0.0.3/24', 'an abandoned lock is broken');
  // A lock held by a live process (ourselves, from the store's point of view another holder).
  writeFileSync(join(dir, 'net', '.kubenode.lock'), String(process.ppid || 1));
  const t0 = Date.now();
  try {
    store.withLock(() => undefined, { timeoutMs: 150, staleMs: 60_000 });
    t.fail('should time out');
  } catch (e) {
    t.equal((e as CniError).code, 11, 'a busy store: try again later');
    t.ok(Date.now() - t0 >= 150, 'after waiting the timeout');
  }
  t.same(readdirSync(join(dir, 'net')).includes('.kubenode.lock'), true, "a live holder's lock is left alone");
});

t.test('resolv.conf to DNS', async (t) => {
  t.same(
    parseResolvConf(
      '# c\nnameserver 10.96.0.10\nnameserver 8.8.8.8\nsearch default.svc.cluster.local svc.cluster.local\noptions ndots:5 edns0\ndomain cluster.local\n',
    ),
    {
      nameservers: ['10.96.0.10', '8.8.8.8'],
      search: ['default.svc.cluster.local', 'svc.cluster.local'],
      options: ['ndots:5', 'edns0'],
      domain: 'cluster.local',
    },
  );
  t.equal(parseResolvConf('# nothing\n'), undefined);
});
