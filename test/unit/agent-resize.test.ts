// In-place resize planning (runtime/resize-plan.ts), fit (allocation/fit.ts) and the allocation manager's
// decisions and checkpoint (allocation/manager.ts): what changes, in which order, and what the
// pod's resize conditions say.
import t from 'tap';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import {
  memoryDecreaseError,
  planPodResize,
  resizeInProgress,
  statusResources,
  type ResizeStep,
} from '../../agent/runtime/resize-plan.js';
import { podRequests, resizeFits } from '../../agent/allocation/fit.js';
import { AllocationManager } from '../../agent/allocation/manager.js';
import { computePodActions } from '../../agent/pods/actions.js';
import { containerHash } from '../../agent/pods/container-hash.js';
import { hashObject } from '../../agent/podspec/hash.js';
import type { PodRuntimeStatus, RuntimeContainer } from '../../agent/runtime/types.js';

const Mi = 2 ** 20;
const ctr = (
  name: string,
  requests: Record<string, string>,
  limits: Record<string, string>,
  memoryPolicy?: 'RestartContainer',
): V1Container => ({
  name,
  image: 'i',
  resources: { requests, limits },
  ...(memoryPolicy ? { resizePolicy: [{ resourceName: 'memory', restartPolicy: memoryPolicy }] } : {}),
});
const pod = (containers: V1Container[], extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({
  metadata: {
    uid: 'u1',
    name: 'p',
    namespace: 'ns',
    generation: 1,
    annotations: { 'kubernetes.io/config.source': 'api' },
    ...extra,
  },
  spec: { containers },
});
/** A running instance with the cgroup values of `c` as first created (quota, shares, bytes). */
const running = (
  name: string,
  cpuShares: number,
  cpuQuotaUs: number,
  memoryLimitBytes: number,
  memoryRequest = '32Mi',
): RuntimeContainer => ({
  id: `id-${name}`,
  name,
  podUid: 'u1',
  attempt: 0,
  hash: '',
  isInit: false,
  image: 'i',
  imageId: '',
  state: 'running',
  createdAt: new Date(0),
  labels: {},
  resources: {
    cpuShares,
    cpuQuotaUs,
    cpuPeriodUs: 100_000,
    memoryLimitBytes,
    memoryRequest,
    memoryRequestBytes: Number(memoryRequest.replace('Mi', '')) * Mi,
  },
});
const rt = (...containers: RuntimeContainer[]): PodRuntimeStatus => ({
  uid: 'u1',
  name: 'p',
  namespace: 'ns',
  sandboxes: [
    { id: 's', podUid: 'u1', attempt: 0, state: 'ready', createdAt: new Date(0), hostNetwork: false, labels: {} },
  ],
  containers,
});
const isStaticPod = (p: V1Pod) => p.metadata?.annotations?.['kubernetes.io/config.source'] !== 'api';
const describe = (steps: ResizeStep[]) =>
  steps.map((s) => (s.kind === 'pod' ? `pod ${JSON.stringify(s.set)}` : `${s.name} ${JSON.stringify(s.update)}`));

t.test('growing: the pod cgroup first, limits before requests; nothing else touched', async (t) => {
  const p = pod([
    ctr('a', { cpu: '200m', memory: '48Mi' }, { cpu: '400m', memory: '96Mi' }),
    ctr('b', { cpu: '50m', memory: '16Mi' }, { cpu: '100m', memory: '32Mi' }),
  ]);
  const now = rt(running('a', 102, 20_000, 64 * Mi), running('b', 51, 10_000, 32 * Mi, '16Mi'));
  const plan = planPodResize(p, 'Burstable', now, {
    cpuShares: 153,
    cpuQuotaUs: 30_000,
    cpuPeriodUs: 100_000,
    memoryLimitBytes: 96 * Mi,
  });
  t.same(describe(plan.steps), [
    `pod {"memoryLimitBytes":${128 * Mi}}`,
    `a {"memoryLimitBytes":${96 * Mi}}`,
    'pod {"cpuQuotaUs":50000,"cpuPeriodUs":100000}',
    'pod {"cpuShares":256}',
    'a {"cpuShares":204,"cpuQuotaUs":40000,"cpuPeriodUs":100000}',
  ]);
  t.equal(plan.restart.size, 0, 'nothing restarted (NotRequired is the default)');
  t.equal(plan.memoryDecreases.pod, undefined, 'no limit goes down');
  t.ok(resizeInProgress(p, now), 'in progress until the containers run at the allocation');
  t.notOk(
    resizeInProgress(p, rt(running('a', 204, 40_000, 96 * Mi), running('b', 51, 10_000, 32 * Mi, '16Mi'))),
    'done once they do',
  );
});

t.test(
  'shrinking: containers first, then the pod cgroup, requests before limits; decreases before increases',
  async (t) => {
    const p = pod([
      ctr('a', { cpu: '100m', memory: '24Mi' }, { cpu: '150m', memory: '40Mi' }),
      ctr('b', { cpu: '100m', memory: '16Mi' }, { cpu: '200m', memory: '64Mi' }),
    ]);
    const now = rt(running('a', 204, 40_000, 96 * Mi), running('b', 51, 10_000, 32 * Mi, '16Mi'));
    const plan = planPodResize(p, 'Burstable', now, {
      cpuShares: 255,
      cpuQuotaUs: 50_000,
      cpuPeriodUs: 100_000,
      memoryLimitBytes: 128 * Mi,
    });
    t.same(
      describe(plan.steps),
      [
        `a {"memoryLimitBytes":${40 * Mi}}`,
        `b {"memoryLimitBytes":${64 * Mi}}`,
        `pod {"memoryLimitBytes":${104 * Mi}}`,
        'a {"cpuShares":102,"cpuQuotaUs":15000,"cpuPeriodUs":100000}',
        'b {"cpuShares":102,"cpuQuotaUs":20000,"cpuPeriodUs":100000}',
        'pod {"cpuShares":204}',
        'pod {"cpuQuotaUs":35000,"cpuPeriodUs":100000}',
      ],
      'a (down) before b (up) for each resource',
    );
    t.same(
      [plan.memoryDecreases.pod, [...plan.memoryDecreases.containers]],
      [104 * Mi, [['a', 40 * Mi]]],
      'the lowered memory limits, for the usage check',
    );
  },
);

t.test('resizePolicy RestartContainer: the container is restarted, not updated', async (t) => {
  const p = pod([ctr('m', { cpu: '50m', memory: '24Mi' }, { cpu: '100m', memory: '48Mi' }, 'RestartContainer')]);
  const now = rt(running('m', 51, 10_000, 32 * Mi, '16Mi'));
  const plan = planPodResize(p, 'Burstable', now, {
    cpuShares: 51,
    cpuQuotaUs: 10_000,
    cpuPeriodUs: 100_000,
    memoryLimitBytes: 32 * Mi,
  });
  t.same([...plan.restart], ['m']);
  t.same(
    describe(plan.steps),
    [`pod {"memoryLimitBytes":${48 * Mi}}`],
    'the pod cgroup is still resized (before the new container starts)',
  );
  const actions = computePodActions(
    { ...p, spec: { ...p.spec!, containers: p.spec!.containers } },
    rt({ ...now.containers[0]!, hash: containerHash(p.spec!.containers[0]!) }),
    new Map(),
    plan.restart,
  );
  t.same(
    actions.containersToKill.map((k) => k.message),
    ['Container m resize requires restart'],
    "kubelet's message",
  );
  t.same(actions.containersToStart, [0], 'and started again');
  const requestOnly = planPodResize(
    pod([ctr('m', { cpu: '50m', memory: '24Mi' }, { cpu: '100m', memory: '32Mi' }, 'RestartContainer')]),
    'Burstable',
    now,
    { cpuShares: 51, cpuQuotaUs: 10_000, cpuPeriodUs: 100_000, memoryLimitBytes: 32 * Mi },
  );
  t.same(
    [...requestOnly.restart],
    ['m'],
    'a memory request change restarts it too (the label keeps the request it runs with)',
  );
  const notRequired = pod([ctr('n', { cpu: '50m', memory: '24Mi' }, { cpu: '100m', memory: '32Mi' })]);
  t.notOk(
    resizeInProgress(notRequired, rt(running('n', 51, 10_000, 32 * Mi, '16Mi'))),
    'with NotRequired a request-only memory change has nothing to write',
  );
  t.equal(
    containerHash(p.spec!.containers[0]!),
    containerHash(ctr('m', { cpu: '1' }, { cpu: '2' })),
    'resources are not part of the container hash',
  );
  const legacy = rt({ ...now.containers[0]!, hash: hashObject(p.spec!.containers[0]!) });
  t.same(
    computePodActions(p, legacy).containersToKill,
    [],
    'a container made by an agent from before (a hash of the whole spec) is adopted, not replaced',
  );
  const sidecarPod: V1Pod = {
    ...p,
    spec: {
      initContainers: [{ ...p.spec!.containers[0]!, restartPolicy: 'Always' }],
      containers: [ctr('app', {}, {})],
    },
  };
  const sc = computePodActions(
    sidecarPod,
    rt(
      { ...now.containers[0]!, hash: containerHash(sidecarPod.spec!.initContainers![0]!) },
      { ...running('app', 2, 0, 0), hash: containerHash(ctr('app', {}, {})) },
    ),
    new Map(),
    new Set(['m']),
  );
  t.same(
    [sc.containersToKill.map((k) => k.message), sc.initContainersToStart],
    [['Container m resize requires restart'], [0]],
    'a sidecar is restarted for a resize too',
  );
});

t.test('memory limits are not lowered below usage (1.34 messages)', async (t) => {
  const d = { pod: 100, containers: new Map([['a', 50]]) };
  t.equal(memoryDecreaseError(d, { pod: 80, containers: new Map([['a', 40]]) }), undefined);
  t.equal(
    memoryDecreaseError(d, { pod: 120, containers: new Map([['a', 40]]) }),
    'cannot decrease memory limits: attempting to set pod memory limit (100) below current usage (120)',
  );
  t.equal(
    memoryDecreaseError(d, { pod: 120, containers: new Map([['a', 60]]) }),
    'cannot decrease memory limits: [attempting to set pod memory limit (100) below current usage (120), attempting to set container "a" memory limit (50) below current usage (120)]',
  );
});

t.test('status resources: the allocation, with CPU and memory as the runtime has them', async (t) => {
  const c = ctr('a', { cpu: '200m', memory: '48Mi' }, { cpu: '400m', memory: '96Mi' });
  t.same(
    statusResources(c, running('a', 102, 20_000, 64 * Mi)),
    { requests: { cpu: '100m', memory: '48Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
    'while in progress: what runs',
  );
  t.same(
    statusResources(ctr('x', { cpu: '1m' }, { cpu: '1m' }), running('x', 2, 1000, 0)),
    { requests: { cpu: '1m' }, limits: { cpu: '1m' } },
    'values at the kernel minimum stay as allocated',
  );
  t.same(
    statusResources(c, { ...running('a', 102, 20_000, 64 * Mi), state: 'exited' }),
    c.resources,
    'not running: the allocation',
  );
});

t.test('fit: Infeasible beyond the node, Deferred beside the other pods', async (t) => {
  const cap = { cpuMilli: 2000, memoryBytes: 1024 * Mi };
  const big = pod([ctr('a', { cpu: '1500m', memory: '64Mi' }, { cpu: '2', memory: '64Mi' })]);
  t.same(
    podRequests({
      ...big,
      spec: {
        ...big.spec!,
        initContainers: [
          ctr('s', { cpu: '100m', memory: '1Mi' }, {}),
          { ...ctr('sc', { cpu: '200m', memory: '1Mi' }, {}), restartPolicy: 'Always' },
        ],
      },
    }),
    { cpuMilli: 1700, memoryBytes: 65 * Mi },
    'sidecars add up; a regular init container counts only if bigger',
  );
  t.same(resizeFits(pod([ctr('a', { cpu: '3' }, { cpu: '3' })]), [], cap), {
    fits: false,
    reason: 'Infeasible',
    message: "Node didn't have enough capacity: cpu, requested: 3000, capacity: 2000",
  });
  t.same(resizeFits(big, [pod([ctr('o', { cpu: '600m' }, {})])], cap), {
    fits: false,
    reason: 'Deferred',
    message: "Node didn't have enough resource: cpu, requested: 1500, used: 600, capacity: 2000",
  });
  t.same(resizeFits(big, [pod([ctr('o', { cpu: '500m' }, {})])], cap), { fits: true });
});

t.test('allocation manager: decisions, conditions and the checkpoint across a restart', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubenode-alloc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'allocated_pods_state');
  const logger = createLogger('test', { level: 'error' });
  const changed: V1Pod[] = [];
  const open = () =>
    new AllocationManager({
      file,
      capacity: { cpuMilli: 2000, memoryBytes: 1024 * Mi },
      logger,
      onChange: (p) => changed.push(p),
      now: () => new Date(1000),
      isStaticPod,
    });
  const m = open();
  const v1 = pod([ctr('a', { cpu: '100m' }, { cpu: '200m' })]);
  t.equal(m.podToRun(v1), v1, 'a new pod runs as it asks');
  const tooBig = pod([ctr('a', { cpu: '3' }, { cpu: '3' })], { generation: 2 });
  const run2 = m.podToRun(tooBig);
  t.equal(
    run2.spec!.containers[0]!.resources!.limits!.cpu,
    '200m',
    'an Infeasible resize: the pod keeps running as allocated',
  );
  t.same(
    m.conditions('u1').map((c) => [c.type, c.reason, c.observedGeneration]),
    [['PodResizePending', 'Infeasible', 2]],
  );
  const ok = pod([ctr('a', { cpu: '300m' }, { cpu: '600m' })], { generation: 3 });
  t.equal(
    m.podToRun(ok).spec!.containers[0]!.resources!.limits!.cpu,
    '600m',
    'a resize that fits is allocated at once',
  );
  t.same(
    m.conditions('u1').map((c) => [c.type, c.reason, c.observedGeneration]),
    [['PodResizeInProgress', undefined, 3]],
    'pending cleared, in progress for generation 3',
  );
  m.observeActuation(m.podToRun(ok), false);
  t.same(m.conditions('u1'), [], 'cleared once the containers run at the allocation');
  m.stop();
  // A restarted agent sees a resize it had not allocated: it runs the pod as allocated before.
  const again = open();
  const later = pod([ctr('a', { cpu: '5' }, { cpu: '5' })], { generation: 4 });
  t.equal(
    again.podToRun(later).spec!.containers[0]!.resources!.limits!.cpu,
    '600m',
    'after a restart: the checkpointed allocation, not the desired one',
  );
  t.equal(again.conditions('u1')[0]?.reason, 'Infeasible', 'and the resize is pending again');
  const staticPod = pod([ctr('a', { cpu: '100m' }, { cpu: '100m' })], {
    uid: 'u2',
    annotations: { 'kubernetes.io/config.source': 'file' },
  });
  again.podToRun(staticPod);
  again.podToRun({ ...staticPod, spec: { containers: [ctr('a', { cpu: '200m' }, { cpu: '200m' })] } });
  t.equal(again.conditions('u2')[0]?.message, 'In-place resize of static-pods is not supported');
  again.stop();
  await writeFile(file, '{"data":"{}","checksum":"x"}');
  t.throws(
    () => open(),
    /could not restore state from checkpoint: checksum mismatch, please drain this node and delete/,
    'a corrupt checkpoint is refused, naming the file',
  );
});

t.test('allocation manager: a Deferred resize is allocated once another pod leaves', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'kubenode-alloc-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const changed: V1Pod[] = [];
  const m = new AllocationManager({
    file: join(dir, 'state'),
    capacity: { cpuMilli: 2000, memoryBytes: 1024 * Mi },
    logger: createLogger('test', { level: 'error' }),
    onChange: (p) => changed.push(p),
    isStaticPod,
  });
  t.teardown(() => m.stop());
  m.podToRun(pod([ctr('big', { cpu: '1500m' }, {})], { uid: 'other' }));
  m.podToRun(pod([ctr('a', { cpu: '100m' }, {})]));
  m.podToRun(pod([ctr('a', { cpu: '1' }, {})], { generation: 2 }));
  t.same(
    m.conditions('u1').map((c) => [c.reason, c.message]),
    [['Deferred', "Node didn't have enough resource: cpu, requested: 1000, used: 1500, capacity: 2000"]],
    'Deferred beside the other pod',
  );
  t.same(changed, [], 'nothing to run yet');
  m.remove('other');
  t.equal(changed.length, 1, 'the pod runs again once the other left');
  t.equal(changed[0]!.spec!.containers[0]!.resources!.requests!.cpu, '1', 'with the resize allocated');
  t.same(
    m.conditions('u1').map((c) => c.type),
    ['PodResizeInProgress'],
    'pending cleared, in progress',
  );
});
