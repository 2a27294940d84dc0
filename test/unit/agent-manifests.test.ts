// Manifest parsing, validation errors (file, object, field, reason), static pod naming and UIDs,
// and the merge of several sources into one desired set keyed by UID.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { readManifests } from '../../agent/sources/manifest.js';
import { staticPodName, staticPodUid, toStaticPod } from '../../agent/sources/static-pod.js';
import { PodConfig, type DesiredChanges } from '../../agent/sources/merger.js';
import { validatePod } from '../../agent/podspec/validation.js';
import { createLogger } from '../../lib/log.js';

const opts = { source: 'file' as const, origin: '/etc/kubenode/manifests/web.yaml', nodeName: 'Node-1' };
const good = `apiVersion: v1
kind: Pod
metadata: {name: web}
spec:
  containers: [{name: app, image: kubenode/demo:latest}]
`;

t.test('a static pod gets the node suffix, a content UID, defaults and config annotations', async (t) => {
  const { pods, errors } = readManifests(good, opts);
  t.same(errors, []);
  const p = pods[0]!;
  t.equal(p.metadata!.name, 'web-node-1', 'suffixed with the lowercased node name');
  t.equal(p.metadata!.namespace, 'default');
  t.match(p.metadata!.uid!, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  t.equal(p.spec!.nodeName, 'Node-1');
  t.equal(p.metadata!.annotations!['kubernetes.io/config.source'], 'file');
  t.equal(p.metadata!.annotations!['kubernetes.io/config.hash'], p.metadata!.uid);
  t.equal(p.metadata!.annotations!['kubenode.io/config.origin'], opts.origin);
  t.equal(
    readManifests(good, opts).pods[0]!.metadata!.uid,
    p.metadata!.uid,
    'same content, same UID (an agent restart adopts it)',
  );
  t.not(
    readManifests(good.replace('demo', 'busybox'), opts).pods[0]!.metadata!.uid,
    p.metadata!.uid,
    'changed content, new UID',
  );
  t.not(
    readManifests(good, { ...opts, nodeName: 'node-2' }).pods[0]!.metadata!.uid,
    p.metadata!.uid,
    'other node, other UID',
  );
  t.not(
    readManifests(good, { ...opts, origin: '/other.yaml' }).pods[0]!.metadata!.uid,
    p.metadata!.uid,
    'other file, other UID',
  );
  const withUid = readManifests(good.replace('{name: web}', '{name: web, uid: fixed-uid}'), opts).pods[0]!;
  t.equal(withUid.metadata!.uid, 'fixed-uid', 'a UID in the manifest is kept');
  t.equal(staticPodName('web', 'N1'), 'web-n1');
  t.equal(
    staticPodUid({ a: 1, b: 2 }, 'n', 'file', 'f'),
    staticPodUid({ b: 2, a: 1 }, 'n', 'file', 'f'),
    'key order does not matter',
  );
});

t.test('JSON, multi-document YAML and PodLists', async (t) => {
  const json = JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'j' },
    spec: { containers: [{ name: 'a', image: 'x' }] },
  });
  t.equal(readManifests(json, opts).pods[0]!.metadata!.name, 'j-node-1');
  const multi = `${good}---\n${good.replace('name: web', 'name: api')}---\n`;
  t.same(
    readManifests(multi, opts).pods.map((p) => p.metadata!.name),
    ['web-node-1', 'api-node-1'],
  );
  const list = JSON.stringify({
    kind: 'PodList',
    apiVersion: 'v1',
    items: [{ metadata: { name: 'l1' }, spec: { containers: [{ name: 'a', image: 'x' }] } }],
  });
  t.same(
    readManifests(list, { ...opts, source: 'http' }).pods.map((p) => p.metadata!.name),
    ['l1-node-1'],
  );
});

t.test('bad input: each refused with origin, object, field and reason; good documents still admitted', async (t) => {
  const text = [
    good,
    'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\n',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: empty}\nspec: {containers: []}\n',
    'apiVersion: v1\nkind: Pod\nmetadata: {name: dup}\nspec:\n  containers: [{name: a, image: x}, {name: a, image: y}]\n',
    "apiVersion: v1\nkind: Pod\nmetadata: {name: q}\nspec:\n  containers: [{name: a, image: x, resources: {limits: {cpu: '1x'}}}]\n",
  ].join('---\n');
  const { pods, errors } = readManifests(text, opts);
  t.same(
    pods.map((p) => p.metadata!.name),
    ['web-node-1'],
  );
  const find = (object: string) => errors.find((e) => e.object === object);
  t.match(find('default/d'), { origin: opts.origin, field: 'kind', reason: /not a Pod/ });
  t.match(find('default/empty'), { field: 'spec.containers', reason: /at least one container/ });
  t.match(find('default/dup'), { field: 'spec.containers[1].name', reason: /Duplicate value: "a"/ });
  t.match(find('default/q'), { field: 'spec.containers[0].resources.limits.cpu', reason: /invalid quantity "1x"/ });
  const broken = readManifests('kind: Pod\n  bad: [indent', opts);
  t.equal(broken.pods.length, 0);
  t.match(broken.errors[0], { origin: opts.origin, reason: /not valid YAML or JSON/ });
});

t.test(
  'null where an object may be (preStop: null) means unset, as the apiserver decodes it; the file is not lost',
  async (t) => {
    const withNullHook =
      'apiVersion: v1\nkind: Pod\nmetadata: {name: hooks}\nspec:\n  containers: [{name: a, image: x, lifecycle: {preStop: null, postStart: null}}]\n';
    const { pods, errors } = readManifests([good, withNullHook].join('---\n'), opts);
    t.same(errors, []);
    t.same(
      pods.map((p) => p.metadata!.name),
      ['web-node-1', 'hooks-node-1'],
    );
  },
);

t.test('validation details', async (t) => {
  const base = (spec: Record<string, unknown>, md: Record<string, unknown> = { name: 'p' }) =>
    validatePod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: md,
      spec: { containers: [{ name: 'a', image: 'x' }], ...spec },
    });
  t.same(base({}), []);
  t.match(validatePod({ kind: 'Pod', metadata: {}, spec: { containers: [{ name: 'a', image: 'x' }] } }), [
    { field: 'metadata.name', reason: 'Required value' },
  ]);
  t.match(base({}, { name: 'Bad_Name' }), [{ field: 'metadata.name' }]);
  t.match(base({ containers: [{ name: 'a' }] }), [{ field: 'spec.containers[0].image', reason: 'Required value' }]);
  t.match(base({ restartPolicy: 'Sometimes' }), [{ field: 'spec.restartPolicy' }]);
  t.match(
    base({
      containers: [{ name: 'a', image: 'x', resources: { requests: { memory: '2Gi' }, limits: { memory: '1Gi' } } }],
    }),
    [{ field: 'spec.containers[0].resources.requests.memory', reason: /less than or equal to memory limit/ }],
  );
  t.match(base({ containers: [{ name: 'a', image: 'x', ports: [{ containerPort: 70000 }] }] }), [
    { field: 'spec.containers[0].ports[0].containerPort' },
  ]);
  t.match(base({ containers: [{ name: 'a', image: 'x', volumeMounts: [{ name: 'nope', mountPath: '/x' }] }] }), [
    { field: 'spec.containers[0].volumeMounts[0].name', reason: /Not found/ },
  ]);
  t.match(base({ volumes: [{ name: 'h', hostPath: { path: '/x', type: 'Folder' } }] }), [
    { field: 'spec.volumes[0].hostPath.type' },
  ]);
  t.match(
    base({
      containers: [
        { name: 'a', image: 'x', env: [{ name: 'X', valueFrom: { fieldRef: { fieldPath: 'spec.bogus' } } }] },
      ],
    }),
    [{ field: 'spec.containers[0].env[0].valueFrom.fieldRef.fieldPath' }],
  );
  t.match(
    base({ initContainers: [{ name: 'a', image: 'x' }] }),
    [{ field: 'spec.containers[0].name', reason: /Duplicate value: "a" \(also spec.initContainers\[0\].name\)/ }],
    'names are unique across init and app containers',
  );
  t.match(
    base({
      containers: [{ name: 'a', image: 'x', livenessProbe: { exec: { command: ['true'] }, periodSeconds: -1 } }],
    }),
    [{ field: /spec\.containers\[0\]\.livenessProbe/ }],
    'probes are validated by the prober',
  );
});

t.test('merger: one desired set keyed by UID, per-source snapshots and operations, conflicts refused', async (t) => {
  const seen: DesiredChanges[] = [];
  const cfg = new PodConfig({ logger: createLogger('test', { sink: () => {} }), onChange: (c) => seen.push(c) });
  cfg.register('file');
  cfg.register('server');
  t.equal(cfg.allSourcesReady(), false);
  const mk = (name: string, source: 'file' | 'server', image = 'x'): V1Pod =>
    toStaticPod(
      { apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { containers: [{ name: 'a', image }] } },
      'n',
      source,
      `${source}:${name}`,
    );
  const a = mk('a', 'file');
  const b = mk('b', 'file');
  cfg.apply({ source: 'file', op: 'snapshot', pods: [a, b], errors: [] });
  t.same(
    seen.pop()!.added.map((p) => p.metadata!.name),
    ['a-n', 'b-n'],
  );
  t.equal(cfg.allSourcesReady(), false, 'the server source has not spoken yet');
  cfg.apply({ source: 'server', op: 'snapshot', pods: [], errors: [] });
  t.equal(cfg.allSourcesReady(), true);
  t.equal(seen.length, 0, 'no change, no event');

  const s = mk('s', 'server');
  cfg.apply({ source: 'server', op: 'add', pods: [s] });
  t.same(
    seen.pop()!.added.map((p) => p.metadata!.uid),
    [s.metadata!.uid],
  );

  cfg.apply({ source: 'file', op: 'snapshot', pods: [a], errors: [] });
  t.same(
    seen.pop()!.removed.map((p) => p.metadata!.name),
    ['b-n'],
    'a snapshot without b removes b only',
  );
  t.same(
    cfg
      .desired()
      .map((p) => p.metadata!.name)
      .sort(),
    ['a-n', 's-n'],
    'the server source is untouched',
  );

  const updated = { ...s, spec: { ...s.spec!, terminationGracePeriodSeconds: 3 } };
  cfg.apply({ source: 'server', op: 'update', pods: [updated] });
  t.same(
    seen.pop()!.updated.map((p) => p.metadata!.name),
    ['s-n'],
  );

  const clash = mk('a', 'server', 'other');
  cfg.apply({ source: 'server', op: 'add', pods: [clash] });
  t.equal(seen.length, 0, 'a second pod named default/a-n is refused');
  t.match(
    cfg.rejected().find((e) => e.field === 'metadata.name'),
    { source: 'server', object: 'default/a-n', reason: /duplicate pod name default\/a-n: already defined by file:a/ },
  );

  cfg.apply({ source: 'server', op: 'remove', pods: [updated] });
  t.same(
    seen.pop()!.removed.map((p) => p.metadata!.name),
    ['s-n'],
  );
  cfg.apply({
    source: 'file',
    op: 'snapshot',
    pods: [],
    errors: [{ source: 'file', origin: '/x.yaml', object: 'default/q', field: 'kind', reason: 'not a Pod' }],
  });
  t.equal(cfg.rejected().length, 1, 'the name conflict is gone with the file pod');
  t.match(cfg.rejected(), [{ origin: '/x.yaml', field: 'kind' }]);
  t.same(
    seen.pop()!.added.map((p) => p.metadata!.name),
    ['a-n'],
    'once the file pod is gone, the server one is admitted',
  );
});
