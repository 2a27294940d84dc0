// cgroup limits, measured on the kernel's own files: a pod-level cgroup under kubepods/<qos> with
// the summed limits, CFS quota from limits.cpu (200m really is ~0.2 of a core), shares from
// requests.cpu, memory limits, and OOMKilled for a container that allocates past its limit.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createLogger } from '../../lib/log.js';
import { CgroupManager } from '../../agent/runtime/cgroups.js';
import { createWorld, testPod, findPod, allRunning, IMAGES } from '../fixtures/agent/world.js';

const read = async (dir: string, file: string) => (await readFile(join(dir, file), 'utf8')).trim();
const busy = ['sh', '-c', 'while :; do :; done'];

t.test('pod cgroups, CPU quota and shares, memory limits, QoS placement', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  const cg = new CgroupManager({ root: w.cgroupRoot, logger: createLogger('test', { sink: () => {} }) });
  await w.writeManifest('pods.yaml', [
    testPod(w, 'guaranteed', [
      { name: 'spin', image: IMAGES.busybox, command: busy, resources: { limits: { cpu: '200m', memory: '64Mi' } } },
    ]),
    testPod(w, 'burstable', [
      {
        name: 'a',
        image: IMAGES.busybox,
        command: ['sleep', '3600'],
        resources: { requests: { cpu: '100m' }, limits: { cpu: '300m', memory: '32Mi' } },
      },
      {
        name: 'b',
        image: IMAGES.busybox,
        command: ['sleep', '3600'],
        resources: { limits: { cpu: '100m', memory: '16Mi' } },
      },
    ]),
    testPod(w, 'besteffort', [{ name: 'c', image: IMAGES.busybox, command: ['sleep', '3600'] }]),
  ]);
  const pods = await agent.waitFor(
    'three pods running',
    (ps) => {
      const all = ['guaranteed', 'burstable', 'besteffort'].map((n) => findPod(ps, w, n));
      return all.every(allRunning) && all;
    },
    60_000,
  );
  const [g, b, be] = pods.map((p) => p!);
  t.equal(g.status!.qosClass, 'Guaranteed');
  t.equal(b.status!.qosClass, 'Burstable');
  t.equal(be.status!.qosClass, 'BestEffort');

  const gPath = `${w.cgroupRoot}/kubepods/pod${g.metadata!.uid}`;
  const bPath = `${w.cgroupRoot}/kubepods/burstable/pod${b.metadata!.uid}`;
  const bePath = `${w.cgroupRoot}/kubepods/besteffort/pod${be.metadata!.uid}`;
  t.equal(await cg.findPod(g.metadata!.uid!), gPath, 'Guaranteed pods sit directly under kubepods');
  t.equal(await cg.findPod(b.metadata!.uid!), bPath);
  t.equal(await cg.findPod(be.metadata!.uid!), bePath);

  if (cg.version === 1) {
    const cpu = (p: string) => cg.controllerDir('cpu', p);
    const mem = (p: string) => cg.controllerDir('memory', p);
    t.equal(await read(cpu(gPath), 'cpu.cfs_period_us'), '100000');
    t.equal(await read(cpu(gPath), 'cpu.cfs_quota_us'), '20000', 'pod quota: 200m of a 100 ms period');
    t.equal(await read(cpu(gPath), 'cpu.shares'), '204', 'shares from requests.cpu (defaulted to the limit)');
    t.equal(await read(mem(gPath), 'memory.limit_in_bytes'), String(64 * 2 ** 20));
    t.equal(await read(cpu(bPath), 'cpu.cfs_quota_us'), '40000', 'burstable pod quota: 300m + 100m');
    t.equal(await read(cpu(bPath), 'cpu.shares'), '204', 'shares: 100m + 100m requested');
    t.equal(await read(mem(bPath), 'memory.limit_in_bytes'), String(48 * 2 ** 20), 'memory: 32Mi + 16Mi');
    t.equal(await read(cpu(bePath), 'cpu.shares'), '2', 'BestEffort gets the minimum weight');
    t.equal(await read(cpu(bePath), 'cpu.cfs_quota_us'), '-1');
    t.equal(await read(cpu(`${w.cgroupRoot}/kubepods/besteffort`), 'cpu.shares'), '2');
    const cid = g.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    t.equal(await read(cpu(join(gPath, cid)), 'cpu.cfs_quota_us'), '20000', 'the container itself is limited too');
    const bcid = b.status!.containerStatuses!.find((c) => c.name === 'a')!.containerID!.replace('docker://', '');
    t.equal(await read(cpu(join(bPath, bcid)), 'cpu.shares'), '102');
    t.equal(await read(mem(join(bPath, bcid)), 'memory.limit_in_bytes'), String(32 * 2 ** 20));
  } else {
    t.equal(await read(cg.controllerDir('cpu', gPath), 'cpu.max'), '20000 100000');
    t.equal(await read(cg.controllerDir('memory', gPath), 'memory.max'), String(64 * 2 ** 20));
    t.equal(await read(cg.controllerDir('memory', bPath), 'memory.max'), String(48 * 2 ** 20));
  }

  // limits.cpu 200m: a busy loop gets about 0.2 of a core, measured from the pod cgroup's CPU time.
  const u0 = await cg.usage(gPath);
  const t0 = process.hrtime.bigint();
  await new Promise((r) => setTimeout(r, 3000));
  const u1 = await cg.usage(gPath);
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  const cores = (u1!.cpuUsageNs - u0!.cpuUsageNs) / elapsedNs;
  t.ok(cores <= 0.25, `limits.cpu 200m: used ${cores.toFixed(3)} of a core over 3 s (must be <= 0.25)`);
  t.ok(cores >= 0.1, `and the busy loop did run (${cores.toFixed(3)} >= 0.1)`);

  // /stats/summary reports the same cgroup.
  const summary = JSON.parse((await agent.get('/stats/summary')).body) as {
    pods: { podRef: { uid: string }; cpu?: { usageNanoCores?: number }; memory?: { workingSetBytes: number } }[];
  };
  const gs = summary.pods.find((p) => p.podRef.uid === g.metadata!.uid);
  t.ok(gs?.cpu && gs.memory, 'stats/summary has the pod CPU and memory');
});

t.test('a container allocating past its memory limit is reported OOMKilled', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  await w.writeManifest(
    'oom.yaml',
    testPod(
      w,
      'oom',
      [
        {
          name: 'hog',
          image: IMAGES.busybox,
          // The string doubles until the shell needs more than 16Mi.
          command: ['sh', '-c', 'x=0123456789abcdef; while :; do x=$x$x; done'],
          resources: { limits: { memory: '16Mi', cpu: '500m' } },
        },
      ],
      { restartPolicy: 'Never' },
    ),
  );
  const p = await agent.waitFor(
    'the container terminated',
    (ps) => {
      const pod = findPod(ps, w, 'oom');
      return pod?.status?.containerStatuses?.[0]?.state?.terminated && pod;
    },
    60_000,
  );
  const term = p.status!.containerStatuses![0]!.state!.terminated!;
  t.equal(term.reason, 'OOMKilled');
  t.equal(term.exitCode, 137, 'killed by SIGKILL');
  const done = await agent.waitFor(
    'phase Failed',
    (ps) => findPod(ps, w, 'oom')?.status?.phase === 'Failed' && findPod(ps, w, 'oom'),
    20_000,
  );
  t.equal(
    done.status!.conditions!.find((c) => c.type === 'PodReadyToStartContainers')?.status,
    'False',
    'the finished pod released its sandbox',
  );
});
