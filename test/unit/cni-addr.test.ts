import t from 'tap';
import {
  addOffset, canonicalNetwork, contains, formatCIDR, formatIP, hasHostBits, lastOf, networkOf, overlaps, parseCIDR, parseIP,
} from '../../cni/ip/addr.js';

t.test('IPv4 parse and format round-trip', async (t) => {
  for (const s of ['0.0.0.0', '10.244.1.5', '255.255.255.255', '192.168.0.1']) t.equal(formatIP(parseIP(s)!), s);
  t.equal(parseIP('10.0.0.1')!.value, 0x0a000001n);
  for (const bad of ['10.0.0', '10.0.0.256', '010.0.0.1', '1.2.3.4.5', 'a.b.c.d', '', ' 10.0.0.1']) t.equal(parseIP(bad), undefined, `rejects ${JSON.stringify(bad)}`);
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
  for (const bad of [':::', '1::2::3', 'fd00::g', '1:2:3:4:5:6:7:8:9', '12345::1']) t.equal(parseIP(bad), undefined, `rejects ${bad}`);
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
  for (const bad of ['10.0.0.0', '10.0.0.0/33', '10.0.0.0/-1', '10.0.0.0/08', 'fd00::/129']) t.equal(parseCIDR(bad), undefined, `rejects ${bad}`);
});
