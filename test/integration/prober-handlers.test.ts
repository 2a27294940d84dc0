// Every probe handler against a real server in a real container on Docker's default bridge
// (reachable from the host at the container's IP, like a pod IP): httpGet (numbers, names,
// headers, redirects), tcpSocket, exec, grpc; timeouts; and a hung exec that must not leave
// processes behind in the container.
import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type Docker from 'dockerode';
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { runPrefix } from '../harness/prefix.js';
import { requireProgram, requireRoot } from '../harness/require.js';
import { IMAGES, removeContainersAtTeardown, requireDocker, requireImage, TEST_LABEL } from '../harness/docker.js';
import { dockerExec } from '../../agent/runtime/docker-exec.js';
import { dockerProbeTarget } from '../../agent/runtime/docker-target.js';
import { runProbe } from '../../agent/prober/run.js';
import { ProbeManager, type ProbeChange } from '../../agent/prober/manager.js';
import { createLogger } from '../../lib/log.js';
import { probeSpec } from '../../agent/podspec/probe-spec.js';
import { tcpProbe } from '../../agent/prober/handlers/tcp.js';
import type { ProbeTarget } from '../../agent/prober/types.js';

requireRoot();
requireProgram('nsenter', 'iptables');
const docker = await requireDocker();
/** What the agent's runtime gives the prober (ContainerRuntime.exec), on this test's Docker client. */
const exec = (id: string, cmd: string[], timeoutMs: number) => dockerExec(docker, id, cmd, timeoutMs);
await requireImage(docker, IMAGES.busybox);
const prefix = runPrefix();
removeContainersAtTeardown(t, docker, prefix);

// The container's servers: busybox httpd with CGI scripts that check what the probe sent, a TCP
// listener, a TCP listener that accepts and never answers, and a PID 1 that reaps (so killed
// exec processes do not linger as zombies either).
const script = `
mkdir -p /www/cgi-bin
echo hello > /www/index.html
cat > /www/cgi-bin/check <<'EOS'
#!/bin/sh
case "$HTTP_USER_AGENT" in kube-probe/*) ;; *) printf 'Status: 403\\r\\n\\r\\nwrong agent\\n'; exit 0;; esac
if [ "$HTTP_X_PROBE" = yes ]; then printf 'Content-Type: text/plain\\r\\n\\r\\nok\\n'; else printf 'Status: 403\\r\\n\\r\\nno header\\n'; fi
EOS
printf '#!/bin/sh\\nprintf "Status: 302\\\\r\\\\nLocation: /index.html\\\\r\\\\n\\\\r\\\\n"\\n' > /www/cgi-bin/here
printf '#!/bin/sh\\nprintf "Status: 302\\\\r\\\\nLocation: http://other.invalid/\\\\r\\\\n\\\\r\\\\nleaving\\\\n"\\n' > /www/cgi-bin/elsewhere
chmod +x /www/cgi-bin/*
httpd -p 8080 -h /www
nc -ll -p 9000 -e true &
nc -ll -p 9100 -e sleep 3600 &
trap 'exit 0' TERM
while :; do sleep 3600 & wait $!; done
`;

const container = await docker.createContainer({
  name: `${prefix}-handlers`,
  Image: IMAGES.busybox,
  Cmd: ['sh', '-c', script],
  Labels: { [TEST_LABEL]: prefix },
  HostConfig: { NetworkMode: 'bridge' },
});
// A failure here is a top-level throw, and the process exits before tap runs teardowns: remove
// the container ourselves (a dockerd without docker0 once left it behind).
await container.start().catch(async (e: unknown) => {
  await container.remove({ force: true }).catch(() => undefined);
  throw e;
});
const info = await container.inspect();
const ip = info.NetworkSettings.Networks.bridge?.IPAddress;
const netns = `/proc/${info.State.Pid}/ns/net`;
if (!ip)
  throw new Error(
    `container ${info.Name} has no IP on Docker's default bridge: is dockerd running with its bridge (docker0)?`,
  );

// No gRPC server binary exists for busybox, and the image has no node. So the gRPC health
// server is the host's node running our small server, inside the container's own network
// namespace (nsenter --net): a real server in the container's network stack, reached at the
// container's IP like any pod's server.
const servers: ChildProcess[] = [];
t.teardown(() =>
  servers.forEach((p) => {
    p.kill('SIGKILL');
  }),
);
const serverJs = fileURLToPath(new URL('../../agent/prober/grpc-health-server.js', import.meta.url));
async function grpcServer(args: string[]): Promise<void> {
  const p = spawn('nsenter', [`--net=${netns}`, '--', process.execPath, serverJs, ...args], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  servers.push(p);
  await new Promise<void>((resolve, reject) => {
    p.stdout!.once('data', () => resolve());
    p.once('exit', (code) => reject(new Error(`grpc health server exited ${code}`)));
  });
}
await grpcServer(['--port', '9090', '--service', 'down=NOT_SERVING']);
await grpcServer(['--port', '9091', '--hang']);
// SYNs to 9200 vanish (a rule inside the container's own namespace only): a connect that hangs.
await run('nsenter', [
  `--net=${netns}`,
  '--',
  'iptables',
  '-w',
  '-A',
  'INPUT',
  '-p',
  'tcp',
  '--dport',
  '9200',
  '-j',
  'DROP',
]);

const spec: V1Container = {
  name: 'app',
  image: IMAGES.busybox,
  ports: [
    { name: 'http', containerPort: 8080 },
    { name: 'tcp', containerPort: 9000 },
  ],
};
const pod: V1Pod = {
  metadata: { name: 'handlers', namespace: 'default', uid: `${prefix}-uid` },
  spec: { containers: [spec] },
};
const target: ProbeTarget = dockerProbeTarget({ exec, pod, container: spec, containerId: info.Id, podIP: () => ip });

for (let i = 0; ; i++) {
  const up = await tcpProbe(ip, 8080, new AbortController().signal);
  if (up.result === 'success') break;
  if (i > 50) throw new Error(`httpd in the container never came up: ${up.message}`);
  await new Promise((r) => setTimeout(r, 100));
}

const probe = (p: V1Probe) => runProbe(probeSpec(p), target).outcome;

t.test('httpGet', async (t) => {
  t.same(
    await probe({ httpGet: { port: 8080, path: '/index.html' } }),
    { result: 'success', message: 'HTTP probe succeeded with statuscode: 200' },
    'by number',
  );
  t.equal((await probe({ httpGet: { port: 'http', path: '/' } })).result, 'success', 'by port name');
  t.same(await probe({ httpGet: { port: 'http', path: '/missing' } }), {
    result: 'failure',
    message: 'HTTP probe failed with statuscode: 404',
  });
  t.equal(
    (
      await probe({
        httpGet: { port: 'http', path: '/cgi-bin/check', httpHeaders: [{ name: 'X-Probe', value: 'yes' }] },
      })
    ).result,
    'success',
    'headers and user agent reach the server',
  );
  t.same(
    await probe({ httpGet: { port: 'http', path: '/cgi-bin/check' } }),
    { result: 'failure', message: 'HTTP probe failed with statuscode: 403' },
    'the server really checks the header',
  );
  t.same(
    await probe({ httpGet: { port: 'http', path: '/cgi-bin/here' } }),
    { result: 'success', message: 'HTTP probe succeeded with statuscode: 200' },
    'same-host redirect followed to a 200',
  );
  const away = await probe({ httpGet: { port: 'http', path: '/cgi-bin/elsewhere' } });
  t.equal(away.result, 'success', 'redirect to another host: success...');
  t.match(away.warning, /Probe terminated redirects/, '...with a warning');
  t.same(
    await probe({ httpGet: { port: 9100, path: '/' }, timeoutSeconds: 1 }),
    { result: 'failure', message: 'timeout after 1s' },
    'a server that never answers',
  );
});

t.test('tcpSocket', async (t) => {
  t.equal((await probe({ tcpSocket: { port: 'tcp' } })).result, 'success', 'nc listener by name');
  t.equal((await probe({ tcpSocket: { port: 8080 } })).result, 'success', 'httpd by number');
  t.same(await probe({ tcpSocket: { port: 9999 } }), {
    result: 'failure',
    message: `dial tcp ${ip}:9999: connect: connection refused`,
  });
  const t0 = Date.now();
  t.same(
    await probe({ tcpSocket: { port: 9200 }, timeoutSeconds: 1 }),
    { result: 'failure', message: 'timeout after 1s' },
    'dropped SYNs',
  );
  t.ok(Date.now() - t0 < 1500, "the timeout is the probe's, not the kernel's");
});

t.test('exec', async (t) => {
  t.same(await probe({ exec: { command: ['test', '-f', '/www/index.html'] } }), {
    result: 'success',
    message: 'exit code 0',
  });
  t.same(await probe({ exec: { command: ['sh', '-c', 'echo boom; exit 3'] } }), {
    result: 'failure',
    message: 'exit code 3: boom',
  });
  t.same(await probe({ exec: { command: ['cat', '/nope'] } }), {
    result: 'failure',
    message: "exit code 1: cat: can't open '/nope': No such file or directory",
  });
});

t.test('grpc', async (t) => {
  t.same(await probe({ grpc: { port: 9090 } }), { result: 'success', message: 'gRPC health status: SERVING' });
  t.same(await probe({ grpc: { port: 9090, service: 'down' } }), {
    result: 'failure',
    message: 'service unhealthy (responded with "NOT_SERVING")',
  });
  t.same(await probe({ grpc: { port: 9090, service: 'other' } }), {
    result: 'failure',
    message: 'rpc error: code = NotFound desc = unknown service',
  });
  t.same(
    await probe({ grpc: { port: 9091 }, timeoutSeconds: 1 }),
    { result: 'failure', message: 'timeout after 1s' },
    'a server that never answers',
  );
  t.same(await probe({ grpc: { port: 9999 } }), {
    result: 'failure',
    message: `dial tcp ${ip}:9999: connect: connection refused`,
  });
});

async function sleepers(c: Docker.Container): Promise<string[]> {
  const top = await c.top({ ps_args: '-eo pid,stat,args' });
  return (top.Processes as string[][]).map((p) => p.join(' ')).filter((l) => l.includes('sleep 1000'));
}

t.test('a hung exec probe times out and leaves no process behind', async (t) => {
  t.same(await sleepers(container), [], 'no sleeper before');
  for (const command of [
    ['sleep', '1000'],
    ['sh', '-c', 'sleep 1000; echo never'],
  ]) {
    const t0 = Date.now();
    const r = runProbe(probeSpec({ exec: { command }, timeoutSeconds: 1 }), target);
    const o = await r.outcome;
    t.equal(o.result, 'failure', `${command.join(' ')}: failure`);
    t.match(o.message, /^timeout after 1s/);
    t.ok(Date.now() - t0 < 1500, `verdict at the timeout (${Date.now() - t0} ms)`);
    await r.done;
    t.same(await sleepers(container), [], `${command.join(' ')}: killed, the shell's child too`);
  }
});

t.test('a hung exec liveness probe through the manager: failures counted, never stacked, nothing left', async (t) => {
  const hung: V1Container = {
    ...spec,
    livenessProbe: {
      exec: { command: ['sh', '-c', 'sleep 1000'] },
      periodSeconds: 1,
      timeoutSeconds: 1,
      failureThreshold: 3,
    },
  };
  const changes: ProbeChange[] = [];
  const m = new ProbeManager({ logger: createLogger('agent', { sink: () => {} }), onChange: (c) => changes.push(c) });
  t.teardown(() => m.stop());
  let execs = 0;
  let maxConcurrent = 0;
  let running = 0;
  const base = dockerProbeTarget({ exec, pod, container: hung, containerId: info.Id, podIP: () => ip });
  m.addContainer(pod.metadata!.uid!, {
    ...base,
    exec: async (cmd, ms) => {
      execs++;
      maxConcurrent = Math.max(maxConcurrent, ++running);
      try {
        return await base.exec(cmd, ms);
      } finally {
        running--;
      }
    },
  });
  const end = Date.now() + 8000;
  while (changes.length === 0 && Date.now() < end) await new Promise((r) => setTimeout(r, 100));
  t.same(
    changes.map((c) => [c.type, c.result]),
    [['liveness', 'failure']],
    'failure after 3 timed-out probes',
  );
  t.match(changes[0]!.message, /^timeout after 1s/);
  t.equal(maxConcurrent, 1, 'never two execs in flight');
  t.ok(execs >= 2 && execs <= 3, `${execs} execs for 3 failures`);
  m.stop();
  await new Promise((r) => setTimeout(r, 300));
  t.same(await sleepers(container), [], 'no sleep left in the container');
});
