// Native sidecars (init containers with restartPolicy Always) with real containers: the regular
// init container starts only once the sidecar is started (its startup probe passed), the pod
// reaches Running with the sidecar running beside the app, the sidecar's readiness gates the
// pod's, a killed sidecar is restarted alone, and on deletion the app stops first, then the
// sidecars in reverse order; a Never pod whose app completed is Succeeded, its sidecar stopped.
import t from 'tap';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { createWorld, testPod, findPod, IMAGES } from '../fixtures/agent/world.js';

const ready = (p: V1Pod | undefined, type = 'Ready') => p?.status?.conditions?.find((c) => c.type === type);

/** A busybox shell loop that ends `onTerm` seconds after SIGTERM (0: at once). */
function loop(onTerm: number, before = ''): string[] {
  return ['sh', '-c', `trap 'sleep ${onTerm}; exit 0' TERM; ${before} while :; do sleep 0.2; done`];
}

t.test(
  'sidecars start before the next init container, run beside the app, restart alone, stop after the app in reverse order',
  async (t) => {
    const w = await createWorld(t);
    const agent = await w.startAgent();
    const sidecar = (name: string, c: Partial<V1Container>): V1Container => ({
      name,
      image: IMAGES.busybox,
      imagePullPolicy: 'IfNotPresent',
      restartPolicy: 'Always',
      ...c,
    });
    const pod = testPod(
      w,
      'sc',
      [
        // The app ends 2 s after SIGTERM: a sidecar signalled at the same time would die first.
        {
          name: 'app',
          image: IMAGES.busybox,
          command: loop(2),
          volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
        },
      ],
      {
        terminationGracePeriodSeconds: 15,
        volumes: [{ name: 'shared', emptyDir: {} }],
        initContainers: [
          // Ends at once on SIGTERM: defined first, it must still be the last to stop.
          sidecar('first', {
            command: loop(0, 'sleep 2; touch /shared/started;'),
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
            startupProbe: {
              exec: { command: ['test', '-f', '/shared/started'] },
              periodSeconds: 1,
              failureThreshold: 30,
            },
            readinessProbe: { exec: { command: ['test', '-f', '/tmp/ready'] }, periodSeconds: 1 },
          }),
          // Fails unless the first sidecar is started: it proves the wait for the startup probe.
          {
            name: 'setup',
            image: IMAGES.busybox,
            imagePullPolicy: 'IfNotPresent',
            command: ['test', '-f', '/shared/started'],
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
          },
          // Ends 1 s after SIGTERM: the first sidecar waits for it.
          sidecar('second', { command: loop(1) }),
        ],
      },
    );
    await w.writeManifest('sc.yaml', pod);

    const running = await agent.waitFor(
      'app running, sidecars running',
      (ps) => {
        const p = findPod(ps, w, 'sc');
        return p?.status?.phase === 'Running' && p.status.containerStatuses?.[0]?.state?.running && p;
      },
      60_000,
    );
    const [first, setup, second] = running.status!.initContainerStatuses!;
    t.match(
      setup,
      { name: 'setup', ready: true, restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
      'the init container ran once, after the sidecar was started',
    );
    t.same(setup!.lastState, {}, 'it never failed (it did not run before the startup probe passed)');
    t.match(first, { name: 'first', started: true, ready: false, state: { running: {} } });
    t.match(second, { name: 'second', started: true, ready: true, state: { running: {} } });
    t.equal(ready(running, 'Initialized')?.status, 'True');
    t.match(
      ready(running),
      { status: 'False', reason: 'ContainersNotReady', message: 'containers with unready status: [first]' },
      "the sidecar's readiness gates the pod's",
    );

    const docker = async (name: string) =>
      (await w.containers()).find((c) => c.Labels['io.kubernetes.container.name'] === name && c.State === 'running');
    await w.docker
      .getContainer((await docker('first'))!.Id)
      .exec({ Cmd: ['touch', '/tmp/ready'] })
      .then((e) => e.start({}));
    const readyPod = await agent.waitFor('Ready once the sidecar is ready', (ps) => {
      const p = findPod(ps, w, 'sc');
      return ready(p)?.status === 'True' && p;
    });
    t.equal(readyPod.status!.initContainerStatuses![0]!.ready, true);

    // docker kill: the sidecar alone is restarted, the app keeps running.
    const appId = readyPod.status!.containerStatuses![0]!.containerID;
    await w.docker.getContainer((await docker('second'))!.Id).kill();
    const restarted = await agent.waitFor('the killed sidecar restarted', (ps) => {
      const s = findPod(ps, w, 'sc')?.status;
      return s?.initContainerStatuses?.[2]?.restartCount === 1 && s.initContainerStatuses[2].state?.running && s;
    });
    t.match(restarted.initContainerStatuses![2]!.lastState, { terminated: { exitCode: 137 } });
    t.match(
      restarted.containerStatuses![0],
      { containerID: appId, restartCount: 0, state: { running: {} } },
      'the app was not restarted',
    );
    t.match(
      restarted.initContainerStatuses![1],
      { restartCount: 0, state: { terminated: { exitCode: 0 } } },
      'nor the init container run again',
    );
    t.equal(restarted.phase, 'Running');

    // Deletion: the order the containers die in, from Docker's own events.
    const died: { name: string; at: number }[] = [];
    const events = await w.docker.getEvents({
      filters: { type: ['container'], event: ['die'], label: [`io.kubernetes.pod.uid=${readyPod.metadata!.uid}`] },
    });
    events.on('data', (b: Buffer) => {
      for (const line of b.toString().split('\n').filter(Boolean)) {
        const e = JSON.parse(line) as { timeNano: number; Actor: { Attributes: Record<string, string> } };
        const name = e.Actor.Attributes['io.kubernetes.container.name'];
        if (name && name !== 'POD') died.push({ name, at: e.timeNano });
      }
    });
    t.teardown(() => (events as unknown as { destroy(): void }).destroy());
    await w.removeManifest('sc.yaml');
    await agent.waitFor('the pod gone', (ps) => !findPod(ps, w, 'sc'), 30_000);
    for (let i = 0; i < 50 && died.length < 3; i++) await new Promise((r) => setTimeout(r, 100));
    t.same(
      died.sort((a, b) => a.at - b.at).map((d) => d.name),
      ['app', 'second', 'first'],
      'app first, then the sidecars in reverse order of definition',
    );
  },
);

t.test("restartPolicy Never: the app completes, the sidecar is stopped, the phase is the app's", async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  for (const [name, code, phase] of [
    ['ok', 0, 'Succeeded'],
    ['bad', 3, 'Failed'],
  ] as const) {
    await w.writeManifest(
      `${name}.yaml`,
      testPod(w, name, [{ name: 'app', image: IMAGES.busybox, command: ['sh', '-c', `sleep 2; exit ${code}`] }], {
        restartPolicy: 'Never',
        initContainers: [
          {
            name: 'logger',
            image: IMAGES.busybox,
            imagePullPolicy: 'IfNotPresent',
            restartPolicy: 'Always',
            command: loop(0),
          },
        ],
      }),
    );
    const done = await agent.waitFor(
      `${name}: ${phase}`,
      (ps) => {
        const p = findPod(ps, w, name);
        return p?.status?.phase === phase && p;
      },
      60_000,
    );
    const app = done.status!.containerStatuses![0]!.state!.terminated!;
    const logger = done.status!.initContainerStatuses![0]!;
    t.equal(app.exitCode, code);
    t.ok(logger.state?.terminated, `${name}: the sidecar is stopped`);
    t.equal(logger.restartCount, 0, `${name}: and not restarted`);
    t.ok(
      new Date(logger.state!.terminated!.finishedAt!).getTime() >= new Date(app.finishedAt!).getTime(),
      `${name}: the sidecar finished after the app`,
    );
    t.ok(
      (await w.containers()).every(
        (c) => c.Labels['io.kubernetes.pod.uid'] !== done.metadata!.uid || c.State !== 'running',
      ),
      `${name}: nothing of the pod runs`,
    );
  }
});
