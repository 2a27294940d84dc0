// In-place pod resize through the real apiserver (v1.34.4) and kubectl (`kubectl patch
// --subresource resize`): a Burstable pod is resized up and down in CPU and memory without a
// restart (same container ID, restartCount 0), the container's and the pod's cgroup files on the
// host show the new values, containerStatuses[].resources and allocatedResources show them, and
// no resize condition is left once done; a container whose resizePolicy says RestartContainer for
// memory is restarted (restartCount 1) with the new limit; a memory limit below what the
// container uses is refused (PodResizeInProgress, reason Error) until reverted; a resize asking
// for more CPU than the node has is PodResizePending/Infeasible and changes nothing; and an agent
// restarted with that resize pending neither applies it nor undoes the earlier ones (its
// allocation checkpoint). The README's resize commands are run as printed, too.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { createLogger } from '../../lib/log.js';
import { CgroupManager } from '../../agent/runtime/cgroups.js';
import { IMAGES } from '../fixtures/agent/world.js';
import { until } from '../harness/until.js';
import { joinAgent } from '../harness/joined-agent.js';

const Mi = 1024 * 1024;

t.test('in-place pod resize', async (t) => {
  const { cp, world: w, core, ns, agent, creds } = await joinAgent(t, { logLines: 120 });
  const name = `${ns}-resize`;
  const cg = new CgroupManager({ root: w.cgroupRoot, logger: createLogger('test', { level: 'error' }) });
  const sleeper = (n: string, res: object, extra: object = {}) => ({
    name: n,
    image: IMAGES.busybox,
    imagePullPolicy: 'Never',
    command: ['sleep', '3600'],
    resources: res,
    ...extra,
  });
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        sleeper('c', { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } }),
        sleeper(
          'm',
          { requests: { cpu: '50m', memory: '16Mi' }, limits: { cpu: '100m', memory: '32Mi' } },
          {
            resizePolicy: [
              { resourceName: 'cpu', restartPolicy: 'NotRequired' },
              { resourceName: 'memory', restartPolicy: 'RestartContainer' },
            ],
          },
        ),
      ],
    },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  const get = () => core.readNamespacedPod({ name, namespace: ns });
  const cs = (p: V1Pod, n: string) => p.status!.containerStatuses!.find((c) => c.name === n)!;
  const conds = (p: V1Pod) => (p.status?.conditions ?? []).filter((c) => c.type.startsWith('PodResize'));
  const first = await until('the pod Running with both containers', 90_000, async () => {
    const p = await get();
    return p.status?.containerStatuses?.length === 2 &&
      p.status.containerStatuses.every((c) => c.state?.running && c.resources)
      ? p
      : undefined;
  });
  t.same(
    cs(first, 'c').resources,
    { requests: { cpu: '100m', memory: '32Mi' }, limits: { cpu: '200m', memory: '64Mi' } },
    'containerStatuses[].resources as created',
  );
  t.same(
    cs(first, 'c').allocatedResources,
    { cpu: '100m', memory: '32Mi' },
    'allocatedResources: the allocated requests',
  );
  t.equal(
    first.status?.observedGeneration,
    first.metadata?.generation,
    'status.observedGeneration is the pod generation',
  );
  const cid = (p: V1Pod, n: string) => cs(p, n).containerID!.replace(/^docker:\/\//, '');
  const cId = cid(first, 'c');
  const mId = cid(first, 'm');
  const podCgroup = (await w.docker.getContainer(cId).inspect()).HostConfig.CgroupParent!;

  /** CPU quota, shares (v1) or weight (v2) and memory limit of a cgroup, read from the host's cgroup fs. */
  const cgroupValues = async (path: string) => {
    const read = async (ctl: string, file: string) =>
      (await readFile(join(cg.controllerDir(ctl, path), file), 'utf8')).trim();
    if (cg.version === 2) {
      return {
        quota: (await read('cpu', 'cpu.max')).split(' ')[0],
        weight: await read('cpu', 'cpu.weight'),
        memory: await read('memory', 'memory.max'),
      };
    }
    return {
      quota: await read('cpu', 'cpu.cfs_quota_us'),
      shares: await read('cpu', 'cpu.shares'),
      memory: await read('memory', 'memory.limit_in_bytes'),
    };
  };
  const expect = (quota: number, shares: number, memory: number) =>
    cg.version === 2
      ? { quota: String(quota), weight: String(1 + Math.floor(((shares - 2) * 9999) / 262142)), memory: String(memory) }
      : { quota: String(quota), shares: String(shares), memory: String(memory) };
  t.same(await cgroupValues(`${podCgroup}/${cId}`), expect(20_000, 102, 64 * Mi), "container c's cgroup as created");

  const resize = (container: string, resources: object) =>
    cp.kubectl([
      '-n',
      ns,
      'patch',
      'pod',
      name,
      '--subresource',
      'resize',
      '--patch',
      JSON.stringify({ spec: { containers: [{ name: container, resources }] } }),
    ]);
  /** The pod once the agent reports container c at `limits` with no resize condition left. */
  const settled = (what: string, check: (p: V1Pod) => boolean) =>
    until(what, 60_000, async () => {
      const p = await get();
      return conds(p).length === 0 && p.status?.observedGeneration === p.metadata?.generation && check(p)
        ? p
        : undefined;
    });

  // --- up ------------------------------------------------------------------------------------------
  await resize('c', { requests: { cpu: '200m', memory: '48Mi' }, limits: { cpu: '400m', memory: '96Mi' } });
  const up = await settled('the resize up done', (p) => cs(p, 'c').resources?.limits?.cpu === '400m');
  t.equal(cid(up, 'c'), cId, 'resized up in place: the same container');
  t.equal(cs(up, 'c').restartCount, 0, 'restartCount 0');
  t.same(
    cs(up, 'c').resources,
    { requests: { cpu: '200m', memory: '48Mi' }, limits: { cpu: '400m', memory: '96Mi' } },
    'containerStatuses[].resources show the new values',
  );
  t.same(cs(up, 'c').allocatedResources, { cpu: '200m', memory: '48Mi' }, 'allocatedResources too');
  t.same(
    await cgroupValues(`${podCgroup}/${cId}`),
    expect(40_000, 204, 96 * Mi),
    "the container's cgroup: quota 40 ms, 204 shares, 96 MiB",
  );
  t.same(
    await cgroupValues(podCgroup),
    expect(50_000, 256, 128 * Mi),
    "the pod's cgroup: the sums (400m + 100m, 200m + 50m, 96 + 32 MiB)",
  );
  t.equal(up.metadata?.generation, 2, 'the resize bumped the generation');

  // --- down ----------------------------------------------------------------------------------------
  await resize('c', { requests: { cpu: '100m', memory: '24Mi' }, limits: { cpu: '150m', memory: '40Mi' } });
  const down = await settled('the resize down done', (p) => cs(p, 'c').resources?.limits?.cpu === '150m');
  t.equal(cid(down, 'c'), cId, 'resized down in place: the same container');
  t.equal(cs(down, 'c').restartCount, 0, 'restartCount 0');
  t.same(
    cs(down, 'c').resources,
    { requests: { cpu: '100m', memory: '24Mi' }, limits: { cpu: '150m', memory: '40Mi' } },
    'containerStatuses[].resources show the smaller values',
  );
  t.same(await cgroupValues(`${podCgroup}/${cId}`), expect(15_000, 102, 40 * Mi), "the container's cgroup shrank");
  t.same(await cgroupValues(podCgroup), expect(25_000, 153, 72 * Mi), "the pod's cgroup shrank");
  const events = await core.listNamespacedEvent({
    namespace: ns,
    fieldSelector: `involvedObject.name=${name},reason=ResizeCompleted`,
  });
  t.ok(events.items.length >= 1, `a ResizeCompleted event: ${events.items[0]?.message?.slice(0, 120)}`);

  // --- a memory limit below what is in use: refused, as 1.34 refuses it ---------------------------------
  // 30 MiB in the pod's /dev/shm (tmpfs pages are charged to the writer's memory cgroup).
  await run('docker', ['exec', cId, 'sh', '-c', 'head -c 31457280 /dev/zero > /dev/shm/fill']);
  await resize('c', { requests: { cpu: '100m', memory: '16Mi' }, limits: { cpu: '150m', memory: '20Mi' } });
  const refused = await until('PodResizeInProgress with reason Error', 60_000, async () => {
    const p = await get();
    return conds(p).find((c) => c.type === 'PodResizeInProgress' && c.reason === 'Error') ? p : undefined;
  });
  t.match(
    conds(refused).find((c) => c.type === 'PodResizeInProgress')?.message,
    /^cannot decrease memory limits: attempting to set container "c" memory limit \(20971520\) below current usage \(\d+\)$/,
    "the runtime step is refused with 1.34's message",
  );
  t.same(await cgroupValues(`${podCgroup}/${cId}`), expect(15_000, 102, 40 * Mi), 'nothing was written');
  await resize('c', { requests: { cpu: '100m', memory: '24Mi' }, limits: { cpu: '150m', memory: '40Mi' } });
  await settled('the refused resize reverted', (p) => cs(p, 'c').resources?.limits?.memory === '40Mi');
  t.equal(cid(await get(), 'c'), cId, 'reverted: the condition is gone, the same container');
  await run('docker', ['exec', cId, 'rm', '/dev/shm/fill']);

  // --- resizePolicy RestartContainer for memory ------------------------------------------------------
  await resize('m', { requests: { cpu: '50m', memory: '24Mi' }, limits: { cpu: '100m', memory: '48Mi' } });
  const restarted = await settled(
    'container m restarted with its new limit',
    (p) =>
      cs(p, 'm').restartCount === 1 && !!cs(p, 'm').state?.running && cs(p, 'm').resources?.limits?.memory === '48Mi',
  );
  const mNew = cid(restarted, 'm');
  t.not(mNew, mId, 'container m is a new container');
  t.same(
    await cgroupValues(`${podCgroup}/${mNew}`),
    expect(10_000, 51, 48 * Mi),
    'its cgroup has the new memory limit',
  );
  t.equal(cid(restarted, 'c'), cId, 'container c was not touched');

  // --- Infeasible: more CPU than the node has ---------------------------------------------------------
  const before = { c: await cgroupValues(`${podCgroup}/${cId}`), pod: await cgroupValues(podCgroup) };
  await resize('c', { requests: { cpu: '1000', memory: '24Mi' }, limits: { cpu: '1000', memory: '40Mi' } });
  const pending = await until('PodResizePending Infeasible', 60_000, async () => {
    const p = await get();
    return conds(p).find((c) => c.type === 'PodResizePending' && c.reason === 'Infeasible') ? p : undefined;
  });
  const cond = conds(pending).find((c) => c.type === 'PodResizePending')!;
  // The pod's requests (c's 1000 CPUs and m's 50m), against the node's CPUs.
  t.match(
    cond.message,
    /^Node didn't have enough capacity: cpu, requested: 1000050, capacity: \d+$/,
    `the message says why: ${cond.message}`,
  );
  t.equal(cond.status, 'True', 'the condition is True');
  t.equal(cond.observedGeneration, pending.metadata?.generation, 'for the generation that asked');
  t.same(
    cs(pending, 'c').resources?.limits,
    { cpu: '150m', memory: '40Mi' },
    'containerStatuses[].resources unchanged',
  );
  t.same(
    { c: await cgroupValues(`${podCgroup}/${cId}`), pod: await cgroupValues(podCgroup) },
    before,
    'no cgroup changed',
  );

  // --- the README's commands, as printed (in this run's namespace) ------------------------------------
  const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
  const lines = readme.split('\n').map((l) => l.trim());
  const manifestLines = readme.split('\n');
  const start = manifestLines.findIndex((l) => l.trim() === "kubectl apply -f - <<'EOF'");
  const indent = manifestLines[start]!.length - manifestLines[start]!.trimStart().length;
  const yaml = manifestLines
    .slice(
      start + 1,
      manifestLines.findIndex((l, i) => i > start && l.trim() === 'EOF'),
    )
    .map((l) => l.slice(indent))
    .join('\n');
  t.ok(start >= 0 && yaml.includes('name: resize-demo'), "the README's manifest found");
  /** A printed `kubectl ...` line with single-quoted arguments, split as a shell would. */
  const argv = (line: string) =>
    [...line.matchAll(/(?:'[^']*'|[^\s'])+/g)].map((m) => m[0].replace(/'([^']*)'/g, '$1')).slice(1);
  const printed = (prefix: string) => lines.filter((l) => l.startsWith(prefix)).map(argv);
  await cp.kubectl(['-n', ns, 'apply', '-f', '-'], { input: yaml });
  await until(
    'resize-demo running',
    60_000,
    async () =>
      (await core.readNamespacedPod({ name: 'resize-demo', namespace: ns })).status?.containerStatuses?.[0]?.resources,
  );
  const [grow, infeasible] = printed('kubectl patch pod resize-demo');
  await cp.kubectl(['-n', ns, ...grow!]);
  const [show, pendingMessage] = printed('kubectl get pod resize-demo');
  const shown = await until("the README's resize done", 60_000, async () => {
    const out = (await cp.kubectl(['-n', ns, ...show!])).stdout;
    return out.includes('"400m"') ? out : undefined;
  });
  t.match(
    shown,
    /"limits":\{"cpu":"400m","memory":"128Mi"\}.* restarts=0/,
    `the README's resize, as it says: ${shown.trim()}`,
  );
  await cp.kubectl(['-n', ns, ...infeasible!]);
  const told = await until(
    "the README's Infeasible resize",
    60_000,
    async () => (await cp.kubectl(['-n', ns, ...pendingMessage!])).stdout.trim() || undefined,
  );
  t.match(told, /^Node didn't have enough capacity: cpu, requested: 100000, capacity: \d+$/, 'and its Infeasible one');

  // --- an agent restarted with the resize pending: nothing undone, nothing applied -----------------------
  await agent.stop();
  const again = await w.startAgent([`--kubeconfig=${join(creds, 'kubeconfig')}`], 90_000);
  await again.waitFor(
    'the restarted agent to report the pod',
    (ps) => ps.find((p) => p.metadata?.name === name && p.status?.containerStatuses?.every((c) => c.state?.running)),
    60_000,
  );
  const after = await until('PodResizePending Infeasible from the restarted agent', 60_000, async () => {
    const p = await get();
    const c = conds(p).find((x) => x.type === 'PodResizePending');
    return c?.reason === 'Infeasible' && new Date(c.lastProbeTime!).getTime() > new Date(cond.lastProbeTime!).getTime()
      ? p
      : undefined;
  });
  t.equal(cid(after, 'c'), cId, 'after the restart: container c is the same');
  t.equal(cid(after, 'm'), mNew, 'container m is the same');
  t.same([cs(after, 'c').restartCount, cs(after, 'm').restartCount], [0, 1], 'no restart counted');
  t.same(
    { c: await cgroupValues(`${podCgroup}/${cId}`), pod: await cgroupValues(podCgroup) },
    before,
    'the cgroups are as allocated before the restart: the pending resize not applied, the done ones not undone',
  );
  t.same(cs(after, 'c').resources?.limits, { cpu: '150m', memory: '40Mi' }, 'and so are containerStatuses[].resources');
});
