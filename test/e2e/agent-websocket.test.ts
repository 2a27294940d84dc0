// exec, attach and logs over WebSocket, through the real apiserver and at the node directly:
//  - the repo's kubectl (v1.34, WebSocket by default: v5.channel.k8s.io to the apiserver, which
//    translates it to SPDY for the node) exec with exit code, stdin, stderr;
//  - a raw WebSocket client (test/harness/websocket-client.ts) speaking v4.channel.k8s.io,
//    v4.base64.channel.k8s.io and channel.k8s.io: the apiserver forwards these upgrades to the
//    node unchanged, so the node's WebSocket server answers them (agent/server/websocket/);
//  - v5.channel.k8s.io at the node itself with the half-close signal ending stdin;
//  - pod logs over WebSocket (binary.k8s.io, base64.binary.k8s.io) through the apiserver and at
//    the node's /containerLogs;
//  - port-forward over WebSocket (v4.channel.k8s.io, ports in the query) through the apiserver.
import t from 'tap';
import { readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { IMAGES } from '../fixtures/agent/world.js';
import { joinAgent } from '../harness/joined-agent.js';
import { requireProgram } from '../harness/require.js';
import { until } from '../harness/until.js';
import { connectWebSocket, type WsClient, type WsResult } from '../harness/websocket-client.js';

function opened(r: WsResult, what: string): WsClient {
  if ('status' in r) throw new Error(`${what}: the WebSocket upgrade was refused: ${r.status} ${r.body}`);
  return r;
}

/** Each channel's bytes, from binary messages (channel byte first) or base64 text ('0' + n first). */
function channels(ws: WsClient): Map<number, string> {
  const out = new Map<number, string>();
  for (const m of ws.messages) {
    if (m.data.length === 0) continue;
    const n = m.binary ? m.data[0]! : m.data[0]! - 48;
    const data = m.binary ? m.data.subarray(1) : Buffer.from(m.data.subarray(1).toString(), 'base64');
    out.set(n, (out.get(n) ?? '') + data.toString());
  }
  return out;
}

const query = (command: string[], flags: Record<string, string>) =>
  new URLSearchParams([...command.map((c): [string, string] => ['command', c]), ...Object.entries(flags)]).toString();

t.test('exec, attach and logs over WebSocket', async (t) => {
  requireProgram('kubectl', 'openssl');
  const { cp, agent, admin, ns, creds } = await joinAgent(t, { tls: true, logLines: 60 });
  const pod = (name: string, command: string, stdin = false): V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        { name: 'main', image: IMAGES.busybox, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', command], stdin },
      ],
    },
  });
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        pod('talker', 'echo container is alive; exec sleep 3600'),
        pod('echoer', 'while read line; do echo "echo:$line"; done', true),
        // Serves on the pod's loopback only: reachable by port-forward, not by the pod IP.
        pod('web', 'mkdir -p /www && echo local only > /www/index.html && exec httpd -f -p 127.0.0.1:8081 -h /www'),
      ],
    }),
  });
  for (const name of ['talker', 'echoer', 'web']) {
    await until(
      `${name} Running`,
      90_000,
      async () =>
        JSON.parse((await cp.kubectl(['-n', ns, 'get', 'pod', name, '-o', 'json'])).stdout).status?.phase === 'Running',
    );
  }

  // --- kubectl (WebSocket to the apiserver) -------------------------------------------------------
  const ex = await cp.kubectl(
    ['-n', ns, 'exec', 'talker', '--', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'],
    { allowFailure: true },
  );
  t.same(
    [ex.code, ex.stdout, ex.stderr.includes('to-stderr')],
    [3, 'to-stdout\n', true],
    `kubectl exec: exit code, stdout, stderr (${ex.stderr})`,
  );
  const piped = await cp.kubectl(
    ['-n', ns, 'exec', '-i', 'talker', '--', 'sh', '-c', 'tr a-z A-Z; echo stdin closed'],
    { input: 'through stdin\n', allowFailure: true },
  );
  t.same(
    [piped.code, piped.stdout],
    [0, 'THROUGH STDIN\nstdin closed\n'],
    `kubectl exec -i: stdin and its end (${piped.stderr})`,
  );

  // --- raw WebSocket clients through the apiserver ----------------------------------------------
  const server = new URL(admin.getCurrentCluster()!.server);
  const api: RequestOptions = { host: server.hostname, port: Number(server.port) };
  await admin.applyToHTTPSOptions(api);
  const execPath = (name: string, command: string[], flags: Record<string, string>) =>
    `/api/v1/namespaces/${ns}/pods/${name}/exec?${query(command, { container: 'main', ...flags })}`;

  const v4 = opened(
    await connectWebSocket(
      api,
      execPath('talker', ['sh', '-c', 'read line; echo "got:$line"; echo oops >&2; exit 5'], {
        stdin: 'true',
        stdout: 'true',
        stderr: 'true',
      }),
      ['v4.channel.k8s.io'],
    ),
    'v4 exec',
  );
  t.equal(
    v4.protocol,
    'v4.channel.k8s.io',
    'the node chose v4.channel.k8s.io (the apiserver passes the upgrade through)',
  );
  await until('the first (empty) message on stdout', 10_000, async () => v4.messages.length > 0, 50);
  t.same(
    v4.messages[0],
    { data: Buffer.from([1]), binary: true },
    'the connection opens with an empty message on stdout',
  );
  v4.send(Buffer.concat([Buffer.from([0]), Buffer.from('hello\n')]));
  await v4.closed;
  const c4 = channels(v4);
  t.equal(c4.get(1), 'got:hello\n', 'stdin in on channel 0, stdout out on channel 1');
  t.equal(c4.get(2), 'oops\n', 'stderr on channel 2');
  const status = JSON.parse(c4.get(3) ?? '{}') as {
    status?: string;
    reason?: string;
    details?: { causes?: { reason?: string; message?: string }[] };
  };
  t.match(
    status,
    { status: 'Failure', reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: '5' }] } },
    'a metav1.Status with the exit code on channel 3',
  );

  const b64 = opened(
    await connectWebSocket(api, execPath('talker', ['echo', 'in base64'], { stdout: 'true' }), [
      'v4.base64.channel.k8s.io',
    ]),
    'base64 exec',
  );
  await b64.closed;
  t.equal(b64.protocol, 'v4.base64.channel.k8s.io');
  t.ok(
    b64.messages.every((m) => !m.binary),
    'base64 protocols send text messages',
  );
  t.equal(channels(b64).get(1), 'in base64\n', "stdout decoded from '1' + base64");
  t.match(JSON.parse(channels(b64).get(3) ?? '{}'), { status: 'Success' }, 'a Success Status');

  const v1 = opened(
    await connectWebSocket(api, execPath('talker', ['sh', '-c', 'exit 2'], { stdout: 'true' }), ['channel.k8s.io']),
    'channel.k8s.io exec',
  );
  await v1.closed;
  t.match(
    channels(v1).get(3),
    /^command terminated with non-zero exit code: .*exit code 2$/,
    'before v4 the error channel carries only the message',
  );
  const v1ok = opened(
    await connectWebSocket(api, execPath('talker', ['true'], { stdout: 'true' }), ['channel.k8s.io']),
    'channel.k8s.io exec',
  );
  await v1ok.closed;
  t.equal(channels(v1ok).get(3), undefined, 'and nothing on success');

  const attach = opened(
    await connectWebSocket(api, `/api/v1/namespaces/${ns}/pods/echoer/attach?container=main&stdin=true&stdout=true`, [
      'v4.channel.k8s.io',
    ]),
    'attach',
  );
  attach.send(Buffer.concat([Buffer.from([0]), Buffer.from('ping\n')]));
  await until(
    'the attached container to answer',
    10_000,
    async () => channels(attach).get(1)?.includes('echo:ping\n'),
    50,
  );
  t.pass('attach: stdin reaches the running container and its output comes back');
  attach.close();
  await attach.closed;

  const v5api = opened(
    await connectWebSocket(api, execPath('talker', ['sh', '-c', 'cat; echo eof'], { stdin: 'true', stdout: 'true' }), [
      'v5.channel.k8s.io',
    ]),
    'v5 exec through the apiserver',
  );
  v5api.send(Buffer.concat([Buffer.from([0]), Buffer.from('abc\n')]));
  v5api.send(Buffer.from([255, 0]));
  await v5api.closed;
  t.equal(
    channels(v5api).get(1),
    'abc\neof\n',
    'v5 through the apiserver (translated to SPDY for the node): the close signal ends stdin',
  );

  // --- logs over WebSocket through the apiserver --------------------------------------------------
  for (const protocol of ['binary.k8s.io', 'base64.binary.k8s.io']) {
    const logs = opened(
      await connectWebSocket(api, `/api/v1/namespaces/${ns}/pods/talker/log?container=main`, [protocol]),
      `logs ${protocol}`,
    );
    await logs.closed;
    const text = logs.messages
      .map((m) => (protocol.startsWith('base64') ? Buffer.from(m.data.toString(), 'base64') : m.data).toString())
      .join('');
    t.equal(text, 'container is alive\n', `kubectl-style logs over WebSocket (${protocol}) through the apiserver`);
  }

  // --- port-forward over WebSocket through the apiserver (as upstream's "forwarding over websockets" spec) ---
  const fwd = opened(
    await connectWebSocket(api, `/api/v1/namespaces/${ns}/pods/web/portforward?ports=8081,9`, ['v4.channel.k8s.io']),
    'port-forward',
  );
  await until('the port headers', 10_000, async () => fwd.messages.length >= 4, 50);
  t.same(
    fwd.messages.slice(0, 4).map((m) => [...m.data]),
    [
      [0, 0x91, 0x1f],
      [1, 0x91, 0x1f],
      [2, 9, 0],
      [3, 9, 0],
    ],
    'each channel opens with its port, little-endian: 8081 on 0 and 1, 9 on 2 and 3',
  );
  fwd.send(Buffer.concat([Buffer.from([0]), Buffer.from('GET / HTTP/1.0\r\n\r\n')]));
  // The server's end of the connection ends the forward, and the last forward the WebSocket.
  await Promise.race([
    fwd.closed,
    new Promise((_, reject) =>
      setTimeout(
        () => reject(new Error('port-forward: the WebSocket was not closed 30 s after the server answered')),
        30_000,
      ),
    ),
  ]);
  // What each channel carried after its port header.
  const after = (n: number) =>
    Buffer.concat(
      fwd.messages
        .filter((m) => m.data[0] === n)
        .slice(1)
        .map((m) => m.data.subarray(1)),
    ).toString();
  t.match(
    after(0),
    /^HTTP\/1\.[01] 200 OK[\s\S]*local only\n$/,
    "the request reaches the server on the pod's loopback; its answer comes back on the data channel",
  );
  t.match(
    after(3),
    /error forwarding port 9 to pod .*connection refused/,
    "a port nobody listens on: kubelet's message on its error channel",
  );

  // --- the node directly: v5 with half-close, logs, a refused protocol ----------------------------
  const pki = join(cp.dir, 'pki');
  const node: RequestOptions = {
    host: '127.0.0.1',
    port: agent.securePort!,
    ca: readFileSync(join(creds, 'ca.crt'), 'utf8'),
    cert: readFileSync(join(pki, 'apiserver-kubelet-client.crt'), 'utf8'),
    key: readFileSync(join(pki, 'apiserver-kubelet-client.key'), 'utf8'),
  };
  const v5 = opened(
    await connectWebSocket(
      node,
      `/exec/${ns}/talker/main?${query(['sh', '-c', 'tr a-z A-Z; echo done'], { input: '1', output: '1' })}`,
      ['v5.channel.k8s.io', 'v4.channel.k8s.io'],
    ),
    'v5 exec at the node',
  );
  t.equal(v5.protocol, 'v5.channel.k8s.io', "the node takes the client's first choice");
  v5.send(Buffer.concat([Buffer.from([0]), Buffer.from('abc\n')]));
  v5.send(Buffer.from([255, 0]));
  await v5.closed;
  t.equal(channels(v5).get(1), 'ABC\ndone\n', "v5's close signal on channel 255 ends the command's stdin");
  t.match(JSON.parse(channels(v5).get(3) ?? '{}'), { status: 'Success' });

  const nodeLogs = opened(
    await connectWebSocket(node, `/containerLogs/${ns}/talker/main`, ['binary.k8s.io']),
    'logs at the node',
  );
  const code = await nodeLogs.closed;
  t.equal(
    Buffer.concat(nodeLogs.messages.map((m) => m.data)).toString(),
    'container is alive\n',
    "the node's /containerLogs over WebSocket streams the log",
  );
  t.equal(code, 1000, 'then closes normally');

  const refused = await connectWebSocket(node, `/exec/${ns}/talker/main?command=true&output=1`, ['x.example']);
  t.match(refused, { status: 403 }, 'a subprotocol the node does not speak: 403');
  const missing = await connectWebSocket(node, `/exec/${ns}/talker/nope?command=true&output=1`, ['v4.channel.k8s.io']);
  t.match(missing, { status: 404 }, 'a container the pod lacks: 404 before the upgrade');
});
