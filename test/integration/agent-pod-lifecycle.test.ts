// The vertical slice: a static pod file becomes a running container with a CNI address and a
// Kubernetes status; a changed file is a new pod; a deleted file leaves nothing behind.
import t from 'tap';
import { readdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { createWorld, testPod, findPod, podReady, allRunning, IMAGES } from '../fixtures/agent/world.js';

t.test('static pod: file -> running container with a CNI IP -> status -> delete cleans up', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  const pod = testPod(w, 'web', [
    {
      name: 'demo',
      image: IMAGES.demo,
      env: [
        { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
        { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
        { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      ],
      ports: [{ containerPort: 8080, name: 'http' }],
    },
  ]);
  const t0 = Date.now();
  await w.writeManifest('web.yaml', pod);
  const seen = await agent.waitFor('the pod in /pods', (ps) => findPod(ps, w, 'web'), 5000);
  t.ok(Date.now() - t0 < 1000, `the new file was seen within 1 s (${Date.now() - t0} ms)`);
  const name = `${w.prefix}-web-${w.nodeName}`;
  t.equal(seen.metadata!.name, name, 'static pod name is suffixed with the node name');
  const running = await agent.waitFor('Running and Ready', (ps) => {
    const p = findPod(ps, w, 'web');
    return podReady(p) && allRunning(p) && p;
  });
  const st = running.status!;
  t.equal(st.phase, 'Running');
  t.equal(st.qosClass, 'BestEffort');
  t.equal(st.hostIP, '127.0.0.1');
  const subnetBase = w.subnet.split('.').slice(0, 3).join('.');
  t.match(
    st.podIP,
    new RegExp(`^${subnetBase.replace(/\./g, '\\.')}\\.\\d+$`),
    `pod IP ${st.podIP} is in the test subnet ${w.subnet}`,
  );
  t.same(st.podIPs, [{ ip: st.podIP }]);
  t.ok(st.startTime, 'startTime set');
  for (const type of ['PodScheduled', 'PodReadyToStartContainers', 'Initialized', 'ContainersReady', 'Ready']) {
    t.equal(st.conditions!.find((c) => c.type === type)?.status, 'True', `${type} is True`);
  }
  const cs = st.containerStatuses![0]!;
  t.match(cs, { name: 'demo', image: IMAGES.demo, ready: true, started: true, restartCount: 0 });
  t.match(cs.containerID, /^docker:\/\/[0-9a-f]{64}$/);
  t.match(cs.imageID, /^docker:\/\/sha256:[0-9a-f]{64}$/);

  // The pod answers on its IP (a namespace the test created, through its own bridge), with the
  // downward API values it was given.
  const body = await (await fetch(`http://${st.podIP}:8080/`, { signal: AbortSignal.timeout(5000) })).text();
  t.equal(body.trim(), `pod=${name} ip=${st.podIP} node=${w.nodeName}`);

  // Docker objects are named and labelled so a reader knows what they are.
  const uid = running.metadata!.uid!;
  const list = await w.containers();
  const names = list.map((c) => c.Names[0]!.replace(/^\//, '')).sort();
  t.same(names, [`k8s_POD_${name}_${w.prefix}_${uid}_0`, `k8s_demo_${name}_${w.prefix}_${uid}_0`]);
  const app = list.find((c) => c.Labels['io.kubernetes.container.name'] === 'demo')!;
  const sandbox = list.find((c) => c.Labels['io.kubernetes.docker.type'] === 'podsandbox')!;
  t.match(app.Labels, {
    'io.kubernetes.pod.name': name,
    'io.kubernetes.pod.namespace': w.prefix,
    'io.kubernetes.pod.uid': uid,
    'io.kubernetes.sandbox.id': sandbox.Id,
  });
  const info = await w.docker.getContainer(app.Id).inspect();
  t.equal(info.HostConfig.NetworkMode, `container:${sandbox.Id}`, 'joins the sandbox network namespace');
  t.equal(info.HostConfig.IpcMode, `container:${sandbox.Id}`, 'and its IPC namespace');
  const sbInfo = await w.docker.getContainer(sandbox.Id).inspect();
  t.equal(sbInfo.HostConfig.NetworkMode, 'none', 'the sandbox starts with no network; CNI wires it');
  t.equal(sbInfo.Config.Image, IMAGES.pause);
  t.equal(info.HostConfig.CgroupParent, `${w.cgroupRoot}/kubepods/besteffort/pod${uid}`);
  const veths = (await run('ip', ['-o', 'link', 'show', 'master', w.bridge])).stdout.trim().split('\n').filter(Boolean);
  t.equal(veths.length, 1, 'one veth on the test bridge');

  // A changed file is a new pod (new UID from the content), seen within a second.
  const t1 = Date.now();
  await w.writeManifest('web.yaml', { ...pod, metadata: { ...pod.metadata, labels: { version: '2' } } });
  const replaced = await agent.waitFor(
    'the new UID',
    (ps) => {
      const p = findPod(ps, w, 'web');
      return p && p.metadata!.uid !== uid && p;
    },
    5000,
  );
  t.ok(Date.now() - t1 < 1000, `the change was seen within 1 s (${Date.now() - t1} ms)`);
  await agent.waitFor('the new pod running', (ps) => allRunning(findPod(ps, w, 'web')));
  const newUid = replaced.metadata!.uid!;
  await waitUntil(
    'the old pod is cleaned up',
    async () => (await w.containers()).every((c) => c.Labels['io.kubernetes.pod.uid'] === newUid),
    20_000,
  );

  // Delete: the pod goes from /pods within a second and nothing is left.
  const t2 = Date.now();
  await w.removeManifest('web.yaml');
  await agent.waitFor('the pod gone from /pods', (ps) => !findPod(ps, w, 'web'), 5000);
  t.ok(Date.now() - t2 < 1000, `the deletion was seen within 1 s (${Date.now() - t2} ms)`);
  await waitUntil('no container left', async () => (await w.containers()).length === 0, 20_000);
  t.same((await run('ip', ['-o', 'link', 'show', 'master', w.bridge])).stdout.trim(), '', 'no veth left on the bridge');
  const ipam = join(w.dir, 'ipam', `${w.prefix}-net`);
  const allocated = existsSync(ipam) ? (await readdir(ipam)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f)) : [];
  t.same(allocated, [], 'no address left allocated in host-local');
  t.notOk(existsSync(join(w.rootDir, 'pods', uid)), 'pod directory removed');
  t.notOk(existsSync(join(w.rootDir, 'pods', newUid)), 'pod directory of the replacement removed');
  t.notOk(existsSync(`/sys/fs/cgroup/cpu${w.cgroupRoot}/kubepods/besteffort/pod${newUid}`), 'pod cgroup removed');
  t.ok(agent.running, 'the agent is still up');
});

async function waitUntil(what: string, fn: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

t.test("a sandbox removed behind the agent's back: a new one is made, the old address released", async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  await w.writeManifest(
    'p.yaml',
    testPod(w, 'victim', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]),
  );
  const before = await agent.waitFor(
    'running',
    (ps) => allRunning(findPod(ps, w, 'victim')) && findPod(ps, w, 'victim'),
  );
  const sandbox = (await w.containers()).find((c) => c.Labels['io.kubernetes.docker.type'] === 'podsandbox')!;
  await w.docker.getContainer(sandbox.Id).remove({ force: true });
  const after = await agent.waitFor(
    'running in a new sandbox',
    (ps) => {
      const p = findPod(ps, w, 'victim');
      return allRunning(p) && p!.status!.containerStatuses![0]!.restartCount === 1 && p;
    },
    30_000,
  );
  t.not(
    after.status!.containerStatuses![0]!.containerID,
    before.status!.containerStatuses![0]!.containerID,
    'the app container was restarted in the new sandbox',
  );
  const ipam = join(w.dir, 'ipam', `${w.prefix}-net`);
  const deadline = Date.now() + 15_000;
  let allocated: string[] = [];
  while (Date.now() < deadline) {
    allocated = (await readdir(ipam)).filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f));
    if (allocated.length === 1) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  t.same(allocated, [after.status!.podIP], 'only the new address stays allocated');
});
