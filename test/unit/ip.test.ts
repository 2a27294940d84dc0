import t from 'tap';
import {
  addOffset,
  canonicalNetwork,
  compareAddresses,
  contains,
  containsAddress,
  covers,
  formatCIDR,
  formatIP,
  hasHostBits,
  ipFromBytes,
  ipToBytes,
  isIP,
  isIPv4,
  isLoopbackAddress,
  lastOf,
  looksLikeIPv6,
  networkOf,
  overlaps,
  parseCIDR,
  parseIP,
  parseIPv4,
  parseIPv4Network,
} from '../../lib/ip.js';

t.test('IPv4 parse and format round-trip', async (t) => {
  for (const s of ['0.0.0.0', '10.244.1.5', '255.255.255.255', '192.168.0.1']) t.equal(formatIP(parseIP(s)!), s);
  t.equal(parseIP('10.0.0.1')!.value, 0x0a000001n);
  for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4.5', 'a.b.c.d', '', ' 10.0.0.1'])
    t.equal(parseIP(bad), undefined, `rejects ${JSON.stringify(bad)}`);
});

t.test('IPv6 parse and RFC 5952 format', async (t) => {
  const cases: [string, string][] = [
    ['::', '::'],
    ['::1', '::1'],
    ['fd00:10:244:1::5', 'fd00:10:244:1::5'],
    ['FD00:0:0:0:0:0:0:1', 'fd00::1'],
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'],
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'],
    ['::ffff:10.0.0.1', '::ffff:a00:1'],
  ];
  for (const [i, o] of cases) t.equal(formatIP(parseIP(i)!), o, `${i} -> ${o}`);
  for (const bad of [':::', '1::2::3', 'fd00::g', '1:2:3:4:5:6:7:8:9', '12345::1'])
    t.equal(parseIP(bad), undefined, `rejects ${bad}`);
});

t.test('CIDR math', async (t) => {
  const c = parseCIDR('10.244.1.7/24')!;
  t.equal(formatIP(networkOf(c)), '10.244.1.0');
  t.equal(formatIP(lastOf(c)), '10.244.1.255');
  t.ok(hasHostBits(c));
  t.notOk(hasHostBits(parseCIDR('10.244.1.0/24')!));
  t.equal(canonicalNetwork(c), '10.244.1.0/24');
  t.ok(contains(c, parseIP('10.244.1.200')!));
  t.notOk(contains(c, parseIP('10.244.2.1')!));
  t.notOk(contains(c, parseIP('::1')!), 'other family never contained');
  t.ok(overlaps(parseCIDR('10.0.0.0/8')!, parseCIDR('10.244.0.0/16')!));
  t.notOk(overlaps(parseCIDR('10.1.0.0/16')!, parseCIDR('10.2.0.0/16')!));
  t.equal(formatIP(addOffset(parseIP('10.0.0.255')!, 1n)), '10.0.1.0');
  t.equal(formatCIDR(parseCIDR('fd00::/64')!), 'fd00::/64');
  t.equal(formatIP(lastOf(parseCIDR('fd00::/120')!)), 'fd00::ff');
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08', 'fd00::/129'])
    t.equal(parseCIDR(bad), undefined, `rejects ${bad}`);
});

t.test('covers: every address of the inner CIDR is in the outer one', async (t) => {
  const c = (s: string) => parseCIDR(s)!;
  t.ok(covers(c('10.244.0.0/16'), c('10.244.1.0/24')));
  t.ok(covers(c('10.244.0.0/16'), c('10.244.0.0/16')), 'a CIDR covers itself');
  t.notOk(covers(c('10.244.1.0/24'), c('10.244.0.0/16')), 'a smaller CIDR does not cover a larger one');
  t.notOk(covers(c('10.244.0.0/16'), c('10.245.0.0/24')));
  t.notOk(covers(c('::/0'), c('10.0.0.0/8')), 'families never cover each other');
});

t.test('ipToBytes: network byte order, 4 or 16 bytes', async (t) => {
  t.equal(ipToBytes(parseIP('10.0.0.1')!).toString('hex'), '0a000001');
  t.equal(ipToBytes(parseIP('fd00::1')!).toString('hex'), 'fd000000000000000000000000000001');
  t.equal(ipToBytes(parseIP('::ffff:192.168.1.2')!).toString('hex'), '00000000000000000000ffffc0a80102');
});

t.test('ipFromBytes reads what ipToBytes writes', async (t) => {
  for (const s of ['10.0.0.1', '255.255.255.255', 'fd00::1', '::'])
    t.equal(formatIP(ipFromBytes(ipToBytes(parseIP(s)!))), s);
  t.equal(
    formatIP(ipFromBytes(Buffer.from('C0A80A01', 'hex'))),
    '192.168.10.1',
    '/proc/net/ip_vs writes addresses in hex',
  );
  t.throws(() => ipFromBytes(Buffer.alloc(5)), /4 or 16 bytes, not 5/);
});

t.test('IPv4-only views: parseIPv4, isIPv4, looksLikeIPv6', async (t) => {
  t.equal(parseIPv4('192.0.2.1')?.value, 0xc0000201n);
  t.equal(parseIPv4('::1'), undefined, 'an IPv6 address is not IPv4');
  t.equal(parseIPv4('192.0.2.01'), undefined, 'leading zero');
  t.ok(isIPv4('0.0.0.0'));
  for (const bad of [undefined, 7, '', '1.2.3', '256.1.1.1', '::ffff:1.2.3.4'])
    t.notOk(isIPv4(bad), `isIPv4(${JSON.stringify(bad)})`);
  t.ok(looksLikeIPv6('fd00::1'));
  t.ok(looksLikeIPv6('fd00:::1'), 'written like IPv6 even if malformed');
  for (const no of ['10.0.0.1', 'host:80', '', 3]) t.notOk(looksLikeIPv6(no), `looksLikeIPv6(${JSON.stringify(no)})`);
});

t.test('parseIPv4Network clears host bits and writes the network out', async (t) => {
  const n = parseIPv4Network('192.168.56.11/24')!;
  t.equal(n.text, '192.168.56.0/24');
  t.equal(formatCIDR(n), '192.168.56.0/24');
  t.equal(parseIPv4Network('0.0.0.0/0')?.text, '0.0.0.0/0');
  for (const bad of ['fd00::/64', '10.0.0.0', '10.0.0.0/33', '10.0.0.0/08', ' 10.0.0.0/8', '10.0.0/8'])
    t.equal(parseIPv4Network(bad), undefined, `rejects ${JSON.stringify(bad)}`);
});

t.test('containsAddress takes the address as text', async (t) => {
  const n = parseIPv4Network('192.0.2.0/24')!;
  t.ok(containsAddress(n, '192.0.2.255'));
  t.notOk(containsAddress(n, '192.0.3.0'));
  t.notOk(containsAddress(parseIPv4Network('0.0.0.0/0')!, 'not-an-ip'), 'text that is no address is in no CIDR');
  t.notOk(containsAddress(parseIPv4Network('0.0.0.0/0')!, '::1'), 'other family');
});

t.test('compareAddresses orders numerically, not as text', async (t) => {
  t.same(['10.0.0.10', '10.0.0.9', '9.255.255.255', 'fd00::1', '10.0.0.1'].sort(compareAddresses), [
    '9.255.255.255',
    '10.0.0.1',
    '10.0.0.9',
    '10.0.0.10',
    'fd00::1',
  ]);
  t.same(['b', '10.0.0.1', 'a'].sort(compareAddresses), ['10.0.0.1', 'a', 'b'], 'non-addresses last, in text order');
  t.equal(compareAddresses('10.0.0.1', '10.0.0.1'), 0);
});

t.test('isIP and isLoopbackAddress: literals of both families, nothing else', async (t) => {
  for (const s of ['10.0.0.1', '::1', 'fe80::1', '2001:db8::8']) t.ok(isIP(s), s);
  for (const s of ['', 'localhost', '10.0.0', '10.0.0.256', '::g', 'example.org', '127.example.org'])
    t.notOk(isIP(s), s);
  for (const s of ['127.0.0.1', '127.255.0.9', '::1', '0:0:0:0:0:0:0:1']) t.ok(isLoopbackAddress(s), s);
  for (const s of ['128.0.0.1', '10.0.0.1', '::2', '::', 'localhost', '127.example.org', '::ffff:127.0.0.1'])
    t.notOk(isLoopbackAddress(s), s);
});
