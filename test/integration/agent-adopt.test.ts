// An agent killed with SIGKILL and started again adopts the running pods, found by their container
// labels: same container IDs, same StartedAt, no restart. A pod whose manifest went away while the
// agent was down is stopped and cleaned up once the sources have spoken.
import t from 'tap';
import { run } from '../../lib/exec.js';
import { createWorld, testPod, findPod, allRunning, podReady, IMAGES } from '../fixtures/agent/world.js';

t.test('SIGKILL the agent and start it again: running containers are untouched', async (t) => {
  const w = await createWorld(t);
  const first = await w.startAgent();
  await w.writeManifest(
    'keep.yaml',
    testPod(w, 'keep', [
      {
        name: 'web',
        image: IMAGES.demo,
        readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
      },
      {
        name: 'side',
        image: IMAGES.busybox,
        command: ['sleep', '3600'],
        resources: { limits: { cpu: '100m', memory: '16Mi' } },
      },
    ]),
  );
  await w.writeManifest(
    'gone.yaml',
    testPod(w, 'gone', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]),
  );
  const before = await first.waitFor(
    'both pods ready',
    (ps) => podReady(findPod(ps, w, 'keep')) && allRunning(findPod(ps, w, 'gone')) && ps,
    40_000,
  );
  const keep = findPod(before, w, 'keep')!;
  const snapshot = async () =>
    Promise.all(
      (await w.containers())
        .filter((c) => c.Labels['io.kubernetes.pod.uid'] === keep.metadata!.uid)
        .map(async (c) => {
          const i = await w.docker.getContainer(c.Id).inspect();
          return `${i.Id} ${i.State.StartedAt} ${i.State.Running}`;
        }),
    ).then((l) => l.sort());
  const was = await snapshot();
  t.equal(was.length, 3, 'sandbox and two containers');

  await first.kill9();
  t.notOk(first.running, 'the agent is dead');
  await w.removeManifest('gone.yaml'); // while nobody watches
  const second = await w.startAgent();
  const after = await second.waitFor(
    'the kept pod Ready under the new agent',
    (ps) => podReady(findPod(ps, w, 'keep')) && findPod(ps, w, 'keep'),
    20_000,
  );
  t.same(await snapshot(), was, 'same container IDs, same StartedAt, all still running');
  t.equal(after.status!.podIP, keep.status!.podIP, 'the pod IP is known again');
  t.same(
    after.status!.containerStatuses!.map((c) => c.restartCount),
    [0, 0],
  );
  t.same(
    after.status!.containerStatuses!.map((c) => c.containerID),
    keep.status!.containerStatuses!.map((c) => c.containerID),
  );
  t.notOk(
    second.logs.some(
      (l) => /creating pod sandbox|started container|killing container.*keep/.test(l) && l.includes('-keep-'),
    ),
    'nothing of the kept pod was created or killed',
  );

  // The pod that lost its manifest while the agent was down: stopped, removed, its address freed.
  const goneUid = findPod(before, w, 'gone')!.metadata!.uid;
  const deadline = Date.now() + 20_000;
  while ((await w.containers()).some((c) => c.Labels['io.kubernetes.pod.uid'] === goneUid)) {
    if (Date.now() > deadline) throw new Error('the orphaned pod was not cleaned up');
    await new Promise((r) => setTimeout(r, 200));
  }
  t.ok(
    second.logs.some((l) => l.includes('orphaned pod') && l.includes(goneUid!)),
    'logged as an orphan',
  );
  const veths = (await run('ip', ['-o', 'link', 'show', 'master', w.bridge])).stdout.trim().split('\n').filter(Boolean);
  t.equal(veths.length, 1, 'only the kept pod has a veth');

  // SIGTERM stops the agent, not the pods.
  await second.stop();
  t.same(await snapshot(), was, 'a stopped agent leaves pods running');
  const third = await w.startAgent();
  await third.waitFor('adopted again', (ps) => podReady(findPod(ps, w, 'keep')));
  t.same(await snapshot(), was);
});
