// Native sidecars through the real apiserver: what `kubectl get pod` shows (the apiserver's own
// table printer reading our status) is what it shows for kubelet: Init:1/2 (READY 1/2: the
// started sidecar is ready) while the regular init container runs, then Running with READY 2/2
// (the sidecar counts), and the sidecar's restarts in RESTARTS once it was killed and restarted.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { IMAGES } from '../fixtures/agent/world.js';
import { joinAgent } from '../harness/joined-agent.js';
import { requireProgram } from '../harness/require.js';
import { until } from '../harness/until.js';

t.test('kubectl get pod: Init:1/2, then Running 2/2, sidecar restarts counted', async (t) => {
  requireProgram('kubectl');
  const { cp, world: w, ns } = await joinAgent(t);
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'sc', namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 2,
      initContainers: [
        {
          name: 'tail',
          image: IMAGES.busybox,
          imagePullPolicy: 'IfNotPresent',
          restartPolicy: 'Always',
          command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.2; done'],
        },
        { name: 'setup', image: IMAGES.busybox, imagePullPolicy: 'IfNotPresent', command: ['sleep', '6'] },
      ],
      containers: [
        {
          name: 'app',
          image: IMAGES.busybox,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.2; done'],
        },
      ],
    },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  // NAME READY STATUS RESTARTS AGE, as the apiserver prints it.
  const row = async () => (await cp.kubectl(['-n', ns, 'get', 'pod', 'sc', '--no-headers'])).stdout.trim().split(/\s+/);
  const seen: string[] = [];
  const running = await until(
    'Running 2/2',
    120_000,
    async () => {
      const r = await row();
      if (seen.at(-1) !== `${r[1]} ${r[2]}`) seen.push(`${r[1]} ${r[2]}`);
      return r[2] === 'Running' && r[1] === '2/2' ? r : undefined;
    },
    200,
  );
  // READY counts a started, ready sidecar even during initialisation (kubectl's printer does).
  t.ok(
    seen.includes('1/2 Init:1/2'),
    `Init:1/2, the sidecar ready, while the init container ran (seen: ${seen.join(', ')})`,
  );
  t.same(seen.slice(seen.indexOf('1/2 Init:1/2')), ['1/2 Init:1/2', '2/2 Running'], 'then straight to Running');
  t.equal(running[3], '0', 'no restarts');

  const sidecar = (await w.containers()).find(
    (c) => c.Labels['io.kubernetes.container.name'] === 'tail' && c.State === 'running',
  );
  t.ok(sidecar, 'the sidecar runs in Docker');
  await w.docker.getContainer(sidecar!.Id).kill();
  const after = await until(
    'the sidecar restarted',
    60_000,
    async () => {
      const r = await row();
      return r[3] === '1' && r[2] === 'Running' && r[1] === '2/2' ? r : undefined;
    },
    200,
  );
  t.equal(after[2], 'Running', `RESTARTS counts the sidecar's restart (${after.join(' ')})`);
  // The status that first counts the restart can come from a relist that has the new instance
  // but not yet the old one's end (a loaded machine); the end follows in the next status write.
  const json = await until(
    "the sidecar's lastState",
    30_000,
    async () => {
      const p = JSON.parse((await cp.kubectl(['-n', ns, 'get', 'pod', 'sc', '-o', 'json'])).stdout) as V1Pod;
      return p.status?.initContainerStatuses?.[0]?.lastState?.terminated ? p : undefined;
    },
    500,
  );
  t.match(json.status!.initContainerStatuses![0], {
    name: 'tail',
    restartCount: 1,
    started: true,
    ready: true,
    lastState: { terminated: { exitCode: 137 } },
  });
  t.match(json.status!.containerStatuses![0], { name: 'app', restartCount: 0 });
  await cp.kubectl(['-n', ns, 'delete', 'pod', 'sc', '--wait=true', '--timeout=60s']);
});
