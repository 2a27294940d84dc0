// Ephemeral containers through the real apiserver: `kubectl debug` adds one to a running pod
// (the pods/ephemeralcontainers subresource); the agent starts it once in the pod's sandbox
// (network, IPC) sharing its target's PID namespace, reports it in ephemeralContainerStatuses
// (running, then terminated), never restarts it, and kills a running one with the pod.
import t from 'tap';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import type { V1ContainerStatus, V1Pod } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { IMAGES } from '../fixtures/agent/world.js';
import { SCRIPTS } from '../harness/control-plane.js';
import { joinAgent } from '../harness/joined-agent.js';
import { requireProgram } from '../harness/require.js';
import { until } from '../harness/until.js';

t.test('kubectl debug: an ephemeral container in the pod, run once, killed with the pod', async (t) => {
  requireProgram('kubectl');
  // No --read-only-port: a joined node's default is kubelet's, off.
  const { cp, world: w, ns, agent } = await joinAgent(t, { tls: true, defaultReadOnlyPort: true });
  const listening = (await run('ss', ['-Hltnp'])).stdout
    .split('\n')
    .filter((l) => l.includes(`pid=${agent.pid},`))
    .map((l) => l.split(/\s+/)[3]);
  t.ok(
    listening.length > 0 && !listening.some((a) => a?.endsWith(':10255')),
    `the joined agent listens on ${listening.join(' ')}: not on the read-only port 10255`,
  );
  t.notOk(
    agent.logs.some((l) => l.includes('read-only API listening')),
    'and its log says no read-only API was started',
  );
  const kubectl = (args: string[], allowFailure = false) => cp.kubectl(['-n', ns, ...args], { allowFailure });
  const getPod = async () => JSON.parse((await kubectl(['get', 'pod', 'app', '-o', 'json'])).stdout) as V1Pod;
  const app: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'app', namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        {
          name: 'main',
          image: IMAGES.busybox,
          imagePullPolicy: 'IfNotPresent',
          // Serves on the pod's loopback only: reachable from a container in the pod's network namespace, nowhere else.
          command: [
            'sh',
            '-c',
            'mkdir -p /www && echo served by main > /www/index.html && exec httpd -f -p 127.0.0.1:8080 -h /www',
          ],
        },
      ],
    },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(app) });
  await until('app Running', 90_000, async () => (await getPod()).status?.phase === 'Running');

  // kubectl debug (without -it) patches the ephemeralcontainers subresource and returns.
  const script = 'wget -q -O- http://127.0.0.1:8080/; ps -o comm | grep -x httpd; sleep 3; echo debugger done';
  await kubectl([
    'debug',
    'app',
    '-c',
    'debugger',
    `--image=${IMAGES.busybox}`,
    '--image-pull-policy=IfNotPresent',
    '--target=main',
    '--',
    'sh',
    '-c',
    script,
  ]);
  const debuggerStatus = async () =>
    (await getPod()).status?.ephemeralContainerStatuses?.find((c) => c.name === 'debugger');
  const running = await until(
    'the ephemeral container running',
    60_000,
    async () => {
      const s = await debuggerStatus();
      return s?.state?.running || s?.state?.terminated ? s : undefined;
    },
    200,
  );
  t.ok(running.state?.running, `ephemeralContainerStatuses shows it running (${JSON.stringify(running.state)})`);
  t.equal(running.ready, false, 'an ephemeral container is never ready');
  const ended: V1ContainerStatus = await until('the ephemeral container terminated', 60_000, async () => {
    const s = await debuggerStatus();
    return s?.state?.terminated ? s : undefined;
  });
  t.match(ended.state?.terminated, { exitCode: 0, reason: 'Completed' }, 'then terminated, with its exit code');
  const logs = (await kubectl(['logs', 'app', '-c', 'debugger'])).stdout;
  t.match(logs, /^served by main\n/, "it reaches the app on the pod's loopback: the pod's network namespace");
  t.match(logs, /^httpd$/m, "it sees the target's processes: the target container's PID namespace");
  t.match(logs, /debugger done\n$/, 'and ran to its end');
  const pod = await getPod();
  t.equal(pod.status?.phase, 'Running', 'its end does not end the pod');
  t.equal(pod.status?.containerStatuses?.[0]?.restartCount, 0, 'nor restart the app');

  // Never restarted: kubelet starts an ephemeral container only if the runtime never saw it. After
  // more syncs (a label change is a pod update, which syncs the pod) there is still one instance.
  await kubectl(['label', 'pod', 'app', `resync=${Date.now()}`]);
  await new Promise((r) => setTimeout(r, 5000));
  const instances = await w.docker.listContainers({
    all: true,
    filters: { label: [`io.kubernetes.pod.uid=${pod.metadata!.uid}`, 'io.kubernetes.container.name=debugger'] },
  });
  t.same(
    instances.map((c) => c.State),
    ['exited'],
    'one instance of the ephemeral container, exited, not started again',
  );
  t.match((await debuggerStatus())?.state?.terminated, { exitCode: 0 }, 'and its status stays terminated');

  // kubectl debug -i: kubectl waits for the ephemeral container to run, then attaches to it
  // (through the node's attach), so stdin reaches it and its output comes back. Stdin stays open,
  // as a person's terminal, until the answer is there.
  const debug = spawn(
    'bash',
    [
      join(SCRIPTS, 'control-plane.sh'),
      'kubectl',
      '-n',
      ns,
      'debug',
      'app',
      '-i',
      '-c',
      'interactive',
      `--image=${IMAGES.busybox}`,
      '--image-pull-policy=IfNotPresent',
      '--',
      'sh',
      '-c',
      'read line; echo "debug:$line"',
    ],
    { env: cp.env, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    if (debug.exitCode === null) debug.kill('SIGKILL');
  });
  let debugOut = '';
  let debugErr = '';
  debug.stdout.on('data', (b: Buffer) => (debugOut += b.toString()));
  debug.stderr.on('data', (b: Buffer) => (debugErr += b.toString()));
  await until(
    `kubectl debug -i to attach (stderr: ${debugErr})`,
    60_000,
    async () => /If you don't see a command prompt/.test(debugErr) || debug.exitCode !== null,
    100,
  );
  debug.stdin.write('hello\n');
  await until(
    `the ephemeral container's answer (stdout: ${debugOut}, stderr: ${debugErr})`,
    30_000,
    async () => debugOut.includes('debug:hello') || debug.exitCode !== null,
    100,
  );
  t.match(debugOut, /debug:hello/, 'kubectl debug -i: attached to the ephemeral container, stdin in, stdout out');
  debug.stdin.end();

  // A running ephemeral container goes with the pod.
  await kubectl([
    'debug',
    'app',
    '-c',
    'sleeper',
    `--image=${IMAGES.busybox}`,
    '--image-pull-policy=IfNotPresent',
    '--',
    'sleep',
    '3600',
  ]);
  await until(
    'the second ephemeral container running',
    60_000,
    async () => (await getPod()).status?.ephemeralContainerStatuses?.find((c) => c.name === 'sleeper')?.state?.running,
  );
  await kubectl(['delete', 'pod', 'app', '--wait=true', '--timeout=60s']);
  const left = await w.docker.listContainers({ filters: { label: [`io.kubernetes.pod.uid=${pod.metadata!.uid}`] } });
  t.same(
    left.map((c) => c.Labels['io.kubernetes.container.name']),
    [],
    'deleting the pod stopped every container, the running ephemeral one too',
  );
});
