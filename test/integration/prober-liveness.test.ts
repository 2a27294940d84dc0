// Liveness and startup against real containers. The restart itself is the pod worker's job;
// what the prober owes it is asserted here: a liveness failure is reported once per threshold
// crossing, a new container instance (new containerId) is probed from scratch, and a slow
// starter's liveness probe is held back until its startup probe succeeds.
import t from 'tap';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import { runPrefix } from '../harness/prefix.js';
import { requireRoot } from '../harness/require.js';
import { IMAGES, removeContainersAtTeardown, requireDocker, requireImage, TEST_LABEL } from '../harness/docker.js';
import { ProbeManager, type ProbeChange } from '../../agent/prober/manager.js';
import { validateProbes } from '../../agent/podspec/probe-validation.js';
import { dockerProbeTarget } from '../../agent/runtime/docker-target.js';
import { dockerExec } from '../../agent/runtime/docker-exec.js';

requireRoot();
const docker = await requireDocker();
/** What the agent's runtime gives the prober (ContainerRuntime.exec), on this test's Docker client. */
const exec = (id: string, cmd: string[], timeoutMs: number) => dockerExec(docker, id, cmd, timeoutMs);
await requireImage(docker, IMAGES.demo);
await requireImage(docker, IMAGES.busybox);
const prefix = runPrefix();
removeContainersAtTeardown(t, docker, prefix);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let seq = 0;
async function start(c: V1Container, cmd?: string[]) {
  const ctr = await docker.createContainer({
    name: `${prefix}-${c.name}-${seq++}`,
    Image: c.image,
    Cmd: cmd,
    Labels: { [TEST_LABEL]: prefix },
    HostConfig: { NetworkMode: 'bridge' },
  });
  await ctr.start();
  const info = await ctr.inspect();
  const ip = info.NetworkSettings.Networks.bridge?.IPAddress;
  if (!ip) throw new Error(`container ${info.Name} has no IP on Docker's default bridge`);
  return { id: info.Id, ip, remove: () => ctr.remove({ force: true }) };
}

function manager(t: { teardown(fn: () => unknown): void }) {
  const changes: (ProbeChange & { at: number })[] = [];
  const lines: string[] = [];
  const m = new ProbeManager({
    logger: createLogger('agent', { sink: (l) => lines.push(l) }),
    onChange: (c) => changes.push({ ...c, at: Date.now() }),
  });
  t.teardown(() => m.stop());
  const until = async (what: string, pred: () => boolean, timeoutMs: number) => {
    const end = Date.now() + timeoutMs;
    while (!pred()) {
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
      await sleep(50);
    }
  };
  return { m, changes, lines, until };
}

t.test(
  'a liveness endpoint that starts failing is reported once per threshold crossing; a new instance starts over',
  async (t) => {
    const web: V1Container = {
      name: 'web',
      image: IMAGES.demo,
      ports: [{ name: 'http', containerPort: 8080 }],
      livenessProbe: {
        httpGet: { port: 'http', path: '/healthz' },
        periodSeconds: 1,
        failureThreshold: 2,
        initialDelaySeconds: 1,
      },
    };
    const pod: V1Pod = {
      metadata: { name: 'alive', namespace: 'default', uid: `${prefix}-alive` },
      spec: { containers: [web] },
    };
    t.same(validateProbes(pod), []);
    const { m, changes, lines, until } = manager(t);
    const uid = pod.metadata!.uid!;

    const first = await start(web);
    m.addContainer(uid, dockerProbeTarget({ exec, pod, container: web, containerId: first.id, podIP: () => first.ip }));
    await sleep(3000);
    t.same(changes, [], 'healthy: nothing to report');
    t.match(
      m.metricsText(),
      /probe_type="Liveness",result="successful",container="web",pod="alive",namespace="default"\} [2-9]/,
      'it was probed',
    );

    const broken = Date.now();
    await dockerExec(docker, first.id, ['rm', '/www/healthz'], 5000);
    await until('the liveness failure', () => changes.length > 0, 4000);
    t.same(
      changes.map((c) => [c.type, c.result, c.containerId]),
      [['liveness', 'failure', first.id]],
    );
    t.equal(changes[0]!.message, 'HTTP probe failed with statuscode: 404');
    t.ok(
      changes[0]!.at - broken <= 3000,
      `reported ${changes[0]!.at - broken} ms after the endpoint broke (2 failures at 1 s)`,
    );
    t.ok(
      lines.some(
        (l) =>
          l.includes('"msg":"Unhealthy"') &&
          l.includes('Liveness probe failed: HTTP probe failed with statuscode: 404'),
      ),
      'Unhealthy log line with the status code',
    );
    await sleep(3000);
    t.equal(changes.length, 1, 'reported once: the old instance is not probed any more');
    t.ok(m.isReady(uid, 'web'), 'liveness does not drive readiness');

    // What the pod worker does next: kill the instance and start a new one, then tell the prober.
    await first.remove();
    const second = await start(web);
    m.addContainer(
      uid,
      dockerProbeTarget({ exec, pod, container: web, containerId: second.id, podIP: () => second.ip }),
    );
    await sleep(3500);
    t.equal(changes.length, 1, 'the new instance is healthy: no report');
    const failedBefore = Number(/probe_type="Liveness",result="failed"[^}]*\} (\d+)/.exec(m.metricsText())?.[1]);
    await dockerExec(docker, second.id, ['rm', '/www/healthz'], 5000);
    await until('the second liveness failure', () => changes.length > 1, 4000);
    t.same(
      changes.map((c) => [c.type, c.result, c.containerId]),
      [
        ['liveness', 'failure', first.id],
        ['liveness', 'failure', second.id],
      ],
      'counted from scratch for the new instance',
    );
    const failedAfter = Number(/probe_type="Liveness",result="failed"[^}]*\} (\d+)/.exec(m.metricsText())?.[1]);
    t.equal(failedAfter - failedBefore, 2, 'exactly failureThreshold failed probes for the new instance');
    m.removeContainer(uid, 'web');
    t.notOk(m.isReady(uid, 'web'));
  },
);

t.test('a slow starter: liveness is held back until the startup probe succeeds', async (t) => {
  const STARTUP_MS = 4000;
  // Both containers become "up" (create /tmp/up) after 4 s. Their liveness probe fails until
  // then, with failureThreshold 1: it would fire at once if it ran.
  const boot = [
    'sh',
    '-c',
    `sleep ${STARTUP_MS / 1000}; touch /tmp/up; trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done`,
  ];
  const check = { exec: { command: ['test', '-f', '/tmp/up'] } };
  const slow: V1Container = {
    name: 'slow',
    image: IMAGES.busybox,
    startupProbe: { ...check, periodSeconds: 1, failureThreshold: 15 },
    livenessProbe: { ...check, periodSeconds: 1, failureThreshold: 1 },
    readinessProbe: { ...check, periodSeconds: 10 },
  };
  // The same container without a startup probe: proof that the liveness probe would fail.
  const hasty: V1Container = {
    name: 'hasty',
    image: IMAGES.busybox,
    livenessProbe: { ...check, periodSeconds: 1, failureThreshold: 1 },
  };
  const pod: V1Pod = {
    metadata: { name: 'slow', namespace: 'default', uid: `${prefix}-slow` },
    spec: { containers: [slow, hasty] },
  };
  t.same(validateProbes(pod), []);
  const { m, changes, until } = manager(t);
  const uid = pod.metadata!.uid!;
  const [a, b] = await Promise.all([start(slow, boot), start(hasty, boot)]);
  const t0 = Date.now();
  m.addContainer(uid, dockerProbeTarget({ exec, pod, container: slow, containerId: a.id, podIP: () => a.ip }));
  m.addContainer(uid, dockerProbeTarget({ exec, pod, container: hasty, containerId: b.id, podIP: () => b.ip }));
  t.notOk(m.isStarted(uid, 'slow'), 'not started');
  t.notOk(m.isReady(uid, 'slow'), 'a container not yet started is not ready');

  await until(
    'the startup probe to succeed',
    () => changes.some((c) => c.containerName === 'slow' && c.type === 'startup'),
    STARTUP_MS + 5000,
  );
  const started = changes.find((c) => c.containerName === 'slow' && c.type === 'startup')!;
  t.equal(started.result, 'success');
  t.ok(
    started.at - t0 >= STARTUP_MS - 1500,
    `startup succeeded after ${started.at - t0} ms, once the container was up`,
  );
  t.ok(m.isStarted(uid, 'slow'));
  await until('readiness right after startup', () => m.isReady(uid, 'slow'), 2000);
  t.pass('ready within moments of starting, though its readiness period is 10 s');
  await sleep(2000);

  const slowLiveness = changes.filter((c) => c.containerName === 'slow' && c.type === 'liveness');
  t.same(slowLiveness, [], 'the slow starter was never reported dead');
  const hastyLiveness = changes.filter((c) => c.containerName === 'hasty' && c.type === 'liveness');
  t.same(
    hastyLiveness.map((c) => c.result),
    ['failure'],
    'without a startup probe, the same liveness probe fails',
  );
  t.ok(hastyLiveness[0]!.at < started.at, 'and it failed before the slow starter was up');
  t.match(hastyLiveness[0]!.message, /^exit code 1/);
  t.same(
    changes.filter((c) => c.containerName === 'slow').map((c) => [c.type, c.result]),
    [
      ['startup', 'success'],
      ['readiness', 'success'],
    ],
  );
});
