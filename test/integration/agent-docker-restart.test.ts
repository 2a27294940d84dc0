// Issue 20, fault 1: the Docker Engine restarted under running pods. The machine's dockerd is
// shared, so the test restarts a dockerd of its own (../fixtures/agent/private-dockerd.ts) that
// the agent uses through --container-runtime-endpoint; pods get their network from the world's
// CNI bridge as usual (sandboxes are --network=none, filled by CNI from the host). dockerd stops
// every container when it stops (no live-restore), so after the restart every sandbox is dead: as
// kubelet does, the agent records SandboxChanged, makes a new sandbox and starts the containers
// again, each container's restartCount going up by one. Checked: every pod Running and Ready on a
// new sandbox, one running sandbox per pod, the host-local store holding exactly the pods' IPs.
// 20 pods, so the restart has many sandboxes to bring back at once. Their readiness probes are tcpSocket (a handshake from the host to
// the pod IP, as kubelet probes it) rather than exec: an exec probe is a dockerd exec round trip,
// and 20 of them a second through one dockerd on the 2-core CI machine made Ready flap for minutes
// (probe load, not the fault under test). The restart is what is tested, so the probes are kept
// cheap. Prints the time from dockerd up to all Ready.
import t from 'tap';
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { createWorld, testPod, findPod, podReady, IMAGES, type World } from '../fixtures/agent/world.js';
import { startPrivateDockerd } from '../fixtures/agent/private-dockerd.js';
import { runPrefix } from '../harness/prefix.js';

const PODS = 20;
const names = Array.from({ length: PODS }, (_, i) => `p${i}`);

function pod(w: World, name: string): V1Pod {
  return testPod(
    w,
    name,
    [
      {
        name: 'app',
        image: IMAGES.busybox,
        // busybox httpd only has to accept connections: the probe is a TCP handshake. sh is PID 1 so
        // that TERM ends the container at once (PID 1 without a handler ignores it).
        command: ['sh', '-c', 'trap "exit 0" TERM; httpd -f -p 8080 & wait'],
        ports: [{ name: 'probe', containerPort: 8080 }],
        // A timeout above the default 1 s: the host answers 20 pods' probes while dockerd restarts 40
        // containers on a loaded 2-core machine.
        readinessProbe: { tcpSocket: { port: 'probe' }, periodSeconds: 2, timeoutSeconds: 5 },
      },
    ],
    { terminationGracePeriodSeconds: 2 },
  );
}

async function ipamAddresses(w: World): Promise<string[]> {
  const dir = join(w.dir, 'ipam', `${w.prefix}-net`);
  return existsSync(dir) ? (await readdir(dir)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)).sort() : [];
}

t.test('Docker Engine restarted under running pods: new sandboxes, all Ready, nothing leaked', async (t) => {
  // Started before the world, so that its teardown (tap runs them in order) stops the containers
  // before the world removes the cgroups they live in.
  // Its data on a tmpfs; with the vfs driver every container is a full copy of its image (about
  // 4 MiB here), and after the restart 40 dead containers sit beside 40 new ones: 1 GiB leaves
  // room (tmpfs takes memory only for what is written).
  const dockerd = await startPrivateDockerd(t, runPrefix(), 1024);
  const w = await createWorld(t);
  await dockerd.loadImages([IMAGES.pause, IMAGES.busybox]);
  const agent = await w.startAgent([
    `--container-runtime-endpoint=${dockerd.host}`,
    '--eviction-hard=memory.available<1Ki',
  ]);
  await w.writeManifest(
    'pods.yaml',
    names.map((n) => pod(w, n)),
  );
  const before = await agent.waitFor(
    `${PODS} pods Ready`,
    (ps) => {
      const p = names.map((n) => findPod(ps, w, n));
      return p.every(podReady) && (p as V1Pod[]);
    },
    180_000,
  );
  const sandboxes = async () => {
    const list = await dockerd.docker.listContainers({
      all: true,
      filters: { label: [`kubenode.io/instance=${w.prefix}`, 'io.kubernetes.container.name=POD'] },
    });
    return list.map((c) => ({ uid: c.Labels['io.kubernetes.pod.uid']!, id: c.Id, running: c.State === 'running' }));
  };
  const sandboxBefore = new Map((await sandboxes()).filter((s) => s.running).map((s) => [s.uid, s.id]));
  t.equal(sandboxBefore.size, PODS, 'one running sandbox per pod before');
  t.same(await ipamAddresses(w), before.map((p) => p.status!.podIP!).sort(), "the IPAM store holds the pods' IPs");

  await dockerd.stop();
  const restartedAt = Date.now();
  await dockerd.start();
  const after = await agent.waitFor(
    'every pod Ready again',
    (ps) => {
      const p = names.map((n) => findPod(ps, w, n));
      return p.every((x) => podReady(x) && x!.status!.containerStatuses![0]!.restartCount >= 1) && (p as V1Pod[]);
    },
    180_000,
  );
  const seconds = (Date.now() - restartedAt) / 1000;
  t.comment(`dockerd restart: ${PODS} pods Ready on new sandboxes ${seconds.toFixed(1)} s after dockerd was back`);

  t.ok(agent.running, 'the agent survived the restart');
  const running = (await sandboxes()).filter((s) => s.running);
  t.equal(running.length, PODS, 'exactly one running sandbox per pod: no duplicate');
  t.same([...new Set(running.map((s) => s.uid))].sort(), [...sandboxBefore.keys()].sort(), 'for the same pods');
  t.ok(
    running.every((s) => sandboxBefore.get(s.uid) !== s.id),
    'every sandbox is a new one',
  );
  const changed = new Set(
    agent.logs
      .filter(
        (l) =>
          l.includes('"reason":"SandboxChanged"') &&
          l.includes('Pod sandbox changed, it will be killed and re-created.'),
      )
      .map((l) => (JSON.parse(l) as { object: string }).object),
  );
  t.same(
    [...changed].sort(),
    names.map((n) => `Pod ${w.prefix}/${w.prefix}-${n}-${w.nodeName}`).sort(),
    'SandboxChanged recorded for every pod, as kubelet words it',
  );
  // kubelet: each new instance of a container counts one restart. Usually that is 1 here; but the
  // agent may see a sandbox die while dockerd is still shutting down and start a new one that
  // dockerd then stops too (kubelet races the same way), and that instance counts as well. So the
  // figure is checked against the Created events the agent recorded for the pod.
  const starts = (n: string) =>
    agent.logs.filter(
      (l) =>
        l.includes('"reason":"Created"') && l.includes(`"object":"Pod ${w.prefix}/${w.prefix}-${n}-${w.nodeName}"`),
    ).length;
  t.same(
    after.map((p) => p.status!.containerStatuses![0]!.restartCount),
    names.map((n) => starts(n) - 1),
    'restartCount: one per new instance, as the Created events count them (kubelet counts each instance created)',
  );
  t.ok(
    after.every((p) => p.status!.containerStatuses![0]!.restartCount >= 1),
    `every container restarted (restartCounts ${after.map((p) => p.status!.containerStatuses![0]!.restartCount).join(',')})`,
  );
  t.same(
    await ipamAddresses(w),
    after.map((p) => p.status!.podIP!).sort(),
    "the IPAM store holds exactly the pods' IPs: no address leaked",
  );

  await agent.stop();
  for (const c of await dockerd.docker.listContainers({ all: true }))
    await dockerd.docker.getContainer(c.Id).remove({ force: true });
});
