// QoS classes, and CPU/memory turned into cgroup values with kubelet's formulas.
import t from 'tap';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { getPodQOS } from '../../agent/podspec/qos.js';
import {
  containerResources,
  milliCPUToQuota,
  milliCPUToShares,
  oomScoreAdj,
  podResourceConfig,
  sharesToWeight,
} from '../../agent/podspec/resources.js';
import { applyPodDefaults } from '../../agent/podspec/defaults.js';
import { podCgroupPath, cgroupMounts } from '../../agent/runtime/cgroups.js';

const c = (name: string, requests?: Record<string, string>, limits?: Record<string, string>): V1Container => ({
  name,
  image: 'i',
  resources: { requests, limits },
});
const pod = (containers: V1Container[], initContainers?: V1Container[]): V1Pod => ({
  metadata: { uid: 'u' },
  spec: { containers, initContainers },
});

t.test('QoS class', async (t) => {
  t.equal(getPodQOS(pod([c('a')])), 'BestEffort');
  t.equal(
    getPodQOS(pod([c('a', undefined, { cpu: '1', memory: '1Gi' })])),
    'Guaranteed',
    'limits only: requests default to them',
  );
  t.equal(
    getPodQOS(pod([c('a', { cpu: '1', memory: '1Gi' }, { cpu: '1000m', memory: '1Gi' })])),
    'Guaranteed',
    'equal values in other units',
  );
  t.equal(getPodQOS(pod([c('a', { cpu: '500m' }, { cpu: '1', memory: '1Gi' })])), 'Burstable', 'request below limit');
  t.equal(getPodQOS(pod([c('a', undefined, { cpu: '1' })])), 'Burstable', 'no memory limit');
  t.equal(
    getPodQOS(pod([c('a', undefined, { cpu: '1', memory: '1Gi' }), c('b')])),
    'Burstable',
    'one container without limits',
  );
  t.equal(getPodQOS(pod([c('a', { cpu: '0' })])), 'BestEffort', 'zero requests do not count');
  t.equal(
    getPodQOS(pod([c('a', undefined, { cpu: '1', memory: '1Gi' })], [c('init', { memory: '10Mi' })])),
    'Burstable',
    'init containers count',
  );
});

t.test('shares and quota follow kubelet', async (t) => {
  t.equal(milliCPUToShares(0), 2, 'no request: the minimum, not 1024');
  t.equal(milliCPUToShares(1), 2, 'never below 2');
  t.equal(milliCPUToShares(100), 102);
  t.equal(milliCPUToShares(250), 256);
  t.equal(milliCPUToShares(1000), 1024);
  t.equal(milliCPUToShares(1_000_000), 262144, 'capped');
  t.equal(milliCPUToQuota(0), 0, 'no limit');
  t.equal(milliCPUToQuota(200), 20000, '200m is 20 ms per 100 ms');
  t.equal(milliCPUToQuota(1500), 150000);
  t.equal(milliCPUToQuota(1), 1000, 'never below the kernel minimum of 1 ms');
  t.equal(sharesToWeight(2), 1);
  t.equal(sharesToWeight(1024), 39);
  t.equal(sharesToWeight(262144), 10000);
});

t.test('container settings', async (t) => {
  t.same(containerResources(c('a', { cpu: '250m' }, { cpu: '500m', memory: '64Mi' })), {
    cpuShares: 256,
    cpuQuotaUs: 50000,
    cpuPeriodUs: 100000,
    memoryLimitBytes: 64 * 2 ** 20,
  });
  t.same(
    containerResources(c('a', undefined, { cpu: '200m' })),
    { cpuShares: 204, cpuQuotaUs: 20000, cpuPeriodUs: 100000, memoryLimitBytes: 0 },
    'request defaults to the limit',
  );
  t.same(containerResources(c('a')), { cpuShares: 2, cpuQuotaUs: 0, cpuPeriodUs: 100000, memoryLimitBytes: 0 });
});

t.test('pod-level cgroup: summed limits, the largest init container counts', async (t) => {
  const g = pod([
    c('a', undefined, { cpu: '200m', memory: '64Mi' }),
    c('b', undefined, { cpu: '300m', memory: '32Mi' }),
  ]);
  t.same(podResourceConfig(g, 'Guaranteed'), {
    cpuShares: 512,
    cpuQuotaUs: 50000,
    cpuPeriodUs: 100000,
    memoryLimitBytes: 96 * 2 ** 20,
  });
  const b = pod([c('a', { cpu: '100m' }, { cpu: '200m' }), c('b', { cpu: '100m' })]);
  t.same(
    podResourceConfig(b, 'Burstable'),
    { cpuShares: 204, cpuQuotaUs: undefined, cpuPeriodUs: 100000, memoryLimitBytes: undefined },
    'b has no limits: the pod has none',
  );
  const i = pod(
    [c('a', undefined, { cpu: '100m', memory: '10Mi' })],
    [c('init', undefined, { cpu: '1', memory: '100Mi' })],
  );
  t.same(podResourceConfig(i, 'Guaranteed'), {
    cpuShares: 1024,
    cpuQuotaUs: 100000,
    cpuPeriodUs: 100000,
    memoryLimitBytes: 100 * 2 ** 20,
  });
  t.same(podResourceConfig(pod([c('a')]), 'BestEffort'), { cpuShares: 2, cpuPeriodUs: 100000 });
});

t.test('oom_score_adj by QoS', async (t) => {
  t.equal(oomScoreAdj('Guaranteed', c('a'), 1e9), -997);
  t.equal(oomScoreAdj('BestEffort', c('a'), 1e9), 1000);
  t.equal(oomScoreAdj('Burstable', c('a', { memory: '500M' }), 1e9), 500);
  t.equal(oomScoreAdj('Burstable', c('a', { memory: '2G' }), 1e9), 3, 'kept above Guaranteed');
  t.equal(oomScoreAdj('Burstable', c('a', {}), 1e9), 999, 'kept below BestEffort');
  t.equal(oomScoreAdj('Guaranteed', undefined, 1e9), -998, 'the sandbox');
});

t.test('pod cgroup paths', async (t) => {
  t.equal(podCgroupPath('/', 'u1', 'Guaranteed'), '/kubepods/podu1');
  t.equal(podCgroupPath('/kubenode-x', 'u1', 'Burstable'), '/kubenode-x/kubepods/burstable/podu1');
  t.equal(podCgroupPath('/kubenode-x', 'u1', 'BestEffort'), '/kubenode-x/kubepods/besteffort/podu1');
});

t.test('cgroup version from mountinfo', async (t) => {
  const v1 = [
    '30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755',
    '31 30 0:27 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw',
    '33 30 0:29 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct',
    '34 30 0:30 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory',
  ].join('\n');
  const m1 = cgroupMounts(v1);
  t.equal(m1.version, 1, 'hybrid: the v1 controllers are used');
  t.equal(m1.controllers.get('cpuacct'), '/sys/fs/cgroup/cpu,cpuacct');
  const m2 = cgroupMounts('30 25 0:26 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw,nsdelegate');
  t.equal(m2.version, 2);
  t.equal(m2.unified, '/sys/fs/cgroup');
});

t.test('API defaults', async (t) => {
  const p = applyPodDefaults({
    metadata: { name: 'x' },
    spec: {
      containers: [
        { name: 'a', image: 'busybox', resources: { limits: { cpu: '1' } }, ports: [{ containerPort: 80 }] },
        { name: 'b', image: 'busybox:1.36' },
      ],
      volumes: [{ name: 'v' }],
    },
  });
  t.equal(p.metadata!.namespace, 'default');
  t.equal(p.spec!.restartPolicy, 'Always');
  t.equal(p.spec!.terminationGracePeriodSeconds, 30);
  t.equal(p.spec!.containers[0]!.imagePullPolicy, 'Always', 'untagged: Always');
  t.equal(p.spec!.containers[1]!.imagePullPolicy, 'IfNotPresent', 'tagged: IfNotPresent');
  t.same(p.spec!.containers[0]!.resources!.requests, { cpu: '1' });
  t.equal(p.spec!.containers[0]!.ports![0]!.protocol, 'TCP');
  t.same(p.spec!.volumes![0]!.emptyDir, {}, 'a volume with no source is an emptyDir');
});
