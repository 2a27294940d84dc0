// Node-pressure eviction through the real control plane, as kubelet does it.
// Disk: the agent's --root-dir is a small tmpfs this test mounts; a pod fills its emptyDir until
// nodefs.available is below 10%. The agent evicts that pod (the largest local-storage user, not
// the BestEffort one beside it): phase Failed, reason Evicted, kubelet's message, DisruptionTarget.
// The Node shows DiskPressure and the node lifecycle controller's disk-pressure taint; once the
// evicted pod's emptyDir is gone and the transition period passed, both go away and the other pod
// never stopped.
// Memory: the agent restarts with memory.available set 1 GiB above what is available now, so the
// node is under memory pressure at once: it evicts one pod per round, BestEffort first, then the
// Burstable pod, then the Guaranteed one, and reports MemoryPressure.
import t from 'tap';
import { mkdtemp, readFile, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CoreV1Api, V1Node, V1Pod } from '@kubernetes/client-node';
import type { Test as Tap } from 'tap';
import { run } from '../../lib/exec.js';
import { memTotal, rootWorkingSet } from '../../agent/eviction/signals.js';
import { cgroupMounts, parseKeyed } from '../../agent/runtime/cgroups.js';
import { IMAGES, type AgentProcess } from '../fixtures/agent/world.js';
import { joinAgent, type JoinedAgent } from '../harness/joined-agent.js';
import { runPrefix } from '../harness/prefix.js';
import { sleep, until } from '../harness/until.js';

const MESSAGE =
  /^The node was low on resource: (\S+)\. Threshold quantity: \d+(Ki|Mi|Gi)?, available: -?\d+(Ki|Mi|Gi)?\. /;

/** memory.available as kubelet computes it now: MemTotal - the root cgroup's working set. */
async function memoryAvailable(): Promise<number> {
  const m = cgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
  const total = memTotal(await readFile('/proc/meminfo', 'utf8'));
  if (m.version === 2)
    return total - rootWorkingSet(2, parseKeyed(await readFile(join(m.unified!, 'memory.stat'), 'utf8')));
  const dir = m.controllers.get('memory')!;
  return (
    total -
    rootWorkingSet(
      1,
      parseKeyed(await readFile(join(dir, 'memory.stat'), 'utf8')),
      Number(await readFile(join(dir, 'memory.usage_in_bytes'), 'utf8')),
    )
  );
}

const condition = (n: V1Node, type: string) => n.status?.conditions?.find((c) => c.type === type);
const hasTaint = (n: V1Node, key: string) =>
  (n.spec?.taints ?? []).some((x) => x.key === key && x.effect === 'NoSchedule');

async function podOf(core: CoreV1Api, ns: string, name: string): Promise<V1Pod> {
  return core.readNamespacedPod({ name, namespace: ns });
}

/** What both phases use: the cluster, the pod factory, the node's state. */
interface Scene {
  cp: JoinedAgent['cp'];
  core: CoreV1Api;
  ns: string;
  world: JoinedAgent['world'];
  node(): Promise<V1Node>;
  apply(...pods: unknown[]): Promise<unknown>;
  running(name: string): Promise<unknown>;
  /** One busybox container "main"; `emptyDir`: a volume "data" at /data. */
  pod(name: string, script: string, o?: { resources?: Record<string, unknown>; emptyDir?: boolean }): unknown;
}

function scene(j: JoinedAgent): Scene {
  const { cp, core, ns, world } = j;
  const apply = (...pods: unknown[]) =>
    cp.kubectl(['apply', '-f', '-'], { input: pods.map((p) => JSON.stringify(p)).join('\n') });
  return {
    cp,
    core,
    ns,
    world,
    apply,
    node: () => core.readNode({ name: world.nodeName }),
    running: (name) =>
      until(`${name} Running`, 90_000, async () => (await podOf(core, ns, name)).status?.phase === 'Running'),
    pod: (name, script, o = {}) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns },
      spec: {
        terminationGracePeriodSeconds: 30,
        containers: [
          {
            name: 'main',
            image: IMAGES.busybox,
            imagePullPolicy: 'Never',
            command: ['sh', '-c', script],
            ...(o.resources ? { resources: o.resources } : {}),
            ...(o.emptyDir ? { volumeMounts: [{ name: 'data', mountPath: '/data' }] } : {}),
          },
        ],
        ...(o.emptyDir ? { volumes: [{ name: 'data', emptyDir: {} }] } : {}),
      },
    }),
  };
}

/** A tmpfs of `size` at a new directory, unmounted (with whatever is mounted inside) at teardown after `before`. */
async function smallFilesystem(t: Tap, size: string, before: () => Promise<void>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `${runPrefix()}-nodefs-`));
  await run('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir]);
  t.teardown(async () => {
    await before();
    const mounts = (await readFile('/proc/self/mounts', 'utf8'))
      .split('\n')
      .map((l) => l.split(' ')[1] ?? '')
      .filter((m) => m.startsWith(dir + '/'));
    for (const m of mounts.sort().reverse()) await run('umount', ['-l', m], { allowFailure: true });
    await run('umount', ['-l', dir], { allowFailure: true });
    await rm(dir, { recursive: true, force: true });
  });
  return dir;
}

async function diskEviction(t: Tap, s: Scene, small: string): Promise<void> {
  const { core, ns } = s;
  await s.apply(s.pod('bystander', 'sleep 3600'));
  await s.running('bystander');
  // The filler leaves 2 MiB of the 48 free (about 4%: below nodefs.available<10%).
  const fill =
    "avail=$(df -k /data | awk 'NR==2{print $4}'); dd if=/dev/zero of=/data/fill bs=1M count=$((avail/1024-2)) 2>/dev/null; sleep 3600";
  await s.apply(s.pod('filler', fill, { resources: { requests: { memory: '16Mi', cpu: '10m' } }, emptyDir: true }));
  const filler = await until('filler evicted', 120_000, async () => {
    const p = await podOf(core, ns, 'filler');
    return p.status?.phase === 'Failed' ? p : undefined;
  }).catch(async (e: Error) => {
    const fs = await statfs(small);
    throw new Error(`${e.message} (nodefs: ${fs.bavail * fs.bsize} of ${fs.blocks * fs.bsize} bytes available)`);
  });
  t.equal(filler.status?.reason, 'Evicted', 'reason Evicted');
  t.match(filler.status?.message ?? '', MESSAGE, `kubelet's message: ${filler.status?.message}`);
  t.match(filler.status?.message ?? '', /low on resource: ephemeral-storage\./, 'on ephemeral-storage');
  const disruption = filler.status?.conditions?.find((c) => c.type === 'DisruptionTarget');
  t.same(
    [disruption?.status, disruption?.reason, disruption?.message],
    ['True', 'TerminationByKubelet', filler.status?.message],
    'DisruptionTarget condition, as 1.34 kubelet adds it',
  );
  t.ok(
    (filler.status?.containerStatuses ?? []).every((c) => c.state?.terminated),
    'its container is stopped',
  );
  const pressured = await until('DiskPressure and its taint on the Node', 60_000, async () => {
    const n = await s.node();
    return condition(n, 'DiskPressure')?.status === 'True' && hasTaint(n, 'node.kubernetes.io/disk-pressure')
      ? n
      : undefined;
  });
  t.equal(condition(pressured, 'DiskPressure')?.reason, 'KubeletHasDiskPressure');
  t.match(
    condition(pressured, 'DiskPressure')?.message ?? '',
    /nodefs\.available<10%/,
    'the message names the threshold',
  );
  const events = await core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=filler,reason=Evicted`,
  });
  t.ok(
    events.items.some((e) => e.type === 'Warning' && e.message === filler.status?.message),
    'a Warning Evicted event with the message',
  );
  // Recovery: the evicted pod's emptyDir is removed; after the transition period the pressure ends.
  const recovered = await until('DiskPressure False and the taint gone', 90_000, async () => {
    const n = await s.node();
    return condition(n, 'DiskPressure')?.status === 'False' && !hasTaint(n, 'node.kubernetes.io/disk-pressure')
      ? n
      : undefined;
  });
  t.ok(recovered, 'the node recovered once space returned');
  const by = await podOf(core, ns, 'bystander');
  t.equal(by.status?.phase, 'Running', 'the BestEffort pod that used no disk was never evicted');
  t.equal(by.status?.containerStatuses?.[0]?.restartCount, 0, 'nor restarted');
}

async function memoryEviction(
  t: Tap,
  s: Scene,
  start: (args: string[]) => Promise<AgentProcess>,
): Promise<AgentProcess> {
  const { core, ns, world } = s;
  await s.apply(
    s.pod('besteffort', 'sleep 3600'),
    s.pod('burstable', 'sleep 3600', { resources: { requests: { memory: '32Mi' } } }),
    s.pod('guaranteed', 'sleep 3600', {
      resources: { requests: { memory: '128Mi', cpu: '10m' }, limits: { memory: '128Mi', cpu: '10m' } },
    }),
  );
  for (const n of ['besteffort', 'burstable', 'guaranteed']) await s.running(n);
  // The agent restarts (adopting the three pods) with a threshold above what is available.
  const thresholdMi = Math.ceil((await memoryAvailable()) / 1024 / 1024) + 1024;
  const agent = await start([`--eviction-hard=memory.available<${thresholdMi}Mi`]);
  const failedAt = new Map<string, number>();
  await until(
    'all three evicted',
    120_000,
    async () => {
      for (const n of ['besteffort', 'burstable', 'guaranteed']) {
        if (!failedAt.has(n) && (await podOf(core, ns, n)).status?.phase === 'Failed') failedAt.set(n, Date.now());
      }
      return failedAt.size === 3;
    },
    200,
  );
  const order = [...failedAt.entries()].sort((a, b) => a[1] - b[1]).map(([n]) => n);
  t.same(
    order,
    ['besteffort', 'burstable', 'guaranteed'],
    'one pod per round: BestEffort, then the Burstable pod, then the Guaranteed one',
  );
  const be = await podOf(core, ns, 'besteffort');
  t.equal(be.status?.reason, 'Evicted');
  t.match(
    be.status?.message ?? '',
    new RegExp(
      `^The node was low on resource: memory\\. Threshold quantity: ${thresholdMi}Mi, available: \\d+(Ki|Mi)?\\. Container main was using \\d+(Ki|Mi)?, request is 0, has larger consumption of memory\\. $`,
    ),
    `kubelet's message: ${be.status?.message}`,
  );
  const mem = await until('MemoryPressure and its taint on the Node', 60_000, async () => {
    const n = await s.node();
    return condition(n, 'MemoryPressure')?.status === 'True' && hasTaint(n, 'node.kubernetes.io/memory-pressure')
      ? n
      : undefined;
  });
  t.equal(condition(mem, 'MemoryPressure')?.reason, 'KubeletHasInsufficientMemory');
  // kubelet's admission under memory pressure: a new BestEffort pod is refused. (Bound by
  // spec.nodeName: the scheduler itself keeps pods off a node with the memory-pressure taint.)
  const latecomer = s.pod('latecomer', 'sleep 3600') as { spec: Record<string, unknown> };
  latecomer.spec.nodeName = world.nodeName;
  await s.apply(latecomer);
  const late = await until('latecomer rejected', 60_000, async () => {
    const p = await podOf(core, ns, 'latecomer');
    return p.status?.phase === 'Failed' ? p : undefined;
  });
  t.same(
    [late.status?.reason, late.status?.message],
    ['Evicted', 'The node had condition: [MemoryPressure]. '],
    'a new BestEffort pod is rejected as kubelet words it',
  );
  t.notOk(
    (await world.containers()).some((c) => c.Labels['io.kubernetes.pod.name'] === 'latecomer'),
    'and never started',
  );
  return agent;
}

t.test('hard eviction on nodefs and memory.available', async (t) => {
  let current: AgentProcess | undefined;
  let world: JoinedAgent['world'] | undefined;
  // The agent and its pods go before the filesystem they live on is unmounted.
  const small = await smallFilesystem(t, '48m', async () => {
    await current?.kill9();
    const left = (await world?.containers()) ?? [];
    await Promise.all(
      left.map((c) =>
        world!.docker
          .getContainer(c.Id)
          .remove({ force: true })
          .catch(() => {}),
      ),
    );
  });
  const common = [
    `--root-dir=${join(small, 'root')}`,
    '--eviction-monitoring-period=1s',
    '--eviction-pressure-transition-period=15s',
  ];
  const joined = await joinAgent(t, {
    args: [...common, '--eviction-hard=memory.available<100Mi,nodefs.available<10%'],
  });
  current = joined.agent;
  world = joined.world;
  const s = scene(joined);
  await diskEviction(t, s, small);
  await s.cp.kubectl(['-n', s.ns, 'delete', 'pods', '--all', '--wait=true', '--timeout=60s']);
  current = await memoryEviction(t, s, async (args) => {
    await current!.stop();
    current = await joined.world.startAgent(
      [`--kubeconfig=${join(joined.creds, 'kubeconfig')}`, ...common, ...args],
      90_000,
    );
    return current;
  });
  await sleep(2000);
  t.notOk(
    current.logs.some(
      (l) => /"level":"error"/.test(l) && !/eviction thresholds have been met, but no pods are active/.test(l),
    ),
    'no errors in the agent log',
  );
  await current.stop();
});
