// The pure parts of ConfigMap, Secret, downwardAPI and projected volumes and of env/envFrom:
// key projection (items, modes, optional), downward API files, env resolution (prefixes, invalid
// names, optional refs, kubelet's messages), token refresh timing, the TTL cache, and the
// AtomicWriter's plan.
import t from 'tap';
import type {
  V1ConfigMap,
  V1Container,
  V1Pod,
  V1PodSecurityContext,
  V1Secret,
  V1Volume,
} from '@kubernetes/client-node';
import { envRefs, isEnvVarName, resolveContainerEnv, type EnvObjects } from '../../agent/podspec/env.js';
import {
  configMapData,
  formatMap,
  projectKeys,
  volumePayload,
  volumeRefs,
  type FetchedObjects,
  type Payload,
} from '../../agent/volumes/payload.js';
import { fsGroupMode, fsUserOf } from '../../agent/volumes/ownership.js';
import { dataDirName, invalidPathReason, planWrite, userVisibleNames } from '../../agent/volumes/atomic-plan.js';
import { issuedAt, tokenNeedsRefresh, tokenValid } from '../../agent/objects/token-refresh.js';
import { TtlCache } from '../../agent/objects/ttl-cache.js';

const b = (s: string) => Buffer.from(s);
const files = (p: Payload) =>
  Object.fromEntries([...p].map(([k, v]) => [k, `${v.data.toString()}|${v.mode.toString(8)}`]));
const pod: V1Pod = {
  metadata: {
    name: 'web',
    namespace: 'shop',
    uid: 'u1',
    labels: { app: 'web', tier: 'front' },
    annotations: { note: 'say "hi"' },
  },
  spec: {
    serviceAccountName: 'default',
    containers: [{ name: 'main', image: 'i', resources: { limits: { memory: '64Mi' }, requests: { cpu: '250m' } } }],
  },
};
const cm = (data: Record<string, string>, binaryData?: Record<string, string>): V1ConfigMap => ({
  metadata: { name: 'cfg' },
  data,
  binaryData,
});
const secret = (data: Record<string, string>): V1Secret => ({
  metadata: { name: 'db' },
  data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')])),
});
const dctx = { pod, nodeCpuMilli: 2000, nodeMemoryBytes: 2 ** 32 };

t.test('projectKeys: every key, items with paths and modes, optional', async (t) => {
  const data = configMapData(cm({ a: '1', b: '2' }, { bin: Buffer.from([0, 1, 2]).toString('base64') }));
  t.same(
    files(projectKeys({ kind: 'configmap', name: 'cfg', data, mode: 0o644, optional: false })),
    { a: '1|644', b: '2|644', bin: '\u0000\u0001\u0002|644' },
    'all keys, binaryData decoded',
  );
  t.same(
    files(
      projectKeys({
        kind: 'configmap',
        name: 'cfg',
        data,
        items: [
          { key: 'a', path: 'dir/first' },
          { key: 'b', path: 'second', mode: 0o400 },
        ],
        mode: 0o640,
        optional: false,
      }),
    ),
    { 'dir/first': '1|640', second: '2|400' },
    'only items, at their paths; item mode wins over defaultMode',
  );
  t.throws(() => projectKeys({ kind: 'configmap', name: 'cfg', data: undefined, mode: 0o644, optional: false }), {
    message: 'configmap "cfg" not found',
  });
  t.throws(() => projectKeys({ kind: 'secret', name: 'db', data: undefined, mode: 0o644, optional: false }), {
    message: 'secret "db" not found',
  });
  t.same(
    files(projectKeys({ kind: 'configmap', name: 'cfg', data: undefined, mode: 0o644, optional: true })),
    {},
    'optional and missing: empty',
  );
  t.throws(
    () =>
      projectKeys({
        kind: 'configmap',
        name: 'cfg',
        data,
        items: [{ key: 'nope', path: 'x' }],
        mode: 0o644,
        optional: false,
      }),
    { message: 'configmap references non-existent config key: nope' },
  );
  t.throws(
    () =>
      projectKeys({
        kind: 'secret',
        name: 'db',
        data,
        items: [{ key: 'nope', path: 'x' }],
        mode: 0o644,
        optional: false,
      }),
    { message: 'references non-existent secret key: nope' },
  );
  t.same(
    files(
      projectKeys({
        kind: 'configmap',
        name: 'cfg',
        data,
        items: [
          { key: 'nope', path: 'x' },
          { key: 'a', path: 'y' },
        ],
        mode: 0o644,
        optional: true,
      }),
    ),
    { y: '1|644' },
    'optional: missing keys skipped',
  );
});

t.test('volumePayload: configMap, secret, downwardAPI, projected (token, kube-root-ca.crt, namespace)', async (t) => {
  const objs: FetchedObjects = {
    configMaps: new Map([
      ['cfg', cm({ k: 'v' })],
      ['kube-root-ca.crt', cm({ 'ca.crt': 'PEM' })],
      ['gone', undefined],
    ]),
    secrets: new Map([['db', secret({ pw: 's3cret' })]]),
    tokens: new Map([[0, 'jwt']]),
  };
  t.same(
    files(volumePayload({ name: 'c', configMap: { name: 'cfg' } }, objs, dctx)),
    { k: 'v|644' },
    'defaultMode 0644 when unset',
  );
  t.same(
    files(volumePayload({ name: 's', secret: { secretName: 'db', defaultMode: 0o400 } }, objs, dctx)),
    { pw: 's3cret|400' },
    'secret data base64-decoded',
  );
  t.throws(() => volumePayload({ name: 'c', configMap: { name: 'gone' } }, objs, dctx), {
    message: 'configmap "gone" not found',
  });
  const downward: V1Volume = {
    name: 'd',
    downwardAPI: {
      items: [
        { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
        { path: 'annotations', fieldRef: { fieldPath: 'metadata.annotations' } },
        { path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } },
        { path: 'app', fieldRef: { fieldPath: "metadata.labels['app']" }, mode: 0o600 },
        { path: 'mem', resourceFieldRef: { containerName: 'main', resource: 'limits.memory', divisor: '1Mi' } },
        { path: 'cpu', resourceFieldRef: { containerName: 'main', resource: 'limits.cpu', divisor: '1m' } },
      ],
    },
  };
  t.same(
    files(volumePayload(downward, objs, dctx)),
    {
      labels: 'app="web"\ntier="front"|644',
      annotations: 'note="say \\"hi\\""|644',
      ns: 'shop|644',
      app: 'web|600',
      mem: '64|644',
      cpu: '2000|644',
    },
    'labels as sorted key="value" lines; an unset cpu limit is the node allocatable',
  );
  t.throws(
    () =>
      volumePayload(
        { name: 'd', downwardAPI: { items: [{ path: 'ip', fieldRef: { fieldPath: 'status.podIP' } }] } },
        objs,
        dctx,
      ),
    { message: /not supported in volumes/ },
  );
  t.throws(
    () =>
      volumePayload(
        {
          name: 'd',
          downwardAPI: { items: [{ path: 'x', resourceFieldRef: { containerName: 'nope', resource: 'limits.cpu' } }] },
        },
        objs,
        dctx,
      ),
    { message: /names no container/ },
  );
  // The admission plugin's kube-api-access volume.
  const access: V1Volume = {
    name: 'kube-api-access-abcde',
    projected: {
      defaultMode: 0o644,
      sources: [
        { serviceAccountToken: { expirationSeconds: 3607, path: 'token' } },
        { configMap: { name: 'kube-root-ca.crt', items: [{ key: 'ca.crt', path: 'ca.crt' }] } },
        {
          downwardAPI: {
            items: [{ path: 'namespace', fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } }],
          },
        },
      ],
    },
  };
  t.same(volumeRefs(access), {
    configMaps: ['kube-root-ca.crt'],
    secrets: [],
    tokens: [{ index: 0, audience: undefined, expirationSeconds: 3607 }],
  });
  t.same(files(volumePayload(access, objs, dctx)), { token: 'jwt|644', 'ca.crt': 'PEM|644', namespace: 'shop|644' });
  t.throws(
    () => volumePayload({ name: 'p', projected: { sources: [{ clusterTrustBundle: { path: 'x' } }] } }, objs, dctx),
    { message: /clusterTrustBundle is not supported/ },
  );
});

t.test('fsGroup and fsUser: modes with group read, the token readable by its owner only', async (t) => {
  t.equal(fsGroupMode(0o400, { dir: false, readOnly: true }), 0o440, 'a read-only file gains group read');
  t.equal(fsGroupMode(0o644, { dir: false, readOnly: false }), 0o664, 'a writable file gains group write');
  t.equal(fsGroupMode(0o755, { dir: true, readOnly: true }), 0o2755, 'a directory gains setgid and group search');
  t.equal(fsGroupMode(0o777, { dir: true, readOnly: false }), 0o2777);
  const withSc = (podSc: V1PodSecurityContext, users: (number | undefined)[]): V1Pod => ({
    ...pod,
    spec: {
      ...pod.spec!,
      securityContext: podSc,
      containers: users.map((u, i) => ({
        name: `c${i}`,
        image: 'i',
        ...(u !== undefined ? { securityContext: { runAsUser: u } } : {}),
      })),
    },
  });
  t.equal(fsUserOf(withSc({ runAsUser: 1000 }, [undefined, undefined])), 1000, "the pod's runAsUser for all");
  t.equal(fsUserOf(withSc({ runAsUser: 1000 }, [undefined, 1000])), 1000, 'the same user given twice');
  t.equal(fsUserOf(withSc({ runAsUser: 1000 }, [undefined, 1001])), undefined, 'two users: none');
  t.equal(fsUserOf(withSc({}, [1000, undefined])), undefined, 'a container with no user: none');
  const objs: FetchedObjects = {
    configMaps: new Map([['cfg', cm({ k: 'v' })]]),
    secrets: new Map(),
    tokens: new Map([[0, 'jwt']]),
  };
  const access: V1Volume = {
    name: 'api',
    projected: {
      defaultMode: 0o644,
      sources: [{ serviceAccountToken: { path: 'token' } }, { configMap: { name: 'cfg' } }],
    },
  };
  const grouped = volumePayload(access, objs, { ...dctx, pod: withSc({ fsGroup: 2000 }, [undefined]) });
  t.same(
    files(grouped),
    { token: 'jwt|640', k: 'v|644' },
    'with fsGroup: the token 0600 plus group read, other files as they were (0644 already has it)',
  );
  t.equal(grouped.get('token')!.uid, undefined, 'no single user: root keeps the token');
  const owned = volumePayload(access, objs, { ...dctx, pod: withSc({ runAsUser: 1000 }, [undefined]) });
  t.same(
    [files(owned).token, owned.get('token')!.uid],
    ['jwt|600', 1000],
    'one user for every container: the token is theirs, mode 0600',
  );
  t.same(files(volumePayload(access, objs, dctx)), { token: 'jwt|644', k: 'v|644' }, 'neither: the volume mode');
});

t.test('env: configMapKeyRef, secretKeyRef, envFrom with prefixes, invalid names, optional', async (t) => {
  const objects: EnvObjects = {
    configMaps: new Map([
      ['cfg', cm({ MODE: 'fast', 'bad=name': 'x', '1st': 'y', 'log.level': 'debug', 'tab\tkey': 'z' })],
    ]),
    secrets: new Map([['db', secret({ PASSWORD: 'pw', USER: 'app' })]]),
  };
  const c: V1Container = {
    name: 'main',
    image: 'i',
    envFrom: [
      { configMapRef: { name: 'cfg' } },
      { secretRef: { name: 'db' }, prefix: 'DB_' },
      { configMapRef: { name: 'absent', optional: true } },
    ],
    env: [
      { name: 'FROM_CM', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'MODE' } } },
      { name: 'FROM_SECRET', valueFrom: { secretKeyRef: { name: 'db', key: 'PASSWORD' } } },
      { name: 'OPT_KEY', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'nope', optional: true } } },
      { name: 'OPT_MAP', valueFrom: { secretKeyRef: { name: 'absent', key: 'x', optional: true } } },
      { name: 'URL', value: 'db://$(DB_USER):$(DB_PASSWORD)@$(MODE)' },
      { name: 'MODE', value: 'slow' },
    ],
  };
  const ctx = { pod, podIPs: [], hostIPs: [], nodeCpuMilli: 1000, nodeMemoryBytes: 1 };
  const r = resolveContainerEnv(c, ctx, 'spec.containers[0]', objects);
  t.same(
    Object.fromEntries(r.env.map((e) => [e.name, e.value])),
    {
      '1st': 'y',
      'log.level': 'debug',
      MODE: 'slow',
      DB_PASSWORD: 'pw',
      DB_USER: 'app',
      FROM_CM: 'fast',
      FROM_SECRET: 'pw',
      URL: 'db://app:pw@fast',
    },
    'envFrom first, env after it and referring to it; a later env entry overrides an envFrom key',
  );
  t.equal(r.skipped.length, 1, 'one line for the source with invalid names');
  t.match(
    r.skipped[0],
    /keys \[bad=name, tab\tkey\] from the EnvFrom configMap shop\/cfg were skipped/,
    "only names with '=' or a character that is not printable ASCII (1.34's relaxed rule)",
  );
  t.same(envRefs(c), {
    configMaps: new Map([
      ['cfg', false],
      ['absent', true],
    ]),
    secrets: new Map([
      ['db', false],
      ['absent', true],
    ]),
  });
  t.ok(isEnvVarName('A_b-c.d') && isEnvVarName('9x') && !isEnvVarName('a=b') && !isEnvVarName(''));
  const one = (e: V1Container['env'], envFrom?: V1Container['envFrom']) => () =>
    resolveContainerEnv({ name: 'x', image: 'i', env: e, envFrom }, ctx, 'spec.containers[0]', objects);
  t.throws(
    one([{ name: 'A', valueFrom: { configMapKeyRef: { name: 'missing', key: 'k' } } }]),
    { name: 'ContainerConfigError', message: 'configmap "missing" not found', bare: true },
    "kubelet's CreateContainerConfigError message",
  );
  t.throws(one([{ name: 'A', valueFrom: { secretKeyRef: { name: 'missing', key: 'k' } } }]), {
    message: 'secret "missing" not found',
  });
  t.throws(one([{ name: 'A', valueFrom: { configMapKeyRef: { name: 'cfg', key: 'k' } } }]), {
    message: "couldn't find key k in ConfigMap shop/cfg",
  });
  t.throws(one([{ name: 'A', valueFrom: { secretKeyRef: { name: 'db', key: 'k' } } }]), {
    message: "couldn't find key k in Secret shop/db",
  });
  t.throws(one([], [{ configMapRef: { name: 'missing' } }]), {
    message: 'configmap "missing" not found',
    field: 'spec.containers[0].envFrom[0].configMapRef',
  });
  t.throws(one([], [{ secretRef: { name: 'missing' } }]), { message: 'secret "missing" not found' });
});

t.test('service-account token refresh: at 80% of its lifetime, or after 24 h', async (t) => {
  const iat = new Date('2026-01-01T00:00:00Z');
  const at = (s: number) => new Date(iat.getTime() + s * 1000);
  const hour = { issuedAt: iat, expiresAt: at(3600) };
  t.notOk(tokenNeedsRefresh(hour, at(2879)), 'fresh before 80%');
  t.ok(tokenNeedsRefresh(hour, at(2880)), 'due at 80% (2880 s of 3600)');
  t.ok(tokenNeedsRefresh(hour, at(2871), 10_000), 'a 10 s jitter brings it forward');
  t.notOk(tokenNeedsRefresh(hour, at(2869), 10_000), 'by no more than the jitter');
  const year = { issuedAt: iat, expiresAt: at(365 * 86400) };
  t.notOk(tokenNeedsRefresh(year, at(86399)), 'an extended token is fresh for a day');
  t.ok(tokenNeedsRefresh(year, at(86400)), 'an extended token is due after 24 h, long before 80% of a year');
  t.ok(tokenValid(hour, at(3599)) && !tokenValid(hour, at(3600)), 'usable until it expires');
  t.same(issuedAt(at(3607), 3607, at(5)), iat, 'issue time from the granted lifetime');
  t.same(issuedAt(at(3600), undefined, at(5)), at(5), 'else the request time');
});

t.test(
  'TTL cache: fresh values served, stale refetched, new pods always fetch, failures and absences not kept',
  async (t) => {
    let now = 0;
    let fetches = 0;
    let answer: string | null = 'v1';
    const cache = new TtlCache<string | null>(5000, () => now);
    const fetch = async () => {
      fetches++;
      return answer;
    };
    t.equal(await cache.get('ns/cfg', 'pod1', fetch), 'v1');
    answer = 'v2';
    now = 4999;
    t.equal(await cache.get('ns/cfg', 'pod1', fetch), 'v1', 'within the TTL: cached');
    t.equal(fetches, 1);
    t.equal(
      await cache.get('ns/cfg', 'pod2', fetch),
      'v2',
      "a pod's first reference fetches anew (kubelet's AddReference)",
    );
    now = 10_000;
    t.equal(await cache.get('ns/cfg', 'pod1', fetch), 'v2', 'after the TTL: refetched');
    t.equal(fetches, 3);
    answer = null;
    now = 20_000;
    t.equal(await cache.get('ns/cfg', 'pod1', fetch), null);
    answer = 'v3';
    t.equal(
      await cache.get('ns/cfg', 'pod1', fetch),
      'v3',
      'not found is not cached: the next sync sees the new object',
    );
    const failing = async () => {
      fetches++;
      throw new Error('apiserver away');
    };
    now = 30_000;
    await t.rejects(cache.get('ns/cfg', 'pod1', failing), /apiserver away/);
    t.equal(await cache.get('ns/cfg', 'pod1', fetch), 'v3', 'a failure is not cached either');
    const [a, c] = await Promise.all([cache.get('ns/other', 'pod1', fetch), cache.get('ns/other', 'pod1', fetch)]);
    t.same([a, c], ['v3', 'v3']);
    cache.forgetPod('pod1');
    cache.forgetPod('pod2');
    t.equal(cache.size, 0, 'objects no pod references are dropped');
  },
);

t.test('TTL cache: an immutable object never goes stale, but a new pod still fetches it', async (t) => {
  let now = 0;
  let fetches = 0;
  const cache = new TtlCache<{ immutable?: boolean; v: number }>(
    5000,
    () => now,
    (o) => o.immutable === true,
  );
  const fetch = async () => ({ immutable: true, v: ++fetches });
  t.equal((await cache.get('ns/frozen', 'pod1', fetch)).v, 1);
  now = 3_600_000;
  t.equal((await cache.get('ns/frozen', 'pod1', fetch)).v, 1, 'an hour later: still the cached copy');
  t.equal(
    (await cache.get('ns/frozen', 'pod2', fetch)).v,
    2,
    "a pod's first reference fetches (deleted and made again)",
  );
  const mutable = new TtlCache<{ immutable?: boolean; v: number }>(
    5000,
    () => now,
    (o) => o.immutable === true,
  );
  const fetchMutable = async () => ({ immutable: false, v: ++fetches });
  await mutable.get('ns/cfg', 'pod1', fetchMutable);
  now += 5000;
  t.equal((await mutable.get('ns/cfg', 'pod1', fetchMutable)).v, fetches, 'immutable: false expires as usual');
});

t.test('atomic writer plan: paths, changes, user-visible names', async (t) => {
  for (const bad of ['', '/abs', '../up', 'a/../b', '..hidden', 'a//b', './a'])
    t.ok(invalidPathReason(bad), `${JSON.stringify(bad)} refused`);
  for (const ok of ['a', 'a/b/c', 'a..b', '.dot']) t.equal(invalidPathReason(ok), undefined, `${ok} accepted`);
  t.same([...userVisibleNames(['a/b', 'a/c', 'd'])], ['a', 'd']);
  const payload: Payload = new Map([
    ['conf/app.yaml', { data: b('x'), mode: 0o644 }],
    ['key', { data: b('k'), mode: 0o600 }],
  ]);
  t.same(
    planWrite(payload, { visible: new Set() }),
    { replaceData: true, addVisible: ['conf', 'key'], removeVisible: [] },
    'first write',
  );
  const same = new Map([...payload].map(([k, v]) => [k, { data: Buffer.from(v.data), mode: v.mode }]));
  t.same(
    planWrite(payload, { files: same, visible: new Set(['conf', 'key']) }),
    { replaceData: false, addVisible: [], removeVisible: [] },
    'unchanged: nothing to do',
  );
  const modeChanged = new Map(same);
  modeChanged.set('key', { data: b('k'), mode: 0o644 });
  t.equal(
    planWrite(payload, { files: modeChanged, visible: new Set(['conf', 'key']) }).replaceData,
    true,
    'a mode change rewrites',
  );
  const shrunk: Payload = new Map([['key', { data: b('k2'), mode: 0o600 }]]);
  t.same(
    planWrite(shrunk, { files: same, visible: new Set(['conf', 'key']) }),
    { replaceData: true, addVisible: [], removeVisible: ['conf'] },
    'a removed key disappears',
  );
  t.equal(dataDirName(new Date('2026-11-22T06:05:04Z'), 'abcd'), '..2026_11_22_06_05_04.abcd');
});

t.test('formatMap quotes values', async (t) => {
  t.equal(formatMap({ b: '2', a: 'x\ny' }), 'a="x\\ny"\nb="2"');
  t.equal(formatMap(undefined), '');
});
