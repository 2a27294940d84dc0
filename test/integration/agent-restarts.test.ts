// Restarts and deaths: restartPolicy Always/OnFailure/Never, the crash-loop back-off growing
// (10 s, then 20 s), restartCount and lastState, garbage collection of dead instances (and never
// of another agent's containers), liveness failures restarting a container with a message,
// readiness showing in the status at once, and deletion with preStop hooks and the grace period.
import t from 'tap';
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { dockerExec } from '../../agent/contracts.js';
import { createWorld, testPod, findPod, allRunning, podReady, IMAGES } from '../fixtures/agent/world.js';

t.test('crash loop back-off grows; restartPolicy; garbage collection keeps one dead instance', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  // Another agent's dead container on the same Docker Engine: ours must never collect it.
  const foreign = await w.docker.createContainer({
    name: `k8s_x_${w.prefix}-foreign_${w.prefix}_u_0`,
    Image: IMAGES.busybox,
    Cmd: ['true'],
    Labels: { 'kubenode.io/instance': `${w.prefix}-other`, 'io.kubernetes.pod.uid': 'foreign' },
  });
  t.teardown(() => foreign.remove({ force: true }).catch(() => {}));

  const starts: number[] = [];
  const events = await w.docker.getEvents({
    filters: {
      type: ['container'],
      event: ['start'],
      label: [`kubenode.io/instance=${w.prefix}`, 'io.kubernetes.container.name=crash'],
    },
  });
  events.on('data', () => starts.push(Date.now()));
  t.teardown(() => (events as unknown as { destroy(): void }).destroy());

  await w.writeManifest('pods.yaml', [
    testPod(w, 'crash', [{ name: 'crash', image: IMAGES.busybox, command: ['sh', '-c', 'echo crashing; exit 1'] }]),
    testPod(w, 'onfailure', [{ name: 'ok', image: IMAGES.busybox, command: ['true'] }], { restartPolicy: 'OnFailure' }),
    testPod(w, 'never', [{ name: 'fail', image: IMAGES.busybox, command: ['sh', '-c', 'exit 3'] }], {
      restartPolicy: 'Never',
    }),
  ]);

  const succeeded = await agent.waitFor(
    'OnFailure pod Succeeded',
    (ps) => findPod(ps, w, 'onfailure')?.status?.phase === 'Succeeded' && findPod(ps, w, 'onfailure'),
  );
  t.match(succeeded.status!.containerStatuses![0], {
    restartCount: 0,
    state: { terminated: { exitCode: 0, reason: 'Completed' } },
  });
  const failed = await agent.waitFor(
    'Never pod Failed',
    (ps) => findPod(ps, w, 'never')?.status?.phase === 'Failed' && findPod(ps, w, 'never'),
  );
  t.match(failed.status!.containerStatuses![0], {
    restartCount: 0,
    state: { terminated: { exitCode: 3, reason: 'Error' } },
  });

  const b10 = await agent.waitFor(
    'CrashLoopBackOff 10s',
    (ps) => {
      const cs = findPod(ps, w, 'crash')?.status?.containerStatuses?.[0];
      return /back-off 10s/.test(cs?.state?.waiting?.message ?? '') && cs;
    },
    20_000,
  );
  t.equal(b10.state!.waiting!.reason, 'CrashLoopBackOff');
  t.match(b10.lastState, { terminated: { exitCode: 1, reason: 'Error' } });
  t.equal(b10.restartCount, 1, 'restarted once at once, then backed off');
  const b20 = await agent.waitFor(
    'CrashLoopBackOff 20s',
    (ps) => {
      const cs = findPod(ps, w, 'crash')?.status?.containerStatuses?.[0];
      return /back-off 20s/.test(cs?.state?.waiting?.message ?? '') && cs;
    },
    25_000,
  );
  t.equal(b20.restartCount, 2);
  await agent.waitFor('the fourth start', () => starts.length >= 4, 35_000);
  const gaps = starts.slice(1, 4).map((s, i) => (s - starts[i]!) / 1000);
  t.ok(gaps[0]! < 3, `first restart at once (${gaps[0]!.toFixed(1)} s)`);
  t.ok(gaps[1]! >= 9 && gaps[1]! < 14, `second after ~10 s (${gaps[1]!.toFixed(1)} s)`);
  t.ok(gaps[2]! >= 19 && gaps[2]! < 25, `third after ~20 s (${gaps[2]!.toFixed(1)} s): the back-off grows`);

  // Housekeeping (every 2 s here) keeps one dead instance per container.
  await new Promise((r) => setTimeout(r, 3000));
  const crashPod = findPod(await agent.pods(), w, 'crash')!;
  const dead = (await w.containers()).filter(
    (c) =>
      c.Labels['io.kubernetes.pod.uid'] === crashPod.metadata!.uid &&
      c.Labels['io.kubernetes.container.name'] === 'crash' &&
      c.State !== 'running',
  );
  t.ok(dead.length <= 1, `dead instances of the crashing container: ${dead.length} (at most 1 kept)`);
  t.ok(
    await foreign.inspect().then(
      () => true,
      () => false,
    ),
    "another agent's container is untouched by our garbage collection",
  );
  t.equal(
    (await agent.get(`/containerLogs/${w.prefix}/${crashPod.metadata!.name}/crash?previous=true`)).body.trim(),
    'crashing',
    'logs of the previous instance',
  );
});

t.test('liveness failure restarts the container with a message; readiness shows in the status at once', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  await w.writeManifest(
    'probed.yaml',
    testPod(
      w,
      'probed',
      [
        {
          name: 'web',
          image: IMAGES.demo,
          livenessProbe: {
            httpGet: { path: '/healthz', port: 8080 },
            initialDelaySeconds: 2,
            periodSeconds: 1,
            failureThreshold: 1,
            timeoutSeconds: 1,
          },
          readinessProbe: {
            httpGet: { path: '/ready', port: 'http' as unknown as number },
            periodSeconds: 1,
            failureThreshold: 1,
            timeoutSeconds: 1,
          },
          ports: [{ name: 'http', containerPort: 8080 }],
        },
      ],
      { terminationGracePeriodSeconds: 2 },
    ),
  );
  const ready = await agent.waitFor(
    'Ready',
    (ps) => podReady(findPod(ps, w, 'probed')) && findPod(ps, w, 'probed'),
    30_000,
  );
  const id = ready.status!.containerStatuses![0]!.containerID!.replace('docker://', '');

  const exec = async (cmd: string[]) => {
    const r = await dockerExec(w.docker, id, cmd, 5000);
    if (r.exitCode !== 0) throw new Error(`${cmd.join(' ')}: ${r.output}`);
  };
  await exec(['rm', '/www/ready']);
  const t0 = Date.now();
  await agent.waitFor('not Ready', (ps) => !podReady(findPod(ps, w, 'probed')), 10_000);
  t.ok(Date.now() - t0 < 4000, `readiness loss in the status after ${Date.now() - t0} ms`);
  const notReady = findPod(await agent.pods(), w, 'probed')!;
  t.equal(notReady.status!.containerStatuses![0]!.ready, false);
  t.equal(notReady.status!.containerStatuses![0]!.restartCount, 0, 'readiness never restarts');
  await exec(['touch', '/www/ready']);
  await agent.waitFor('Ready again', (ps) => podReady(findPod(ps, w, 'probed')), 10_000);

  await exec(['rm', '/www/healthz']);
  const restarted = await agent.waitFor(
    'restarted after the liveness failure',
    (ps) => {
      const cs = findPod(ps, w, 'probed')?.status?.containerStatuses?.[0];
      return cs && cs.restartCount === 1 && cs.state?.running && cs;
    },
    30_000,
  );
  t.not(restarted.containerID, `docker://${id}`, 'a new container instance');
  t.match(
    restarted.lastState?.terminated?.message,
    /liveness/i,
    `lastState says why: ${restarted.lastState?.terminated?.message}`,
  );
  t.ok(
    agent.logs.some((l) => /liveness/i.test(l) && /probed/.test(l)),
    'the agent logged the liveness kill',
  );
  await agent.waitFor('Ready after the restart', (ps) => podReady(findPod(ps, w, 'probed')), 20_000);
  const metrics = (await agent.get('/metrics')).body;
  t.match(metrics, /prober_probe_total\{[^}]*probe_type="Liveness"/, 'prober metrics are in /metrics');
  t.match(metrics, /kubelet_running_pods 1/);
});

t.test('deletion: preStop hooks (exec and httpGet), SIGTERM, SIGKILL after the grace period', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  const hits: string[] = [];
  const server = createServer((req, res) => {
    hits.push(req.url ?? '');
    res.end('ok');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server.close(() => r())));
  const port = (server.address() as { port: number }).port;
  const hostDir = join(w.dir, 'hostdata');
  const pod: V1Pod = testPod(
    w,
    'stubborn',
    [
      {
        // Ignores SIGTERM: only SIGKILL, after the grace period, ends it.
        name: 'stubborn',
        image: IMAGES.busybox,
        command: ['sh', '-c', 'trap "" TERM; while :; do sleep 1; done'],
        volumeMounts: [{ name: 'data', mountPath: '/data' }],
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo bye > /data/prestop'] } } },
      },
      {
        name: 'polite',
        image: IMAGES.busybox,
        command: ['sleep', '3600'],
        lifecycle: { preStop: { httpGet: { host: '127.0.0.1', port, path: '/prestop' } } },
      },
    ],
    {
      terminationGracePeriodSeconds: 3,
      volumes: [{ name: 'data', hostPath: { path: hostDir, type: 'DirectoryOrCreate' } }],
    },
  );
  await w.writeManifest('stubborn.yaml', pod);
  await agent.waitFor('running', (ps) => allRunning(findPod(ps, w, 'stubborn')), 30_000);
  const t0 = Date.now();
  await w.removeManifest('stubborn.yaml');
  for (;;) {
    if ((await w.containers()).length === 0) break;
    if (Date.now() - t0 > 20_000) throw new Error('pod not removed');
    await new Promise((r) => setTimeout(r, 100));
  }
  const took = (Date.now() - t0) / 1000;
  t.ok(
    took >= 2.5 && took < 9,
    `the SIGTERM-ignoring container was killed after the 3 s grace period (${took.toFixed(1)} s)`,
  );
  t.equal((await readFile(join(hostDir, 'prestop'), 'utf8')).trim(), 'bye', 'the exec preStop hook ran');
  t.same(hits, ['/prestop'], 'the httpGet preStop hook ran');
});
