// Pods' resolv.conf and /etc/hosts against kubelet's rules (pkg/kubelet/network/dns/dns.go and
// kubelet_pods.go): dnsPolicy, dnsConfig merging, the limits, hostnames and the hosts file.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import {
  parseResolvConf,
  planPodDNS,
  podDNSType,
  renderResolvConf,
  type DNSSettings,
} from '../../agent/network/dns.js';
import {
  hostNetworkHostsFile,
  managedHostsFile,
  nodenameForKernel,
  podHostnameAndDomain,
  PodHostnameError,
} from '../../agent/network/etc-hosts.js';

const pod = (spec: Partial<NonNullable<V1Pod['spec']>> = {}, name = 'web-0'): V1Pod => ({
  metadata: { name, namespace: 'shop', uid: 'u1' },
  spec: { containers: [{ name: 'c', image: 'i' }], ...spec },
});
const host = parseResolvConf(
  '# the node\nnameserver 192.168.56.1\nsearch example.org. lab.example.org\noptions timeout:2 attempts:3\n',
);
const settings: DNSSettings = {
  clusterDNS: ['10.96.0.10'],
  clusterDomain: 'cluster.local',
  host,
  nodeIPs: ['192.168.56.11'],
};

t.test('parseResolvConf: nameservers add up, the last search and options lines win', async (t) => {
  const r = parseResolvConf(
    'nameserver 1.1.1.1\nsearch a b\n  # comment\nnameserver 2.2.2.2 # x\nsearch c.\noptions ndots:2\noptions rotate\ndomain ignored\n',
  );
  t.same(r, { nameservers: ['1.1.1.1', '2.2.2.2'], searches: ['c'], options: ['rotate'] });
  t.throws(() => parseResolvConf('nameserver\n', '/etc/r.conf'), /\/etc\/r.conf: nameserver list is empty/);
});

t.test('dnsPolicy: ClusterFirst on the host network is Default; ClusterFirstWithHostNet is not', async (t) => {
  t.equal(podDNSType(pod()), 'cluster', 'unset means ClusterFirst');
  t.equal(podDNSType(pod({ dnsPolicy: 'ClusterFirst' })), 'cluster');
  t.equal(podDNSType(pod({ dnsPolicy: 'ClusterFirst', hostNetwork: true })), 'host');
  t.equal(podDNSType(pod({ dnsPolicy: 'ClusterFirstWithHostNet', hostNetwork: true })), 'cluster');
  t.equal(podDNSType(pod({ dnsPolicy: 'ClusterFirstWithHostNet' })), 'cluster');
  t.equal(podDNSType(pod({ dnsPolicy: 'Default' })), 'host');
  t.equal(podDNSType(pod({ dnsPolicy: 'None' })), 'none');
});

t.test("ClusterFirst: the cluster DNS only, the cluster search domains before the node's, ndots:5", async (t) => {
  const p = planPodDNS(pod(), settings);
  t.same(p.events, []);
  t.equal(
    renderResolvConf(p.config),
    'search shop.svc.cluster.local svc.cluster.local cluster.local example.org lab.example.org\n' +
      'nameserver 10.96.0.10\n' +
      'options ndots:5\n',
  );
  const noDomain = planPodDNS(pod(), { ...settings, clusterDomain: '' });
  t.same(noDomain.config.searches, ['example.org', 'lab.example.org'], "without a cluster domain only the node's");
  const dup = planPodDNS(pod(), { ...settings, host: { ...host, searches: ['cluster.local', 'x'] } });
  t.same(dup.config.searches, ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local', 'x'], 'duplicates once');
});

t.test("ClusterFirst without --cluster-dns falls back to Default, with kubelet's event", async (t) => {
  const p = planPodDNS(pod(), { ...settings, clusterDNS: [] });
  t.same(p.config, host);
  t.equal(p.events[0]?.reason, 'MissingClusterDNS');
  t.match(p.events[0]?.message, /Falling back to "Default" policy/);
});

t.test("Default and host-network ClusterFirst: the node's resolv.conf as it is", async (t) => {
  t.same(planPodDNS(pod({ dnsPolicy: 'Default' }), settings).config, host);
  t.same(planPodDNS(pod({ hostNetwork: true }), settings).config, host);
  const withHostNet = planPodDNS(pod({ hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }), settings).config;
  t.same(withHostNet.nameservers, ['10.96.0.10']);
});

t.test('--resolv-conf "": a loopback resolver per address family and search "."', async (t) => {
  t.same(planPodDNS(pod({ dnsPolicy: 'Default' }), { ...settings, host: undefined }).config, {
    nameservers: ['127.0.0.1'],
    searches: ['.'],
    options: [],
  });
  t.same(
    planPodDNS(pod({ dnsPolicy: 'Default' }), { ...settings, host: undefined, nodeIPs: ['10.0.0.1', 'fd00::1'] }).config
      .nameservers,
    ['127.0.0.1', '::1'],
  );
  t.same(
    planPodDNS(pod(), { ...settings, host: undefined }).config.searches,
    ['shop.svc.cluster.local', 'svc.cluster.local', 'cluster.local'],
    'cluster pods keep their search list',
  );
});

t.test("None: exactly the pod's dnsConfig", async (t) => {
  const p = planPodDNS(
    pod({
      dnsPolicy: 'None',
      dnsConfig: {
        nameservers: ['1.2.3.4'],
        searches: ['resolv.conf.local'],
        options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
      },
    }),
    settings,
  );
  t.equal(renderResolvConf(p.config), 'search resolv.conf.local\nnameserver 1.2.3.4\noptions ndots:2 edns0\n');
  t.equal(
    renderResolvConf(planPodDNS(pod({ dnsPolicy: 'None', dnsConfig: {} }), settings).config),
    '',
    'nothing given, nothing written',
  );
});

t.test('dnsConfig is appended: nameservers and searches once each, options replaced by name', async (t) => {
  const p = planPodDNS(
    pod({
      dnsConfig: {
        nameservers: ['10.96.0.10', '9.9.9.9'],
        searches: ['cluster.local', 'extra.test'],
        options: [{ name: 'ndots', value: '2' }, { name: 'single-request' }],
      },
    }),
    settings,
  );
  t.same(p.config.nameservers, ['10.96.0.10', '9.9.9.9']);
  t.same(p.config.searches, [
    'shop.svc.cluster.local',
    'svc.cluster.local',
    'cluster.local',
    'example.org',
    'lab.example.org',
    'extra.test',
  ]);
  t.same(p.config.options, ['ndots:2', 'single-request']);
  const d = planPodDNS(
    pod({ dnsPolicy: 'Default', dnsConfig: { options: [{ name: 'attempts', value: '5' }, { name: 'timeout' }] } }),
    settings,
  );
  t.same(d.config.options, ['timeout', 'attempts:5'], "a dnsConfig option without a value drops the node's value");
});

t.test('limits: 3 nameservers, 32 search domains, 2048 characters, no domain over 253', async (t) => {
  const p = planPodDNS(
    pod({ dnsPolicy: 'None', dnsConfig: { nameservers: ['1.1.1.1', '2.2.2.2', '3.3.3.3', '4.4.4.4'] } }),
    settings,
  );
  t.same(p.config.nameservers, ['1.1.1.1', '2.2.2.2', '3.3.3.3']);
  t.same(p.events, [
    {
      reason: 'DNSConfigForming',
      message:
        'Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: 1.1.1.1 2.2.2.2 3.3.3.3',
    },
  ]);

  const many = Array.from({ length: 40 }, (_, i) => `d${i}.test`);
  const s = planPodDNS(pod({ dnsPolicy: 'None', dnsConfig: { searches: many } }), settings);
  t.same(s.config.searches, many.slice(0, 32));
  t.equal(s.events[0]?.reason, 'DNSConfigForming');

  const long = 'a'.repeat(254);
  t.same(planPodDNS(pod({ dnsPolicy: 'None', dnsConfig: { searches: ['ok.test', long] } }), settings).config.searches, [
    'ok.test',
  ]);

  // 10 domains of 250 characters: 2509 characters in one line; the last ones go until it fits.
  const wide = Array.from({ length: 10 }, (_, i) => `${i}`.padEnd(250, 'x'));
  const w = planPodDNS(pod({ dnsPolicy: 'None', dnsConfig: { searches: wide } }), settings);
  t.same(w.config.searches, wide.slice(0, 8), '8 x 250 + 7 spaces = 2007 <= 2048');
  t.match(
    w.events[0]?.message,
    /^Search Line limits were exceeded, some search paths have been omitted, the applied search line is: 0x/,
  );

  t.same(planPodDNS(pod(), settings).events, [], 'within the limits: no event');
});

t.test('hostname: spec.hostname or the pod name, cut to 63 without trailing - or .', async (t) => {
  t.same(podHostnameAndDomain(pod(), 'cluster.local'), { hostname: 'web-0', domain: '' });
  t.same(podHostnameAndDomain(pod({ hostname: 'h1', subdomain: 'sub' }), 'cluster.local'), {
    hostname: 'h1',
    domain: 'sub.shop.svc.cluster.local',
  });
  const longName = `${'a'.repeat(61)}-.bbbb`;
  t.equal(podHostnameAndDomain(pod({}, longName), 'cluster.local').hostname, 'a'.repeat(61));
  t.throws(() => podHostnameAndDomain(pod({ hostname: 'Bad_Name' }), 'cluster.local'), PodHostnameError);
  t.throws(
    () => podHostnameAndDomain(pod({ subdomain: 'x.y' }), 'cluster.local'),
    /spec\.subdomain: "x\.y" is not a valid DNS label/,
  );
});

t.test('setHostnameAsFQDN: the FQDN as the kernel hostname, at most 64 characters', async (t) => {
  const p = pod({ hostname: 'h1', subdomain: 'sub', setHostnameAsFQDN: true });
  t.equal(nodenameForKernel(p, podHostnameAndDomain(p, 'cluster.local')), 'h1.sub.shop.svc.cluster.local');
  const noSub = pod({ hostname: 'h1', setHostnameAsFQDN: true });
  t.equal(nodenameForKernel(noSub, podHostnameAndDomain(noSub, 'cluster.local')), 'h1', 'no subdomain, no FQDN');
  const off = pod({ hostname: 'h1', subdomain: 'sub' });
  t.equal(nodenameForKernel(off, podHostnameAndDomain(off, 'cluster.local')), 'h1');
  const big = pod({ hostname: 'h'.repeat(40), subdomain: 'sub', setHostnameAsFQDN: true });
  t.throws(
    () => nodenameForKernel(big, podHostnameAndDomain(big, 'cluster.local')),
    /FQDN .* is too long \(64 characters is the max, 67 characters requested\)/,
  );
});

t.test("managed hosts file: kubelet's header, localhost, the pod IPs, host aliases", async (t) => {
  const f = managedHostsFile(['10.244.1.5'], { hostname: 'h1', domain: 'sub.shop.svc.cluster.local' }, [
    { ip: '1.2.3.4', hostnames: ['foo', 'bar'] },
    { ip: '::2', hostnames: ['baz'] },
  ]);
  t.equal(
    f,
    [
      '# Kubernetes-managed hosts file.',
      '127.0.0.1\tlocalhost',
      '::1\tlocalhost ip6-localhost ip6-loopback',
      'fe00::0\tip6-localnet',
      'fe00::0\tip6-mcastprefix',
      'fe00::1\tip6-allnodes',
      'fe00::2\tip6-allrouters',
      '10.244.1.5\th1.sub.shop.svc.cluster.local\th1',
      '',
      '# Entries added by HostAliases.',
      '1.2.3.4\tfoo\tbar',
      '::2\tbaz',
      '',
    ].join('\n'),
  );
  const plain = managedHostsFile(['10.244.1.5', 'fd00::5'], { hostname: 'web-0', domain: '' }, undefined);
  t.ok(
    plain.endsWith('fe00::2\tip6-allrouters\n10.244.1.5\tweb-0\nfd00::5\tweb-0\n'),
    'every pod IP, no alias section',
  );
});

t.test("host-network hosts file: the node's own under the host-network header", async (t) => {
  t.equal(
    hostNetworkHostsFile('127.0.0.1\tlocalhost\n', [{ ip: '5.6.7.8', hostnames: ['x'] }]),
    '# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n\n# Entries added by HostAliases.\n5.6.7.8\tx\n',
  );
  t.notOk(
    hostNetworkHostsFile('', undefined).includes('# Kubernetes-managed hosts file.'),
    'the conformance suite tells the two apart by this line',
  );
});
