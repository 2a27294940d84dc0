// The etcd manifest source's pure parts: one Pod per key (errors naming the key, the field and the
// reason), the per-key set a watch keeps up to date, static pod identity for etcd keys, and the
// --manifest-etcd-* flags (also in --config). The source against a real etcd is in
// test/integration/agent-etcd-source.test.ts.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from '../../agent/config/config.js';
import { EtcdPods, readEtcdValue } from '../../agent/sources/etcd-pods.js';
import { etcdClientOptions } from '../../agent/sources/etcd.js';

const KEY = '/kubenode/nodes/n1/pods/web';
const pod = (name: string, image = 'kubenode/demo:latest') =>
  `apiVersion: v1\nkind: Pod\nmetadata: {name: ${name}}\nspec:\n  containers: [{name: app, image: ${image}}]\n`;

t.test('a key holds one Pod, YAML or JSON: a static pod whose origin is the key', async (t) => {
  const { pods, errors } = readEtcdValue(KEY, pod('web'), 'N1');
  t.same(errors, []);
  const p = pods[0]!;
  t.equal(p.metadata!.name, 'web-n1', 'node suffix, as for files');
  t.equal(p.metadata!.annotations!['kubernetes.io/config.source'], 'etcd');
  t.equal(p.metadata!.annotations!['kubenode.io/config.origin'], KEY);
  const json = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'web' },
    spec: { containers: [{ name: 'app', image: 'kubenode/demo:latest' }] },
  });
  t.equal(readEtcdValue(KEY, json, 'N1').pods[0]!.metadata!.uid, p.metadata!.uid, 'the same pod in JSON: the same UID');
  t.equal(
    readEtcdValue(KEY, pod('web'), 'N1').pods[0]!.metadata!.uid,
    p.metadata!.uid,
    'stable: an agent restart adopts it',
  );
  t.not(
    readEtcdValue(KEY, pod('web', 'kubenode/busybox:latest'), 'N1').pods[0]!.metadata!.uid,
    p.metadata!.uid,
    'changed value, new UID',
  );
  t.not(readEtcdValue(KEY + '2', pod('web'), 'N1').pods[0]!.metadata!.uid, p.metadata!.uid, 'other key, other UID');
  t.not(
    readEtcdValue(KEY, pod('web'), 'N2').pods[0]!.metadata!.uid,
    p.metadata!.uid,
    'other node sharing the prefix, other UID',
  );
});

t.test('a bad value is one error naming the key, the object, the field and the reason', async (t) => {
  t.match(readEtcdValue(KEY, 'kind: Pod\n  metadata: [oops', 'n1'), {
    pods: [],
    errors: [{ source: 'etcd', origin: KEY, field: '<document>', reason: /not valid YAML or JSON/ }],
  });
  t.match(readEtcdValue(KEY, '  \n', 'n1'), {
    pods: [],
    errors: [{ origin: KEY, field: '<value>', reason: /empty value/ }],
  });
  t.match(
    readEtcdValue(
      KEY,
      pod('web').replace('image: kubenode/demo:latest', 'image: kubenode/demo:latest, resources: {limits: {cpu: 1x}}'),
      'n1',
    ),
    {
      pods: [],
      errors: [
        {
          origin: KEY,
          object: 'default/web',
          field: 'spec.containers[0].resources.limits.cpu',
          reason: /invalid quantity "1x"/,
        },
      ],
    },
  );
  t.match(readEtcdValue(KEY, 'kind: Deployment\nmetadata: {name: d}\n', 'n1'), {
    pods: [],
    errors: [{ origin: KEY, field: 'kind', reason: /not a Pod/ }],
  });
  t.match(readEtcdValue(KEY, `${pod('a')}---\n${pod('b')}`, 'n1'), {
    pods: [],
    errors: [{ origin: KEY, field: '<value>', reason: 'expected one Pod per key, got 2 objects' }],
  });
});

t.test('the set kept by key: put replaces, delete removes, a relist replaces everything', async (t) => {
  const s = new EtcdPods('n1');
  s.put('/p/b', pod('b'));
  s.put('/p/a', pod('a'));
  s.put('/p/bad', 'not: [yaml');
  t.same(
    s.snapshot().pods.map((p) => p.metadata!.name),
    ['a-n1', 'b-n1'],
    'key order',
  );
  t.same(
    s.snapshot().errors.map((e) => e.origin),
    ['/p/bad'],
  );
  const uid = s.snapshot().pods[0]!.metadata!.uid;
  s.put('/p/a', pod('a', 'kubenode/busybox:latest'));
  t.not(s.snapshot().pods[0]!.metadata!.uid, uid, 'an update is a new pod');
  s.put('/p/bad', pod('fixed'));
  t.same(s.snapshot().errors, [], 'a fixed value clears its error');
  s.put('/p/b', 'kind: Pod');
  t.same(
    s.snapshot().pods.map((p) => p.metadata!.name),
    ['a-n1', 'fixed-n1'],
    "a value made bad drops that key's pod only",
  );
  s.delete('/p/a');
  t.same(
    s.snapshot().pods.map((p) => p.metadata!.name),
    ['fixed-n1'],
  );
  s.replaceAll([{ key: '/p/c', value: pod('c') }]);
  t.same(s.snapshot(), { pods: [s.snapshot().pods[0]], errors: [] });
  t.equal(s.snapshot().pods[0]!.metadata!.name, 'c-n1', 'keys missing from the list are gone');
});

t.test('--manifest-etcd-* flags and --config keys; errors name the flag', async (t) => {
  const c = parseArgs(['--manifest-etcd-endpoints=http://127.0.0.1:2379,http://127.0.0.2:2379']);
  if (c === 'help') throw new Error('help');
  t.same(c.manifestEtcdEndpoints, ['http://127.0.0.1:2379', 'http://127.0.0.2:2379']);
  t.equal(c.manifestEtcdPrefix, undefined, 'unset: the agent uses /kubenode/nodes/<node name>/pods/');
  t.same((parseArgs([]) as { manifestEtcdEndpoints: string[] }).manifestEtcdEndpoints, []);
  t.throws(() => parseArgs(['--manifest-etcd-endpoints=127.0.0.1:2379']), {
    message: '--manifest-etcd-endpoints 127.0.0.1:2379: not a URL (expected http://host:port or https://host:port)',
  });
  t.throws(() => parseArgs(['--manifest-etcd-endpoints=unix:///run/etcd.sock']), {
    message: '--manifest-etcd-endpoints unix:///run/etcd.sock: expected http:// or https://, got unix:',
  });
  t.throws(() => parseArgs(['--manifest-etcd-endpoints=not a url']), {
    message: /--manifest-etcd-endpoints not a url: not a URL/,
  });
  t.throws(() => parseArgs(['--manifest-etcd-prefix=/x/']), { message: /need --manifest-etcd-endpoints/ });
  t.throws(() => parseArgs(['--manifest-etcd-endpoints=http://127.0.0.1:2379', '--manifest-etcd-cafile=/ca.crt']), {
    message: /TLS files are given, so the endpoint must be https:\/\//,
  });
  t.throws(() => parseArgs(['--manifest-etcd-endpoints=https://127.0.0.1:2379', '--manifest-etcd-certfile=/c.crt']), {
    message: /--manifest-etcd-certfile and --manifest-etcd-keyfile: give both or neither/,
  });

  const dir = await mkdtemp(join(tmpdir(), 'agent-etcd-config-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  await writeFile(
    file,
    'manifestEtcdEndpoints: [https://127.0.0.1:2379]\nmanifestEtcdPrefix: /pods/\nmanifestEtcdCafile: /ca.crt\nmanifestEtcdCertfile: /c.crt\nmanifestEtcdKeyfile: /c.key\n',
  );
  const f = parseArgs([`--config=${file}`, '--manifest-etcd-prefix=/flag/']);
  if (f === 'help') throw new Error('help');
  t.same(
    [
      f.manifestEtcdEndpoints,
      f.manifestEtcdPrefix,
      f.manifestEtcdCafile,
      f.manifestEtcdCertfile,
      f.manifestEtcdKeyfile,
    ],
    [['https://127.0.0.1:2379'], '/flag/', '/ca.crt', '/c.crt', '/c.key'],
    'from the file; the flag wins',
  );
  t.throws(() => etcdClientOptions({ endpoints: ['https://127.0.0.1:2379'], caFile: join(dir, 'missing.crt') }), {
    message: `--manifest-etcd-cafile ${join(dir, 'missing.crt')}: cannot read: ENOENT`,
  });
});
