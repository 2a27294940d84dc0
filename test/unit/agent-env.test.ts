// Container environment details found by upstream's conformance suite: resourceFieldRef divisors
// (a zero divisor is 1), relaxed variable names, service environment variables, subPathExpr.
import t from 'tap';
import type { V1Container, V1Pod, V1Service } from '@kubernetes/client-node';
import { expandWith, isEnvVarName, resolveContainerEnv, resourceValue } from '../../agent/podspec/env.js';
import { volumeSubPath } from '../../agent/pods/subpath.js';
import { podServiceEnv, serviceEnvVarMap } from '../../agent/pods/service-env.js';
import { validatePod } from '../../agent/podspec/validation.js';
import { projectDownwardAPI } from '../../agent/volumes/payload.js';

const node = { nodeCpuMilli: 2000, nodeMemoryBytes: 2 ** 33 };

t.test('resourceFieldRef: a zero or unset divisor is 1; CPU rounds up to cores, memory in bytes', async (t) => {
  const c: V1Container = {
    name: 'c',
    image: 'i',
    resources: { requests: { cpu: '250m', memory: '32Mi' }, limits: { cpu: '1250m', memory: '64Mi' } },
  };
  t.equal(resourceValue(c, 'limits.cpu', '0', node), '2', 'divisor "0" (the API default): 1250m rounds up to 2 cores');
  t.equal(resourceValue(c, 'limits.cpu', 0, node), '2', 'a numeric zero too');
  t.equal(resourceValue(c, 'requests.cpu', undefined, node), '1', 'unset divisor: 250m rounds up to 1');
  t.equal(resourceValue(c, 'limits.memory', '0', node), String(64 * 2 ** 20), 'memory in bytes');
  t.equal(resourceValue(c, 'requests.memory', '1Mi', node), '32');
  t.equal(resourceValue(c, 'limits.cpu', '1m', node), '1250');
  t.equal(resourceValue(c, 'limits.memory', '1k', node), String(Math.ceil((64 * 2 ** 20) / 1000)), 'rounded up');
  const bare: V1Container = { name: 'b', image: 'i' };
  t.equal(resourceValue(bare, 'limits.cpu', '0', node), '2', 'no limit: node allocatable CPU (2000m = 2)');
  t.equal(resourceValue(bare, 'limits.memory', '0', node), String(2 ** 33), 'no limit: node allocatable memory');
  t.equal(resourceValue(bare, 'requests.cpu', '0', node), '0', 'no request: 0');

  const pod: V1Pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: {
      containers: [
        {
          ...c,
          env: [
            { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '0' } } },
            { name: 'MEMORY_REQUEST', valueFrom: { resourceFieldRef: { resource: 'requests.memory', divisor: '0' } } },
          ],
        },
      ],
    },
  };
  const env = resolveContainerEnv(
    pod.spec!.containers[0]!,
    { pod, podIPs: [], hostIPs: [], ...node },
    'spec.containers[0]',
  ).env;
  t.same(
    env.filter((e) => e.name.includes('_')),
    [
      { name: 'CPU_LIMIT', value: '2' },
      { name: 'MEMORY_REQUEST', value: String(32 * 2 ** 20) },
    ],
    'env',
  );
  const files = projectDownwardAPI(
    [{ path: 'cpu_limit', resourceFieldRef: { containerName: 'c', resource: 'limits.cpu', divisor: '0' } }],
    0o644,
    { pod, ...node },
  );
  t.equal(files.get('cpu_limit')!.data.toString(), '2', 'downwardAPI volume items');
});

t.test("variable names: 1.34's relaxed rule (printable ASCII but '='), for envFrom keys and env names", async (t) => {
  // The names of the conformance specs "ConfigMap/Secrets should be consumable as environment
  // variable names with various prefixes" (prefixes 1-, $_-, ABC_, #@! before data-1).
  for (const name of ['1-data-1', '$_-data-1', '#@!data-1', 'data 1', 'a.b-c', '~'])
    t.ok(isEnvVarName(name), `${JSON.stringify(name)} is valid`);
  for (const name of ['', 'a=b', 'caf\u00e9', 'tab\t', '\u007f'])
    t.notOk(isEnvVarName(name), `${JSON.stringify(name)} is not`);
  const pod: V1Pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u' },
    spec: { containers: [{ name: 'c', image: 'i', envFrom: [{ configMapRef: { name: 'cm' }, prefix: 'p_' }] }] },
  };
  const r = resolveContainerEnv(
    pod.spec!.containers[0]!,
    { pod, podIPs: [], hostIPs: [], ...node },
    'spec.containers[0]',
    {
      configMaps: new Map([['cm', { data: { '1-data-1': 'a', '$_-data-1': 'b', '#@!data-1': 'c' } }]]),
      secrets: new Map(),
    },
  );
  t.same(
    r.env.map((e) => e.name),
    ['p_#@!data-1', 'p_$_-data-1', 'p_1-data-1'],
    'none skipped',
  );
  t.same(r.skipped, []);
  const v = (env: unknown, envFrom?: unknown) =>
    validatePod({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: 'p' },
      spec: { containers: [{ name: 'a', image: 'x', env, envFrom }] },
    });
  t.same(v([{ name: '1-data-1', value: 'x' }]), [], 'a static pod may use such a name');
  t.match(v([{ name: 'a=b', value: 'x' }]), [
    { field: 'spec.containers[0].env[0].name', reason: /printable ASCII characters other than '='/ },
  ]);
  t.match(v(undefined, [{ prefix: 'x=', configMapRef: { name: 'cm' } }]), [
    { field: 'spec.containers[0].envFrom[0].prefix' },
  ]);
});

t.test(
  'subPathExpr: $(VAR) from the container env; missing values, absolute paths and .. fail the container',
  async (t) => {
    const env = [
      { name: 'POD_NAME', value: 'web-1' },
      { name: 'ANNOTATION', value: 'mypath' },
      { name: 'EMPTY', value: '' },
      { name: 'UP', value: '..' },
      { name: 'ABS', value: '/tmp' },
    ];
    const f = 'spec.containers[0].volumeMounts[0]';
    t.equal(
      volumeSubPath({ name: 'v', mountPath: '/m', subPathExpr: '$(ANNOTATION)/$(POD_NAME)' }, env, f),
      'mypath/web-1',
    );
    t.equal(
      volumeSubPath({ name: 'v', mountPath: '/m', subPathExpr: 'logs/$$(POD_NAME)' }, env, f),
      'logs/$(POD_NAME)',
      '$$ escapes',
    );
    t.equal(
      volumeSubPath({ name: 'v', mountPath: '/m', subPathExpr: '$POD_NAME' }, env, f),
      '$POD_NAME',
      'only the $(VAR) syntax expands',
    );
    t.equal(
      volumeSubPath({ name: 'v', mountPath: '/m', subPath: 'plain/$(POD_NAME)' }, env, f),
      'plain/$(POD_NAME)',
      'subPath is never expanded',
    );
    t.equal(volumeSubPath({ name: 'v', mountPath: '/m' }, env, f), '');
    t.throws(
      () => volumeSubPath({ name: 'v', mountPath: '/m', subPathExpr: '$(NOPE)/$(EMPTY)/$(POD_NAME)' }, env, f),
      { name: 'ContainerConfigError', message: 'missing value for EMPTY, NOPE', bare: true, field: `${f}.subPathExpr` },
      "kubelet's message: unset and empty variables, sorted",
    );
    t.throws(
      () => volumeSubPath({ name: 'v', mountPath: '/m', subPathExpr: '$(ABS)' }, env, f),
      { message: 'error SubPath `/tmp` must not be an absolute path' },
      'conformance: absolute path',
    );
    t.throws(
      () => volumeSubPath({ name: 'v', mountPath: '/m', subPathExpr: '$(UP)' }, env, f),
      { message: "unable to provision SubPath `..`: must not contain '..'" },
      'conformance: backticks (a value of ..)',
    );
    t.throws(() => volumeSubPath({ name: 'v', mountPath: '/m', subPathExpr: 'a/$(UP)/b' }, env, f), {
      message: /must not contain '\.\.'/,
    });
    t.equal(
      volumeSubPath({ name: 'v', mountPath: '/m', subPathExpr: 'a..b/$(POD_NAME)' }, env, f),
      'a..b/web-1',
      "'..' only as a whole step",
    );
    t.equal(
      expandWith('$(A $$ x', () => 'v'),
      '$(A $ x',
      'an incomplete reference is kept and the rest still parsed',
    );

    const v = (mount: Record<string, unknown>) =>
      validatePod({
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'p' },
        spec: {
          volumes: [{ name: 'v', emptyDir: {} }],
          containers: [{ name: 'a', image: 'x', volumeMounts: [{ name: 'v', mountPath: '/m', ...mount }] }],
        },
      });
    t.same(v({ subPathExpr: '$(POD_NAME)' }), []);
    t.match(v({ subPathExpr: '/$(POD_NAME)' }), [{ field: 'spec.containers[0].volumeMounts[0].subPathExpr' }]);
    t.match(v({ subPathExpr: '$(A)', subPath: 'x' }), [
      { field: 'spec.containers[0].volumeMounts[0].subPathExpr', reason: /mutually exclusive/ },
    ]);
  },
);

t.test("service environment variables: kubelet's getServiceEnvVarMap and envvars.FromServices", async (t) => {
  const svc = (
    namespace: string,
    name: string,
    clusterIP: string,
    ports: { port: number; name?: string; protocol?: string }[],
  ): V1Service => ({ metadata: { namespace, name }, spec: { clusterIP, ports } });
  const services = [
    svc('default', 'kubernetes', '10.96.0.1', [{ name: 'https', port: 443, protocol: 'TCP' }]),
    svc('shop', 'redis-primary', '10.96.0.20', [{ port: 6379 }]),
    svc('shop', 'web', '10.96.0.30', [
      { name: 'http', port: 80 },
      { name: 'dns-udp', port: 53, protocol: 'UDP' },
    ]),
    svc('shop', 'headless', 'None', [{ port: 80 }]),
    svc('other', 'elsewhere', '10.96.0.40', [{ port: 80 }]),
    svc('shop', 'v6', 'fd00::10', [{ port: 8080 }]),
  ];
  const m = serviceEnvVarMap(services, 'shop', true);
  t.same(
    Object.fromEntries([...m].filter(([k]) => k.startsWith('KUBERNETES'))),
    {
      KUBERNETES_SERVICE_HOST: '10.96.0.1',
      KUBERNETES_SERVICE_PORT: '443',
      KUBERNETES_SERVICE_PORT_HTTPS: '443',
      KUBERNETES_PORT: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP: 'tcp://10.96.0.1:443',
      KUBERNETES_PORT_443_TCP_PROTO: 'tcp',
      KUBERNETES_PORT_443_TCP_PORT: '443',
      KUBERNETES_PORT_443_TCP_ADDR: '10.96.0.1',
    },
    'the master service of default, with its named port and docker-link variables',
  );
  t.equal(m.get('REDIS_PRIMARY_SERVICE_HOST'), '10.96.0.20', "names upper-cased, '-' as '_'");
  t.equal(m.get('REDIS_PRIMARY_PORT'), 'tcp://10.96.0.20:6379', 'protocol defaults to TCP');
  t.equal(m.get('WEB_SERVICE_PORT'), '80', 'the first port');
  t.equal(m.get('WEB_SERVICE_PORT_DNS_UDP'), '53', 'every named port');
  t.equal(m.get('WEB_PORT_53_UDP'), 'udp://10.96.0.30:53');
  t.equal(m.get('WEB_PORT_53_UDP_PROTO'), 'udp');
  t.equal(m.get('V6_PORT_8080_TCP'), 'tcp://[fd00::10]:8080', 'IPv6 in brackets');
  t.notOk(
    [...m.keys()].some((k) => k.startsWith('HEADLESS') || k.startsWith('ELSEWHERE')),
    'headless Services and other namespaces: nothing',
  );
  t.same(
    [...serviceEnvVarMap(services, 'shop', false).keys()].filter((k) => !k.startsWith('KUBERNETES')),
    [],
    'enableServiceLinks false: only the master service',
  );
  const shadow = serviceEnvVarMap([svc('shop', 'kubernetes', '10.96.0.99', [{ port: 80 }]), ...services], 'shop', true);
  t.equal(
    shadow.get('KUBERNETES_SERVICE_HOST'),
    '10.96.0.99',
    "a Service named kubernetes in the pod's namespace wins, as in kubelet",
  );

  const pod: V1Pod = {
    metadata: { name: 'p', namespace: 'shop', uid: 'u' },
    spec: {
      containers: [
        {
          name: 'c',
          image: 'i',
          env: [
            { name: 'URL', value: 'http://$(WEB_SERVICE_HOST):$(WEB_SERVICE_PORT)/' },
            { name: 'KUBERNETES_SERVICE_HOST', value: 'mine' },
          ],
        },
      ],
    },
  };
  const env = new Map(
    resolveContainerEnv(
      pod.spec!.containers[0]!,
      { pod, podIPs: [], hostIPs: [], ...node, serviceEnv: m },
      'spec.containers[0]',
    ).env.map((e) => [e.name, e.value]),
  );
  t.equal(env.get('URL'), 'http://10.96.0.30:80/', '$(VAR) may refer to service variables');
  t.equal(env.get('KUBERNETES_SERVICE_HOST'), 'mine', "the container's own definition wins");
  t.equal(env.get('KUBERNETES_SERVICE_PORT'), '443', 'the rest are added');

  const lister = (synced: boolean) => ({ hasSynced: () => synced, list: () => services });
  const apiPod: V1Pod = {
    ...pod,
    metadata: { ...pod.metadata, annotations: { 'kubernetes.io/config.source': 'api' } },
  };
  const staticPod: V1Pod = {
    ...pod,
    metadata: { ...pod.metadata, annotations: { 'kubernetes.io/config.source': 'file' } },
  };
  t.same(podServiceEnv(undefined, apiPod), new Map(), 'no apiserver: none');
  t.throws(
    () => podServiceEnv(lister(false), apiPod),
    {
      name: 'ContainerConfigError',
      message: 'services have not yet been read at least once, cannot construct envvars',
      retryAfterMs: 1000,
    },
    'an apiserver pod waits for the first list',
  );
  t.equal(
    podServiceEnv(lister(false), staticPod).get('KUBERNETES_SERVICE_HOST'),
    '10.96.0.1',
    'a static pod does not wait',
  );
  t.equal(
    podServiceEnv(lister(true), { ...apiPod, spec: { ...apiPod.spec!, enableServiceLinks: false } }).get(
      'WEB_SERVICE_HOST',
    ),
    undefined,
  );
});
