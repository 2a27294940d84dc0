// Flags with kubelet's names, --config YAML (kubelet's KubeletConfiguration names accepted), errors.
import t from 'tap';
import { mkdtemp, writeFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError } from '../../agent/config/values.js';
import { parseArgs, parseHostPort } from '../../agent/config/config.js';
import { parseDuration } from '../../agent/config/duration.js';
import { isLoopback } from '../../agent/sources/manifest-server.js';

t.test('defaults and flags', async (t) => {
  const c = parseArgs([]);
  if (c === 'help') throw new Error('help');
  t.equal(c.readOnlyPort, 10255);
  t.equal(c.rootDir, '/var/lib/kubenode');
  t.equal(c.cniCacheDir, '/var/lib/kubenode/cni-cache');
  const f = parseArgs([
    '--pod-manifest-path=/m',
    '--read-only-port',
    '0',
    '--cni-bin-dir=/a,/b',
    '--file-check-frequency=1m30s',
    '--root-dir=/r',
    '--manifest-url-header=X-A:1',
    '--manifest-url-header',
    'X-B: 2',
  ]);
  if (f === 'help') throw new Error('help');
  t.equal(f.podManifestPath, '/m');
  t.equal(f.readOnlyPort, 0);
  t.same(f.cniBinDir, ['/a', '/b']);
  t.equal(f.fileCheckFrequencyMs, 90_000);
  t.equal(f.cniCacheDir, '/r/cni-cache');
  t.same(f.manifestUrlHeader, { 'X-A': '1', 'X-B': '2' });
  t.equal(parseArgs(['--help']), 'help');
});

t.test(
  "--read-only-port: off by default for a node of a cluster (kubelet's default), on when standalone",
  async (t) => {
    const joined = parseArgs(['--kubeconfig=/etc/kubenode/kubeconfig']);
    if (joined === 'help') throw new Error('help');
    t.equal(joined.readOnlyPort, 0, 'with --kubeconfig: no unauthenticated port');
    const asked = parseArgs(['--kubeconfig=/k', '--read-only-port=10255']);
    t.equal(asked !== 'help' && asked.readOnlyPort, 10255, 'asked for explicitly: on');
    const dir = await mkdtemp(join(tmpdir(), 'agent-config-'));
    t.teardown(() => rm(dir, { recursive: true, force: true }));
    await writeFile(join(dir, 'c.yaml'), 'kind: KubeletConfiguration\nreadOnlyPort: 10266\n');
    const fromFile = parseArgs([`--config=${join(dir, 'c.yaml')}`, '--kubeconfig=/k']);
    t.equal(fromFile !== 'help' && fromFile.readOnlyPort, 10266, 'readOnlyPort in --config counts as asked');
  },
);

t.test('--config YAML, overridden by flags', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'agent-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  await writeFile(
    file,
    'kind: KubeletConfiguration\napiVersion: kubelet.config.k8s.io/v1beta1\nstaticPodPath: /etc/manifests\nreadOnlyPort: 10266\nsyncFrequency: 30s\nrootDir: /srv/kubenode\nmanifestUrl: http://127.0.0.1:8000/pods\nstaticPodURLHeader: {X-Token: [a, b]}\n',
  );
  const c = parseArgs([`--config=${file}`, '--read-only-port=10999']);
  if (c === 'help') throw new Error('help');
  t.equal(c.podManifestPath, '/etc/manifests');
  t.equal(c.readOnlyPort, 10999, 'the flag wins');
  t.equal(c.syncFrequencyMs, 30_000);
  t.equal(c.rootDir, '/srv/kubenode');
  t.equal(c.manifestUrl, 'http://127.0.0.1:8000/pods');
  t.same(c.manifestUrlHeader, { 'X-Token': 'a,b' });
  await writeFile(file, 'podManifestPth: /x\n');
  t.throws(() => parseArgs([`--config=${file}`]), { message: /unknown setting "podManifestPth"/ });
  await writeFile(file, 'readOnlyPort: lots\n');
  t.throws(() => parseArgs([`--config=${file}`]), { message: /readOnlyPort: expected an integer/ });
  t.throws(() => parseArgs([`--config=${join(dir, 'missing.yaml')}`]), ConfigError);
});

t.test('bad flags name the flag and the reason', async (t) => {
  t.throws(() => parseArgs(['--pod-manifest-pth=/x']), { message: /unknown flag --pod-manifest-pth/ });
  t.throws(() => parseArgs(['--read-only-port=x']), { message: /--read-only-port: expected an integer/ });
  t.throws(() => parseArgs(['--read-only-port=70000']), { message: /between 0 and 65535/ });
  t.throws(() => parseArgs(['--sync-frequency=10']), { message: /invalid duration "10"/ });
  t.throws(() => parseArgs(['--root-dir=relative']), { message: /absolute path/ });
  t.throws(() => parseArgs(['--manifest-url']), { message: /needs a value/ });
  t.throws(() => parseArgs(['--manifest-url=not a url']), { message: /not a URL/ });
});

t.test('durations and host:port', async (t) => {
  t.equal(parseDuration('100ms'), 100);
  t.equal(parseDuration('1h2m3s'), 3_723_000);
  t.equal(parseDuration('1.5s'), 1500);
  t.throws(() => parseDuration('5 minutes'));
  t.same(parseHostPort('8080', '--x'), { host: '127.0.0.1', port: 8080 });
  t.same(parseHostPort('0.0.0.0:9', '--x'), { host: '0.0.0.0', port: 9 });
  t.same(parseHostPort('[::1]:9', '--x'), { host: '::1', port: 9 });
  t.throws(() => parseHostPort('host:port', '--x'), { message: /expected \[host:\]port/ });
  // What the manifest server may bind without a token: loopback address literals only.
  for (const h of ['127.0.0.1', '127.1.2.3', '::1', '0:0:0:0:0:0:0:1', 'localhost'])
    t.ok(isLoopback(h), `${h} is loopback`);
  for (const h of ['0.0.0.0', '10.0.0.1', '::', '127.example.org', '::ffff:10.0.0.1', ''])
    t.notOk(isLoopback(h), `${h || '(empty)'} is not loopback`);
});

t.test("cluster DNS settings: kubelet's flags and KubeletConfiguration names", async (t) => {
  const d = parseArgs([]);
  if (d === 'help') throw new Error('help');
  t.same([d.clusterDns, d.clusterDomain, d.resolvConf], [[], '', '/etc/resolv.conf'], "kubelet's defaults");
  const f = parseArgs(['--cluster-dns=10.96.0.10,fd00::a', '--cluster-domain', 'cluster.local', '--resolv-conf=']);
  if (f === 'help') throw new Error('help');
  t.same(
    [f.clusterDns, f.clusterDomain, f.resolvConf],
    [['10.96.0.10', 'fd00::a'], 'cluster.local', ''],
    '--resolv-conf "" means none',
  );
  const dir = await mkdtemp(join(tmpdir(), 'kn-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'kubelet.yaml');
  await writeFile(
    file,
    'kind: KubeletConfiguration\nclusterDNS: [10.96.0.10]\nclusterDomain: cluster.local\nresolvConf: /run/resolv.conf\n',
  );
  const c = parseArgs(['--config', file]);
  if (c === 'help') throw new Error('help');
  t.same([c.clusterDns, c.clusterDomain, c.resolvConf], [['10.96.0.10'], 'cluster.local', '/run/resolv.conf']);
  t.throws(() => parseArgs(['--cluster-dns=10.96.0.10,kube-dns']), {
    name: 'ConfigError',
    message: /--cluster-dns 10\.96\.0\.10,kube-dns: "kube-dns" is not an IP address/,
  });
});
