// The agent's pod cgroups on cgroup v2, the unified hierarchy Vagrant boxes and most current
// distributions use. This machine is cgroup v1, so the file runs INSIDE the test VM (Debian's
// kernel): test/integration/agent-cgroups-v2.test.ts boots it with `scripts/vm.sh run -- node
// <this file>` and reads the TAP it prints. What the kernel does is checked, not only what was
// written: the memory limit OOM-kills a process that allocates past it, and the CPU quota holds
// a busy loop down.
import t from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { CgroupManager } from '../../agent/runtime/cgroups.js';
import { sharesToWeight } from '../../agent/podspec/resources.js';

t.setTimeout(240_000);

const CG = '/sys/fs/cgroup';
const ROOT = 'kubenode-v2-test';
const read = async (...p: string[]) => (await readFile(join(CG, ...p), 'utf8')).trim();

// The VM's init mounts no cgroup filesystem; systemd would mount the unified hierarchy here.
if (
  !readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((l) => l.includes(` ${CG} `) && l.includes(' - cgroup2 '))
) {
  await run('mount', ['-t', 'cgroup2', 'cgroup2', CG]);
}

const podOf = (uid: string, resources: NonNullable<V1Pod['spec']>['containers'][number]['resources']): V1Pod => ({
  metadata: { uid, name: uid, namespace: 'test' },
  spec: { containers: [{ name: 'main', image: 'unused', resources }] },
});

/** A node process placed in `dir` (a container's cgroup) before it runs `script`; resolves with how it ended. */
async function runIn(dir: string, script: string): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  await mkdir(join(CG, dir), { recursive: true });
  const child = spawn(process.execPath, ['-e', `process.stdin.once('data', () => { ${script} })`], {
    stdio: ['pipe', 'inherit', 'inherit'],
  });
  await writeFile(join(CG, dir, 'cgroup.procs'), String(child.pid));
  child.stdin.end('go\n');
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  return { code, signal };
}

const cg = new CgroupManager({ root: ROOT, logger: createLogger('test', { sink: () => {} }) });
t.teardown(async () => {
  await cg.remove(`/${ROOT}`);
});

t.test('cgroup v2 is detected and the kubepods tree is made with its controllers', async (t) => {
  t.equal(cg.version, 2, 'the unified hierarchy');
  await cg.init();
  for (const dir of [ROOT, `${ROOT}/kubepods`, `${ROOT}/kubepods/burstable`]) {
    const enabled = (await read(dir, 'cgroup.subtree_control')).split(' ');
    t.ok(
      ['cpu', 'memory', 'pids'].every((c) => enabled.includes(c)),
      `${dir}: cpu, memory and pids enabled for its children (${enabled.join(' ')})`,
    );
  }
  t.equal(
    await read(ROOT, 'kubepods/besteffort/cpu.weight'),
    String(sharesToWeight(2)),
    'BestEffort: the lowest weight',
  );
  t.equal(await read(ROOT, 'kubepods/besteffort/cpu.max'), 'max 100000', 'and no quota');
});

t.test('a Guaranteed pod: cpu.max, cpu.weight, memory.max, enforced by the kernel', async (t) => {
  const path = await cg.ensurePod(podOf('guaranteed', { limits: { cpu: '200m', memory: '64Mi' } }), 'Guaranteed');
  t.equal(path, `/${ROOT}/kubepods/podguaranteed`, 'directly under kubepods');
  t.equal(await read(path, 'cpu.max'), '20000 100000', 'limits.cpu 200m: 20 ms per 100 ms period');
  t.equal(
    await read(path, 'cpu.weight'),
    String(sharesToWeight(204)),
    'the weight of 204 shares (requests.cpu defaulted to the limit)',
  );
  t.equal(await read(path, 'memory.max'), String(64 * 2 ** 20), 'limits.memory 64Mi');
  t.equal(await cg.findPod('guaranteed'), path, 'found again by UID');

  // A process in the pod (in a child cgroup, where Docker puts a container) allocating 160 MiB.
  const hog = await runIn(
    join(path, 'hog'),
    'const a = []; for (let i = 0; i < 160; i++) a.push(Buffer.alloc(1 << 20, 1)); console.log("allocated, not limited")',
  );
  t.equal(hog.signal, 'SIGKILL', 'allocating past memory.max: killed by the kernel');
  const events = Object.fromEntries((await read(path, 'memory.events')).split('\n').map((l) => l.split(' ')));
  t.ok(Number(events.oom_kill) >= 1, `memory.events of the pod counts the OOM kill (oom_kill ${events.oom_kill})`);

  // A busy loop for 2 s: the pod's quota keeps it near 0.2 of a CPU (loose bounds: emulated CPU).
  const before = await cg.usage(path);
  const t0 = process.hrtime.bigint();
  await runIn(join(path, 'spin'), 'const end = Date.now() + 2000; while (Date.now() < end) {}');
  const elapsedNs = Number(process.hrtime.bigint() - t0);
  const after = await cg.usage(path);
  const cores = (after!.cpuUsageNs - before!.cpuUsageNs) / elapsedNs;
  t.ok(cores <= 0.3, `limits.cpu 200m: the busy loop used ${cores.toFixed(3)} of a CPU (at most 0.3)`);
  t.ok(cores > 0.05, `and it did run (${cores.toFixed(3)})`);
  t.ok(
    after!.memoryUsageBytes >= 0 && after!.memoryWorkingSetBytes <= after!.memoryUsageBytes,
    'memory usage and working set read from memory.current and memory.stat',
  );

  await run('rmdir', [join(CG, path, 'hog'), join(CG, path, 'spin')]);
  await cg.removePod('guaranteed');
  t.notOk(existsSync(join(CG, path)), 'the pod cgroup is removed');
});

t.test('a Burstable pod without limits: no quota, no memory limit', async (t) => {
  const path = await cg.ensurePod(podOf('burstable', { requests: { cpu: '100m' } }), 'Burstable');
  t.equal(path, `/${ROOT}/kubepods/burstable/podburstable`, 'under kubepods/burstable');
  t.equal(await read(path, 'cpu.max'), 'max 100000', 'no CPU quota');
  t.equal(await read(path, 'memory.max'), 'max', 'no memory limit');
  t.equal(await read(path, 'cpu.weight'), String(sharesToWeight(102)), 'weight from requests.cpu 100m (102 shares)');
  await cg.removePod('burstable');
});

t.test('a pod cgroup resized in place (v2): read back, grown and shrunk one value at a time', async (t) => {
  const Mi = 2 ** 20;
  const path = await cg.ensurePod(
    podOf('resized', { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } }),
    'Burstable',
  );
  const cur = await cg.podConfig(path);
  t.same(
    { ...cur, cpuShares: undefined },
    { cpuShares: undefined, cpuQuotaUs: 20_000, cpuPeriodUs: 100_000, memoryLimitBytes: 64 * Mi },
    'read back: quota, period, memory.max',
  );
  t.equal(sharesToWeight(cur.cpuShares), sharesToWeight(102), 'cpu.weight read back as shares of the same weight');
  await cg.setPodConfig(path, { memoryLimitBytes: 128 * Mi });
  t.equal(await read(path, 'memory.max'), String(128 * Mi), 'memory.max grown');
  await cg.setPodConfig(path, { cpuQuotaUs: 40_000, cpuPeriodUs: 100_000 });
  t.equal(await read(path, 'cpu.max'), '40000 100000', 'cpu.max grown');
  t.equal(await read(path, 'cpu.weight'), String(sharesToWeight(102)), 'the weight untouched by a quota step');
  await cg.setPodConfig(path, { cpuShares: 204 });
  t.equal(await read(path, 'cpu.weight'), String(sharesToWeight(204)), 'cpu.weight from the new shares');
  t.equal(await read(path, 'cpu.max'), '40000 100000', 'the quota untouched by a shares step');
  await cg.setPodConfig(path, { memoryLimitBytes: 48 * Mi, cpuQuotaUs: 15_000, cpuPeriodUs: 100_000 });
  t.same(
    [await read(path, 'memory.max'), await read(path, 'cpu.max')],
    [String(48 * Mi), '15000 100000'],
    'and shrunk',
  );
  await cg.removePod('resized');
  const open = await cg.ensurePod(podOf('open', { requests: { cpu: '100m' } }), 'Burstable');
  const o = await cg.podConfig(open);
  t.same(
    [o.cpuQuotaUs, o.memoryLimitBytes],
    [-1, Infinity],
    'no limits read back as -1 quota and Infinity memory, as kubelet reads them',
  );
  await cg.removePod('open');
});
