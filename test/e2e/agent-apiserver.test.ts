// Two kubenode agents as nodes of the real upstream control plane (Node authorizer,
// NodeRestriction, node credentials): both register Ready with podCIDRs; the scheduler spreads a
// Deployment over them and the ReplicaSet sees its pods Ready with pod IPs; an agent stopped goes
// NotReady and comes back Ready without restarting its pods; scaling to 0 leaves no container,
// veth or address; `kubectl delete pod` runs the preStop hook and the pod leaves the API.
// Each agent has its own world (root dir, CNI conf with Debian's bridge + host-local, bridge and
// subnet, cgroup root, Docker instance label); both live in the root network namespace.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { createWorld, IMAGES, testPod, type AgentProcess, type World } from '../fixtures/agent/world.js';
import { until } from '../harness/until.js';

const ready = (o: { status?: { conditions?: { type: string; status: string }[] } } | undefined) =>
  o?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

async function getJSON<T>(cp: ControlPlane, args: string[]): Promise<T> {
  return JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout) as T;
}

/** IPs host-local holds in its data dir (one file per address). */
function allocated(w: World): string[] {
  const d = join(w.dir, 'ipam', `${w.prefix}-net`);
  if (!existsSync(d)) return [];
  return readdirSync(d).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
}

async function veths(w: World): Promise<string[]> {
  const out = (await run('ip', ['-o', 'link', 'show', 'master', w.bridge], { allowFailure: true })).stdout;
  return out.trim().split('\n').filter(Boolean);
}

function inSubnet(ip: string, subnet: string): boolean {
  return ip.startsWith(subnet.replace(/0\/24$/, ''));
}

t.test('two agents as nodes of a real control plane', async (t) => {
  const cp = await startControlPlane(t, { env: { NODE_MONITOR_GRACE_PERIOD: '10s' } });
  const worlds = [await createWorld(t), await createWorld(t)];
  const ns = worlds[0]!.prefix;
  const agents: AgentProcess[] = [];
  const kubeconfigs: string[] = [];
  t.teardown(() => {
    if (!t.passing() || process.env.KUBENODE_TEST_LOG)
      for (const a of agents) process.stderr.write(`--- agent ${a.pid}\n${a.logs.slice(-80).join('\n')}\n`);
  });
  for (const w of worlds) {
    const creds = await cp.nodeCredentials(w.nodeName, ['127.0.0.1']);
    kubeconfigs.push(join(creds, 'kubeconfig'));
    agents.push(await w.startAgent([`--kubeconfig=${join(creds, 'kubeconfig')}`], 90_000)); // loading client-node is slow on a busy machine
  }
  const admin = new KubeConfig();
  admin.loadFromFile(cp.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);

  // --- both nodes Ready with podCIDRs --------------------------------------------------------------
  const nodes = await until('both nodes Ready with a podCIDR', 60_000, async () => {
    const l = await getJSON<{ items: V1Node[] }>(cp, ['get', 'nodes']);
    const ours = worlds.map((w) => l.items.find((n) => n.metadata?.name === w.nodeName));
    return ours.every((n) => ready(n) === 'True' && n?.spec?.podCIDR) ? ours : undefined;
  });
  t.not(
    nodes[0]!.spec!.podCIDR,
    nodes[1]!.spec!.podCIDR,
    `distinct podCIDRs ${nodes.map((n) => n!.spec!.podCIDR).join(' ')}`,
  );
  for (const [i, w] of worlds.entries())
    t.equal(
      await until('the podCIDR file', 10_000, async () => readFileSync(join(w.rootDir, 'pod-cidr'), 'utf8')),
      `${nodes[i]!.spec!.podCIDR}\n`,
      'the podCIDR file holds spec.podCIDR',
    );
  await cp.createNamespace(ns);

  // --- one pod: time from kubectl apply to Ready in the API ---------------------------------------
  const single = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${ns}-one`, namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 5,
      containers: [
        {
          name: 'web',
          image: IMAGES.demo,
          imagePullPolicy: 'Never',
          readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
        },
      ],
    },
  };
  const applied = Date.now();
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(single) });
  const one = await until(
    'the single pod Ready in the API',
    60_000,
    async () => {
      const p = await core.readNamespacedPod({ name: `${ns}-one`, namespace: ns });
      return ready(p) === 'True' ? p : undefined;
    },
    25,
  );
  t.comment(`kubectl apply of a one-pod manifest to Ready in the API: ${Date.now() - applied} ms`);
  t.match(one.status?.podIP, /^\d+\.\d+\.\d+\.\d+$/, `pod IP ${one.status?.podIP}`);
  t.equal(one.status?.phase, 'Running', 'phase Running in the API');
  t.equal(one.status?.hostIP, '127.0.0.1', 'hostIP is the node IP');

  // A readiness flip reaches the API promptly: the agent's own view and the API's, seen together.
  const oneWorld = worlds.find((w) => w.nodeName === one.spec?.nodeName)!;
  const oneAgent = agents[worlds.indexOf(oneWorld)]!;
  const cid = one.status!.containerStatuses![0]!.containerID!.replace(/^docker:\/\//, '');
  await run('docker', ['exec', cid, 'rm', '/www/ready']);
  const localUnready = await until(
    'the agent to see the pod unready',
    10_000,
    async () => {
      const p = (await oneAgent.pods()).find((x) => x.metadata?.uid === one.metadata?.uid);
      return ready(p) === 'False' ? Date.now() : undefined;
    },
    10,
  );
  const apiUnready = await until(
    'the API to show the pod unready',
    10_000,
    async () =>
      ready(await core.readNamespacedPod({ name: `${ns}-one`, namespace: ns })) === 'False' ? Date.now() : undefined,
    10,
  );
  t.ok(
    apiUnready - localUnready < 1000,
    `readiness change in the API ${apiUnready - localUnready} ms after the agent showed it (polling both, ~10 ms resolution plus request times)`,
  );
  await cp.kubectl(['-n', ns, 'delete', 'pod', `${ns}-one`, '--wait=true', '--timeout=60s']);
  t.notOk(
    oneAgent.logs.some((l) => /"level":"error"/.test(l)),
    'no errors in the agent log so far',
  );

  // --- a Deployment of 3, spread over both nodes, all Ready ----------------------------------------
  const labels = { app: `${ns}-web` };
  const deployment = {
    apiVersion: 'apps/v1',
    kind: 'Deployment',
    metadata: { name: `${ns}-web`, namespace: ns },
    spec: {
      replicas: 3,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 5,
          topologySpreadConstraints: [
            {
              maxSkew: 1,
              topologyKey: 'kubernetes.io/hostname',
              whenUnsatisfiable: 'DoNotSchedule',
              labelSelector: { matchLabels: labels },
            },
          ],
          containers: [
            {
              name: 'web',
              image: IMAGES.demo,
              imagePullPolicy: 'Never',
              readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
            },
          ],
        },
      },
    },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(deployment) });
  await until(
    'the Deployment to have 3 ready replicas',
    90_000,
    async () =>
      (await getJSON<{ status?: { readyReplicas?: number } }>(cp, ['-n', ns, 'get', 'deployment', `${ns}-web`])).status
        ?.readyReplicas === 3,
  );
  const webPods = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${ns}-web` })).items;
  t.equal(webPods.length, 3, 'three pods');
  t.same(
    new Set(webPods.map((p) => p.spec?.nodeName)),
    new Set(worlds.map((w) => w.nodeName)),
    'the scheduler used both nodes',
  );
  for (const p of webPods) {
    const w = worlds.find((x) => x.nodeName === p.spec?.nodeName)!;
    t.equal(p.status?.phase, 'Running', `${p.metadata?.name} Running`);
    t.equal(ready(p), 'True', `${p.metadata?.name} Ready`);
    t.ok(
      p.status?.podIP && inSubnet(p.status.podIP, w.subnet),
      `${p.metadata?.name} has IP ${p.status?.podIP} from its node's CNI range ${w.subnet}`,
    );
    const id = p.status!.containerStatuses![0]!.containerID!.replace(/^docker:\/\//, '');
    t.ok(
      (await w.containers()).some((c) => c.Id === id && c.State === 'running'),
      'the containerID in the API is a running container of that node',
    );
  }
  const wide = (await cp.kubectl(['-n', ns, 'get', 'pods', '-o', 'wide', '--no-headers'])).stdout;
  t.comment(wide.trim());

  // --- stop one agent: NotReady within the grace period; back Ready, pods untouched ---------------
  const stopIdx = 1;
  const sw = worlds[stopIdx]!;
  const snapshot = async () =>
    (
      await Promise.all(
        (
          await sw.containers()
        ).map(async (c) => {
          const i = await sw.docker.getContainer(c.Id).inspect();
          return `${i.Id} ${i.State.StartedAt} ${i.State.Running}`;
        }),
      )
    ).sort();
  const before = await snapshot();
  t.ok(before.length >= 2, `the stopped node runs pods (${before.length} containers)`);
  await agents[stopIdx]!.stop();
  const stoppedAt = Date.now();
  await until(
    'the stopped node NotReady',
    60_000,
    async () => ready(await core.readNode({ name: sw.nodeName })) !== 'True',
  );
  const notReadyAfter = Date.now() - stoppedAt;
  t.ok(
    notReadyAfter < 10_000 + 5_000 + 5_000,
    `NotReady ${notReadyAfter} ms after the agent stopped (grace 10 s + monitor period 5 s)`,
  );
  agents[stopIdx] = await sw.startAgent([`--kubeconfig=${kubeconfigs[stopIdx]}`], 90_000);
  await until(
    'the restarted node Ready',
    30_000,
    async () => ready(await core.readNode({ name: sw.nodeName })) === 'True',
  );
  await until('all 3 replicas ready again', 60_000, async () => {
    const ps = (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${ns}-web` })).items;
    return ps.length === 3 && ps.every((p) => ready(p) === 'True');
  });
  t.same(await snapshot(), before, 'same container IDs, same StartedAt, all still running');
  t.same(
    (await core.listNamespacedPod({ namespace: ns, labelSelector: `app=${ns}-web` })).items
      .map((p) => p.metadata?.uid)
      .sort(),
    webPods.map((p) => p.metadata?.uid).sort(),
    'the same pods',
  );

  // --- scale to 0: no container, veth or address left ----------------------------------------------
  await cp.kubectl(['-n', ns, 'scale', 'deployment', `${ns}-web`, '--replicas=0']);
  await until(
    'no pods in the API',
    60_000,
    async () => (await core.listNamespacedPod({ namespace: ns })).items.length === 0,
  );
  await until('nothing left on either node', 30_000, async () => {
    for (const w of worlds)
      if ((await w.containers()).length || (await veths(w)).length || allocated(w).length) return false;
    return true;
  });
  t.pass('every container, veth and IPAM address is gone');

  // --- a static pod gets a mirror pod; deleted by hand it comes back; gone with its manifest ------
  const sw0 = worlds[0]!;
  const staticName = `${ns}-static-${sw0.nodeName}`;
  await sw0.writeManifest(
    'static.yaml',
    testPod(sw0, 'static', [
      {
        name: 'web',
        image: IMAGES.demo,
        imagePullPolicy: 'Never',
        readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
      },
    ]),
  );
  const mirror = await until('the mirror pod Ready in the API', 60_000, async () => {
    const p = await core.readNamespacedPod({ name: staticName, namespace: ns });
    return ready(p) === 'True' ? p : undefined;
  });
  const local = (await agents[0]!.pods()).find((p) => p.metadata?.name === staticName)!;
  t.equal(
    mirror.metadata?.annotations?.['kubernetes.io/config.mirror'],
    local.metadata?.annotations?.['kubernetes.io/config.hash'],
    "config.mirror is the static pod's config hash",
  );
  t.not(mirror.metadata?.uid, local.metadata?.uid, 'the mirror is its own API object');
  t.same(
    mirror.metadata?.ownerReferences?.map((o) => [o.kind, o.name]),
    [['Node', sw0.nodeName]],
    'owned by the Node',
  );
  t.equal(mirror.status?.podIP, local.status?.podIP, "the mirror shows the static pod's status");
  t.same(
    mirror.status?.containerStatuses?.map((c) => c.containerID),
    local.status?.containerStatuses?.map((c) => c.containerID),
    "the mirror shows the static pod's container IDs",
  );
  await cp.kubectl(['-n', ns, 'delete', 'pod', staticName, '--wait=false']);
  const again = await until('the mirror pod recreated', 30_000, async () => {
    const p = await core.readNamespacedPod({ name: staticName, namespace: ns });
    return p.metadata?.uid !== mirror.metadata?.uid && !p.metadata?.deletionTimestamp && ready(p) === 'True'
      ? p
      : undefined;
  });
  t.same(
    again.status?.containerStatuses?.map((c) => c.containerID),
    local.status?.containerStatuses?.map((c) => c.containerID),
    'deleting the mirror did not restart the static pod',
  );
  await sw0.removeManifest('static.yaml');
  await until(
    'the mirror pod gone with its manifest',
    30_000,
    async () => (await core.listNamespacedPod({ namespace: ns })).items.length === 0,
  );
  await until("the static pod's containers gone", 30_000, async () => (await sw0.containers()).length === 0);
  t.pass('mirror pod removed when the static pod went away');

  // --- kubectl delete pod: the preStop hook runs, the pod leaves the API ---------------------------
  const hookDir = mkdtempSync(join(tmpdir(), `${ns}-hook-`));
  t.teardown(() => rmSync(hookDir, { recursive: true, force: true }));
  const hooked = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${ns}-hooked`, namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 10,
      volumes: [{ name: 'out', hostPath: { path: hookDir, type: 'Directory' } }],
      containers: [
        {
          name: 'main',
          image: IMAGES.busybox,
          imagePullPolicy: 'Never',
          command: ['sh', '-c', 'trap "exit 0" TERM; while true; do sleep 0.2; done'],
          volumeMounts: [{ name: 'out', mountPath: '/out' }],
          lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo "preStop ran in $HOSTNAME" > /out/prestop'] } } },
        },
      ],
    },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(hooked) });
  const hp = await until('the hooked pod Running', 60_000, async () => {
    const p = await core.readNamespacedPod({ name: `${ns}-hooked`, namespace: ns });
    return p.status?.phase === 'Running' ? p : undefined;
  });
  t.notOk(existsSync(join(hookDir, 'prestop')), 'no hook output before the delete');
  const deleted = Date.now();
  await cp.kubectl(['-n', ns, 'delete', 'pod', `${ns}-hooked`, '--wait=false']);
  await until(
    'the hooked pod gone from the API',
    30_000,
    async () => {
      const r = await cp.kubectl(['-n', ns, 'get', 'pod', `${ns}-hooked`], { allowFailure: true });
      return r.code !== 0 && /NotFound/.test(r.stderr);
    },
    100,
  );
  t.comment(`kubectl delete pod (preStop + SIGTERM) to gone from the API: ${Date.now() - deleted} ms`);
  t.match(readFileSync(join(hookDir, 'prestop'), 'utf8'), /preStop ran/, 'the preStop hook ran');
  const hw = worlds.find((w) => w.nodeName === hp.spec?.nodeName)!;
  t.notOk(
    (await hw.containers()).some((c) => c.Labels['io.kubernetes.pod.uid'] === hp.metadata?.uid),
    'its containers are gone',
  );
  for (const a of agents)
    t.notOk(
      a.logs.some((l) => /"level":"error"/.test(l)),
      `no errors in agent ${a.pid}'s log`,
    );
});
