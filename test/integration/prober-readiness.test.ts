// Readiness against real containers: removing the readiness file makes the container not ready
// within periodSeconds x failureThreshold (+1 period), restoring it makes it ready again; an
// httpGet probe (the demo app's /ready) and an exec probe (a file) side by side.
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

const PERIOD = 1;
const FAILURES = 2;
const bound = (PERIOD * FAILURES + PERIOD) * 1000;

const web: V1Container = {
  name: 'web',
  image: IMAGES.demo,
  ports: [{ name: 'http', containerPort: 8080 }],
  readinessProbe: { httpGet: { port: 'http', path: '/ready' }, periodSeconds: PERIOD, failureThreshold: FAILURES },
};
const worker: V1Container = {
  name: 'worker',
  image: IMAGES.busybox,
  readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: PERIOD, failureThreshold: FAILURES },
};
const pod: V1Pod = {
  metadata: { name: 'readiness', namespace: 'default', uid: `${prefix}-uid` },
  spec: { containers: [web, worker] },
};

async function start(c: V1Container, cmd?: string[]) {
  const ctr = await docker.createContainer({
    name: `${prefix}-${c.name}`,
    Image: c.image,
    Cmd: cmd,
    Labels: { [TEST_LABEL]: prefix },
    HostConfig: { NetworkMode: 'bridge' },
  });
  await ctr.start();
  const info = await ctr.inspect();
  const ip = info.NetworkSettings.Networks.bridge?.IPAddress;
  if (!ip) throw new Error(`container ${info.Name} has no IP on Docker's default bridge`);
  return { id: info.Id, ip };
}

t.test('readiness follows the readiness file, within period x failureThreshold (+1 period)', async (t) => {
  t.same(validateProbes(pod), [], 'the pod is valid');
  const changes: (ProbeChange & { at: number })[] = [];
  const waiters: { match: (c: ProbeChange) => boolean; resolve: (at: number) => void }[] = [];
  const m = new ProbeManager({
    logger: createLogger('agent', { sink: () => {} }),
    onChange: (c) => {
      const at = Date.now();
      changes.push({ ...c, at });
      for (const w of waiters.splice(0)) w.match(c) ? w.resolve(at) : waiters.push(w);
    },
  });
  t.teardown(() => m.stop());
  const next = (name: string, result: 'success' | 'failure', timeoutMs: number) =>
    new Promise<number>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`${name} did not become ${result} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      waiters.push({
        match: (c) => c.containerName === name && c.type === 'readiness' && c.result === result,
        resolve: (at) => (clearTimeout(timer), resolve(at)),
      });
    });

  const w = await start(web);
  const k = await start(worker, [
    'sh',
    '-c',
    "touch /tmp/ready; trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done",
  ]);
  const readyWeb = next('web', 'success', 5000);
  const readyWorker = next('worker', 'success', 5000);
  m.addContainer(
    pod.metadata!.uid!,
    dockerProbeTarget({ exec, pod, container: web, containerId: w.id, podIP: () => w.ip }),
  );
  m.addContainer(
    pod.metadata!.uid!,
    dockerProbeTarget({ exec, pod, container: worker, containerId: k.id, podIP: () => k.ip }),
  );
  t.notOk(m.isReady(pod.metadata!.uid!, 'web'), 'not ready before the first probe');
  // httpd may need a moment to listen: the first probes may fail; still ready within the bound.
  await Promise.all([readyWeb, readyWorker]);
  t.ok(m.isReady(pod.metadata!.uid!, 'web') && m.isReady(pod.metadata!.uid!, 'worker'), 'both ready');

  for (let round = 1; round <= 2; round++) {
    const unreadyWeb = next('web', 'failure', bound + 2000);
    const unreadyWorker = next('worker', 'failure', bound + 2000);
    // Timestamps taken before each removal starts: the measured delay can only be longer than the real one.
    const removedWeb = Date.now();
    await dockerExec(docker, w.id, ['rm', '/www/ready'], 5000);
    const removedWorker = Date.now();
    await dockerExec(docker, k.id, ['rm', '/tmp/ready'], 5000);
    const [a, b] = await Promise.all([unreadyWeb, unreadyWorker]);
    t.ok(
      a - removedWeb <= bound,
      `round ${round}: web (httpGet) not ready ${a - removedWeb} ms after the file went (bound ${bound} ms)`,
    );
    t.ok(
      b - removedWorker <= bound,
      `round ${round}: worker (exec) not ready ${b - removedWorker} ms after the file went`,
    );
    t.notOk(m.isReady(pod.metadata!.uid!, 'web'));
    t.notOk(m.isReady(pod.metadata!.uid!, 'worker'));
    t.match(
      changes.at(-1)!.message,
      /HTTP probe failed with statuscode: 404|exit code 1: cat: can't open '\/tmp\/ready'/,
    );

    const readyAgainWeb = next('web', 'success', bound + 2000);
    const readyAgainWorker = next('worker', 'success', bound + 2000);
    const restoredWeb = Date.now();
    await dockerExec(docker, w.id, ['sh', '-c', 'echo ready > /www/ready'], 5000);
    const restoredWorker = Date.now();
    await dockerExec(docker, k.id, ['touch', '/tmp/ready'], 5000);
    const [c, d] = await Promise.all([readyAgainWeb, readyAgainWorker]);
    // successThreshold 1: the next probe, at most one period away (+1 period of slack).
    t.ok(c - restoredWeb <= 2 * PERIOD * 1000, `round ${round}: web ready again ${c - restoredWeb} ms after restore`);
    t.ok(
      d - restoredWorker <= 2 * PERIOD * 1000,
      `round ${round}: worker ready again ${d - restoredWorker} ms after restore`,
    );
    t.ok(m.isReady(pod.metadata!.uid!, 'web') && m.isReady(pod.metadata!.uid!, 'worker'));
  }
  const perContainer = (name: string) => changes.filter((c) => c.containerName === name).map((c) => c.result);
  t.same(
    perContainer('web'),
    ['success', 'failure', 'success', 'failure', 'success'],
    'web: exactly one change per transition',
  );
  t.same(
    perContainer('worker'),
    ['success', 'failure', 'success', 'failure', 'success'],
    'worker: exactly one change per transition',
  );
  const metrics = m.metricsText();
  t.match(
    metrics,
    /prober_probe_total\{probe_type="Readiness",result="failed",container="web",pod="readiness",namespace="default"\} [1-9]/,
  );
  t.match(
    metrics,
    /prober_probe_total\{probe_type="Readiness",result="successful",container="worker",pod="readiness",namespace="default"\} [1-9]/,
  );
  m.removePod(pod.metadata!.uid!);
  t.notOk(m.isReady(pod.metadata!.uid!, 'web'), 'removed: not ready');
});
