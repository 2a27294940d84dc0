// kubectl through the real apiserver to the agent's authenticated HTTPS API (--port, the
// serving certificate control-plane.sh node-credentials signs, the cluster CA as client CA, the
// node's kubeconfig for SubjectAccessReviews): `kubectl logs` plain, -f, --previous, --tail;
// `kubectl describe pod/node`; `kubectl exec` (exit code, stdin, TTY), `attach` and `port-forward`; and the API's own answers: no client certificate 401, a cluster
// user without RBAC rights 403 (on /pods, logs, exec, attach and port-forward), the apiserver's
// kubelet client 200, another CA's certificate 401; and the agent's own credentials, used with
// kubectl, refused (Node authorizer, NodeRestriction: 403) on another Node and its pods.
import t from 'tap';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1Node, V1Pod } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import type { ControlPlane } from '../harness/control-plane.js';
import { requireProgram } from '../harness/require.js';
import { IMAGES } from '../fixtures/agent/world.js';
import { until } from '../harness/until.js';
import { joinAgent } from '../harness/joined-agent.js';

async function getJSON<T>(cp: ControlPlane, args: string[]): Promise<T> {
  return JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout) as T;
}

/** GET over HTTPS to the agent, checking its serving certificate against the cluster CA. */
function httpsGet(
  port: number,
  path: string,
  ca: string,
  client?: { cert: string; key: string },
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      { host: '127.0.0.1', port, path, method: 'GET', ca, headers, ...(client ?? {}), timeout: 20_000 },
      (res) => {
        let body = '';
        res.on('data', (b: Buffer) => (body += b.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** Status of a SPDY upgrade request (as the apiserver makes for exec) to the agent; the connection is then dropped. */
function upgradeStatus(
  port: number,
  path: string,
  ca: string,
  client?: { cert: string; key: string },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1',
      port,
      path,
      method: 'POST',
      ca,
      ...(client ?? {}),
      timeout: 20_000,
      headers: { connection: 'Upgrade', upgrade: 'SPDY/3.1', 'x-stream-protocol-version': 'v4.channel.k8s.io' },
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy(new Error(`POST ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

/** A client certificate for `cn`, signed by the CA in caCrt/caKey (openssl, argument arrays). */
async function clientCert(
  dir: string,
  name: string,
  cn: string,
  caCrt: string,
  caKey: string,
): Promise<{ cert: string; key: string }> {
  const key = join(dir, `${name}.key`),
    csr = join(dir, `${name}.csr`),
    crt = join(dir, `${name}.crt`);
  await run('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    key,
    '-subj',
    `/CN=${cn}`,
    '-out',
    csr,
  ]);
  await run('openssl', [
    'x509',
    '-req',
    '-in',
    csr,
    '-CA',
    caCrt,
    '-CAkey',
    caKey,
    '-set_serial',
    String(Date.now()),
    '-days',
    '1',
    '-out',
    crt,
  ]);
  return { cert: readFileSync(crt, 'utf8'), key: readFileSync(key, 'utf8') };
}

t.test('kubectl logs and describe through the apiserver; the node API authenticates and authorizes', async (t) => {
  requireProgram('openssl', 'kubectl');
  const { cp, world: w, agent, ns, creds, node } = await joinAgent(t, { tls: true, logLines: 60 });
  const tmp = mkdtempSync(join(tmpdir(), `${w.prefix}-certs-`));
  t.teardown(() => rmSync(tmp, { recursive: true, force: true }));
  const port = agent.securePort!;
  const a = agent;
  t.ok(
    await until('the HTTPS node API to listen', 30_000, async () =>
      a.logs.some((l) => l.includes('node API listening (HTTPS)')),
    ),
    'the HTTPS node API started',
  );

  t.equal(
    node.status?.daemonEndpoints?.kubeletEndpoint?.Port,
    port,
    'the Node publishes the HTTPS port (the apiserver dials it)',
  );

  const pod = (name: string, command: string): V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 2,
      containers: [
        { name: 'main', image: IMAGES.busybox, imagePullPolicy: 'IfNotPresent', command: ['sh', '-c', command] },
      ],
    },
  });
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        pod('talker', 'echo first line; echo second line; exec sleep 3600'),
        pod('crasher', 'echo "instance ended"; sleep 1; exit 3'),
        // Serves on the pod's loopback only: reachable by port-forward, not by the pod IP.
        pod('web', 'mkdir -p /www && echo local only > /www/index.html && exec httpd -f -p 127.0.0.1:8081 -h /www'),
      ],
    }),
  });
  const kubectl = (args: string[], allowFailure = false) => cp.kubectl(['-n', ns, ...args], { allowFailure });
  await until(
    'talker Running',
    90_000,
    async () => (await getJSON<V1Pod>(cp, ['-n', ns, 'get', 'pod', 'talker'])).status?.phase === 'Running',
  );

  // --- kubectl logs, --tail ---------------------------------------------------------------------
  const logs = await until('kubectl logs talker', 30_000, async () => {
    const r = await kubectl(['logs', 'talker'], true);
    return r.code === 0 && r.stdout.includes('second line') ? r.stdout : undefined;
  });
  t.equal(logs, 'first line\nsecond line\n', 'kubectl logs prints the container output');
  t.equal((await kubectl(['logs', 'talker', '--tail=1'])).stdout, 'second line\n', '--tail=1');
  t.equal((await kubectl(['logs', 'talker', '--limit-bytes=5'])).stdout, 'first', '--limit-bytes');
  t.match(
    (await kubectl(['logs', 'talker', '--timestamps', '--tail=1'])).stdout,
    /^\d{4}-\d\d-\d\dT[\d:.]+Z second line\n$/,
    '--timestamps',
  );
  t.equal((await kubectl(['logs', 'talker', '--since=1h'])).stdout, 'first line\nsecond line\n', '--since');
  const nope = await kubectl(['logs', 'talker', '-c', 'nope'], true);
  t.not(nope.code, 0);
  t.match(nope.stderr, /container nope is not valid|nope/, 'an unknown container is an error');

  // --- kubectl logs -f streams a line written after it started ---------------------------------
  const follower = spawn('kubectl', ['--kubeconfig', cp.kubeconfig, '-n', ns, 'logs', '-f', 'talker'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (follower.exitCode === null) follower.kill('SIGKILL');
  });
  let followed = '';
  let followErr = '';
  follower.stdout.on('data', (b: Buffer) => (followed += b.toString()));
  follower.stderr.on('data', (b: Buffer) => (followErr += b.toString()));
  await until(
    `kubectl logs -f to print the existing lines (stderr: ${followErr})`,
    30_000,
    async () => followed.includes('second line'),
    100,
  );
  const talker = await getJSON<V1Pod>(cp, ['-n', ns, 'get', 'pod', 'talker']);
  const id = talker.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
  const exec = await w.docker.getContainer(id).exec({
    Cmd: ['sh', '-c', 'echo written after follow started > /proc/1/fd/1'],
    AttachStdout: true,
    AttachStderr: true,
  });
  const s = await exec.start({});
  s.resume();
  await until(
    'kubectl logs -f to print the new line',
    30_000,
    async () => followed.includes('written after follow started'),
    100,
  );
  t.equal(followed, 'first line\nsecond line\nwritten after follow started\n', 'kubectl logs -f streams new lines');
  t.equal(follower.exitCode, null, 'and keeps following');
  follower.kill('SIGTERM');

  // --- kubectl logs --previous after a restart --------------------------------------------------
  await until(
    'crasher restarted',
    90_000,
    async () =>
      ((await getJSON<V1Pod>(cp, ['-n', ns, 'get', 'pod', 'crasher'])).status?.containerStatuses?.[0]?.restartCount ??
        0) >= 1,
  );
  const previous = await until('kubectl logs --previous', 30_000, async () => {
    const r = await kubectl(['logs', 'crasher', '--previous'], true);
    return r.code === 0 ? r.stdout : undefined;
  });
  t.equal(previous, 'instance ended\n', 'kubectl logs --previous prints the terminated instance');
  const noPrevious = await kubectl(['logs', 'talker', '--previous'], true);
  t.not(noPrevious.code, 0, 'a container that never restarted has no previous log');
  t.match(
    noPrevious.stderr,
    /previous terminated container "main" in pod "talker" not found/,
    "with kubelet's message",
  );

  // --- kubectl describe -------------------------------------------------------------------------
  const dp = (await kubectl(['describe', 'pod', 'talker'])).stdout;
  t.match(dp, new RegExp(`Node:\\s+${w.nodeName}/127\\.0\\.0\\.1`), 'describe pod shows the node');
  t.match(dp, /Status:\s+Running/);
  const dn = (await cp.kubectl(['describe', 'node', w.nodeName])).stdout;
  t.match(dn, new RegExp(`Name:\\s+${w.nodeName}`), 'describe node');
  t.match(dn, /Ready\s+True/);
  t.match(dn, new RegExp(`${ns}\\s+talker`), 'describe node lists the pods on it');

  // --- kubectl exec and attach (SPDY between the apiserver and the node) ------------------------
  const ex = await kubectl(['exec', 'talker', '--', 'sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 3'], true);
  t.equal(ex.stdout, 'to-stdout\n', `kubectl exec: the command's stdout (stderr: ${ex.stderr})`);
  t.match(ex.stderr, /to-stderr/, 'and its stderr');
  t.equal(ex.code, 3, "kubectl exits with the command's exit code");
  t.match(ex.stderr, /command terminated with exit code 3/);
  const piped = await cp.kubectl(
    ['-n', ns, 'exec', '-i', 'talker', '--', 'sh', '-c', 'tr a-z A-Z; echo stdin closed'],
    { input: 'hello through stdin\n', allowFailure: true },
  );
  t.same(
    [piped.code, piped.stdout],
    [0, 'HELLO THROUGH STDIN\nstdin closed\n'],
    `kubectl exec -i: stdin reaches the command and its end closes it (stderr: ${piped.stderr})`,
  );
  const inside = await kubectl(['exec', 'talker', '--', 'cat', '/proc/1/cmdline'], true);
  t.equal(
    inside.stdout,
    'sleep\x003600\x00',
    "the command runs in the pod's container (its PID 1 is the pod's `exec sleep 3600`)",
  );
  // kubectl cp is tar through exec, both ways.
  writeFileSync(join(tmp, 'copied.txt'), 'through kubectl cp\n');
  const cpIn = await kubectl(['cp', join(tmp, 'copied.txt'), 'talker:/tmp/copied.txt'], true);
  t.equal(cpIn.code, 0, `kubectl cp into the pod (${cpIn.stderr})`);
  t.equal(
    (await kubectl(['exec', 'talker', '--', 'cat', '/tmp/copied.txt'])).stdout,
    'through kubectl cp\n',
    'the file is in the container',
  );
  const cpOut = await kubectl(['cp', 'talker:/tmp/copied.txt', join(tmp, 'back.txt')], true);
  t.equal(cpOut.code, 0, `kubectl cp out of the pod (${cpOut.stderr})`);
  t.equal(readFileSync(join(tmp, 'back.txt'), 'utf8'), 'through kubectl cp\n', 'and comes back out unchanged');
  // A TTY needs a terminal on kubectl's side: script(1) gives it one, of 40 rows by 100 columns,
  // which kubectl sends on the resize stream. (script takes one shell command line; every part of
  // it is quoted here, and comes from this test.)
  requireProgram('script');
  const q = (a: string) => `'${a.replace(/'/g, `'\\''`)}'`;
  const kubectlLine = [
    'kubectl',
    '--kubeconfig',
    cp.kubeconfig,
    '-n',
    ns,
    'exec',
    '-it',
    'talker',
    '--',
    'sh',
    '-c',
    'tty; sleep 1; stty size',
  ]
    .map(q)
    .join(' ');
  const tty = await run('script', ['-qec', `stty rows 40 cols 100; ${kubectlLine}`, '/dev/null'], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  t.match(
    tty.stdout,
    /\/dev\/pts\/\d+/,
    `kubectl exec -it: the command has a terminal (${JSON.stringify(tty.stdout)} ${tty.stderr})`,
  );
  t.match(tty.stdout, /40 100/, "and the terminal's size came through the resize stream");
  const badContainer = await kubectl(['exec', 'talker', '-c', 'nope', '--', 'true'], true);
  t.not(badContainer.code, 0, 'exec into a container the pod does not have fails');
  const attacher = spawn('kubectl', ['--kubeconfig', cp.kubeconfig, '-n', ns, 'attach', 'talker'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  t.teardown(() => {
    if (attacher.exitCode === null) attacher.kill('SIGKILL');
  });
  let attached = '';
  let attachErr = '';
  attacher.stdout.on('data', (b: Buffer) => (attached += b.toString()));
  attacher.stderr.on('data', (b: Buffer) => (attachErr += b.toString()));
  // What the container's PID 1 writes after the attach starts reaches kubectl.
  await until(
    'kubectl attach to say it is attached or to print',
    20_000,
    async () =>
      attached.length > 0 || /If you don't see a command prompt|attach/.test(attachErr) || attacher.exitCode !== null,
    100,
  );
  await new Promise((r) => setTimeout(r, 1000));
  await run('docker', ['exec', id, 'sh', '-c', 'echo written while attached > /proc/1/fd/1']);
  await until(
    `kubectl attach to print the new line (stderr: ${attachErr})`,
    20_000,
    async () => attached.includes('written while attached') || attacher.exitCode !== null,
    100,
  );
  t.match(attached, 'written while attached', "kubectl attach streams the container's output");
  attacher.kill('SIGTERM');

  // --- kubectl port-forward: to 127.0.0.1 inside the pod's network namespace ---------------------
  await until(
    'web Running',
    60_000,
    async () => (await getJSON<V1Pod>(cp, ['-n', ns, 'get', 'pod', 'web'])).status?.phase === 'Running',
  );
  const forwarder = spawn(
    'kubectl',
    ['--kubeconfig', cp.kubeconfig, '-n', ns, 'port-forward', 'pod/web', ':8081', ':9'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  t.teardown(() => {
    if (forwarder.exitCode === null) forwarder.kill('SIGKILL');
  });
  let fwdOut = '';
  let fwdErr = '';
  forwarder.stdout.on('data', (b: Buffer) => (fwdOut += b.toString()));
  forwarder.stderr.on('data', (b: Buffer) => (fwdErr += b.toString()));
  await until(
    `kubectl port-forward to listen (stderr: ${fwdErr})`,
    30_000,
    async () => /-> 8081/.test(fwdOut) && /-> 9\b/.test(fwdOut),
    100,
  );
  const localPort = (to: number) =>
    Number(new RegExp(`Forwarding from 127\\.0\\.0\\.1:(\\d+) -> ${to}\\b`).exec(fwdOut)?.[1]);
  const web = localPort(8081);
  for (const attempt of [1, 2]) {
    const r = await fetch(`http://127.0.0.1:${web}/`).then(
      async (res) => ({ status: res.status, body: await res.text() }),
      (e: Error) => ({ status: 0, body: e.message }),
    );
    t.same(
      r,
      { status: 200, body: 'local only\n' },
      `request ${attempt} through port-forward reaches the pod's loopback-only server (stderr: ${fwdErr})`,
    );
  }
  const closed = await fetch(`http://127.0.0.1:${localPort(9)}/`).then(
    (res) => `HTTP ${res.status}`,
    (e: Error) => `failed: ${e.message}`,
  );
  t.match(closed, /^failed/, 'a pod port nobody listens on: the request fails');
  await until(
    'kubectl to report the forwarding error',
    10_000,
    async () => /error forwarding port 9 to pod/.test(fwdErr),
    100,
  );
  t.match(fwdErr, /error forwarding port 9 to pod .*connection refused/, "with the node's reason");
  // (kubectl then closes the whole connection and stops forwarding: its own choice, upstream.)
  forwarder.kill('SIGTERM');

  // (The apiserver's node proxy, kubectl get --raw /api/v1/nodes/N/proxy/..., refuses loopback
  // node addresses, "address not allowed": this node's InternalIP is 127.0.0.1. Logs are not
  // proxied that way, so they work.)

  // --- the node API directly: authentication and authorization -----------------------------------
  const ca = readFileSync(join(creds, 'ca.crt'), 'utf8');
  const pki = join(cp.dir, 'pki');
  const none = await httpsGet(port, '/pods', ca);
  t.equal(none.status, 401, 'no client certificate: 401');
  const nobody = await clientCert(tmp, 'nobody', `${w.prefix}-nobody`, join(pki, 'ca.crt'), join(pki, 'ca.key'));
  const forbidden = await httpsGet(port, '/pods', ca, nobody);
  t.equal(forbidden.status, 403, 'a cluster user without rights: 403');
  t.match(forbidden.body, `Forbidden (user=${w.prefix}-nobody, verb=get, resource=nodes, subresource(s)=[pods proxy])`);
  t.match(
    (await httpsGet(port, `/containerLogs/${ns}/talker/main`, ca, nobody)).body,
    `Forbidden (user=${w.prefix}-nobody, verb=get, resource=nodes, subresource=proxy)`,
  );
  t.equal((await httpsGet(port, '/stats/summary', ca, nobody)).status, 403, 'nodes/stats denied too');
  t.equal((await httpsGet(port, '/healthz', ca, nobody)).status, 403, 'every path is authorized');
  // A monitoring user with only nodes/pods: /pods is enough for it (kubelet 1.33+ asks for
  // nodes/pods before nodes/proxy), container logs are not.
  const monitorUser = `${w.prefix}-monitor`;
  await cp.kubectl(['create', 'clusterrole', `${w.prefix}-pods-reader`, '--verb=get', '--resource=nodes/pods']);
  await cp.kubectl([
    'create',
    'clusterrolebinding',
    `${w.prefix}-pods-reader`,
    `--clusterrole=${w.prefix}-pods-reader`,
    `--user=${monitorUser}`,
  ]);
  await until(
    'RBAC to grant nodes/pods',
    30_000,
    async () =>
      (
        await cp.kubectl(['auth', 'can-i', 'get', 'nodes', '--subresource=pods', '--as', monitorUser], {
          allowFailure: true,
        })
      ).stdout.trim() === 'yes',
  );
  const monitor = await clientCert(tmp, 'monitor', monitorUser, join(pki, 'ca.crt'), join(pki, 'ca.key'));
  t.equal((await httpsGet(port, '/pods', ca, monitor)).status, 200, 'nodes/pods suffices for /pods');
  t.equal(
    (await httpsGet(port, `/containerLogs/${ns}/talker/main`, ca, monitor)).status,
    403,
    'but not for logs (nodes/proxy)',
  );
  const apiserverClient = {
    cert: readFileSync(join(pki, 'apiserver-kubelet-client.crt'), 'utf8'),
    key: readFileSync(join(pki, 'apiserver-kubelet-client.key'), 'utf8'),
  };
  const ok = await httpsGet(port, '/pods', ca, apiserverClient);
  t.equal(ok.status, 200, "the apiserver's kubelet client certificate: 200");
  t.ok(
    (JSON.parse(ok.body) as { items: V1Pod[] }).items.some((p) => p.metadata?.name === 'talker'),
    'and the pods',
  );
  const summary = await httpsGet(port, '/stats/summary', ca, apiserverClient);
  t.equal(
    (JSON.parse(summary.body) as { node?: { nodeName?: string } }).node?.nodeName,
    w.nodeName,
    'nodes/stats for the kubelet-api-admin',
  );
  t.equal(
    (await httpsGet(port, `/containerLogs/${ns}/talker/main?tailLines=1`, ca, apiserverClient)).body,
    'written while attached\n',
  );
  // exec is a connection upgrade, checked like any request: nodes/proxy, verb create.
  t.equal(
    await upgradeStatus(port, `/exec/${ns}/talker/main?command=true&output=1`, ca, nobody),
    403,
    'exec by a user without nodes/proxy: 403',
  );
  t.equal(
    await upgradeStatus(port, `/attach/${ns}/talker/main?output=1`, ca, nobody),
    403,
    'attach by a user without nodes/proxy: 403',
  );
  t.equal(
    await upgradeStatus(port, `/portForward/${ns}/web`, ca, nobody),
    403,
    'port-forward by a user without nodes/proxy: 403',
  );
  t.equal(
    (await httpsGet(port, `/containerLogs/${ns}/talker/main`, ca, nobody)).status,
    403,
    'logs by a user without nodes/proxy: 403',
  );
  t.equal(
    await upgradeStatus(port, `/exec/${ns}/talker/main?command=true&output=1`, ca),
    401,
    'exec without credentials: 401 (no anonymous access)',
  );
  t.equal(
    await upgradeStatus(port, `/exec/${ns}/talker/main?command=true&output=1`, ca, apiserverClient),
    101,
    "exec by the apiserver's client: switched to SPDY/3.1",
  );
  t.equal(
    await upgradeStatus(port, `/exec/${ns}/talker/nope?command=true&output=1`, ca, apiserverClient),
    404,
    'exec into a container the pod lacks: 404',
  );
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(tmp, 'other-ca.key'),
    '-out',
    join(tmp, 'other-ca.crt'),
    '-subj',
    '/CN=another CA',
    '-days',
    '1',
  ]);
  const impostor = await clientCert(
    tmp,
    'impostor',
    'kube-apiserver-kubelet-client',
    join(tmp, 'other-ca.crt'),
    join(tmp, 'other-ca.key'),
  );
  t.equal((await httpsGet(port, '/pods', ca, impostor)).status, 401, "the apiserver's name from another CA: 401");

  // Bearer tokens, reviewed by the apiserver (TokenReview, on by default with --kubeconfig).
  await kubectl(['create', 'serviceaccount', 'reader']);
  const token = (await kubectl(['create', 'token', 'reader'])).stdout.trim();
  const withToken = await httpsGet(port, '/pods', ca, undefined, { authorization: `Bearer ${token}` });
  t.equal(withToken.status, 403, 'a service account token authenticates; the account has no nodes/proxy right');
  t.match(withToken.body, `user=system:serviceaccount:${ns}:reader`);
  t.equal(
    (await httpsGet(port, '/pods', ca, undefined, { authorization: 'Bearer not-a-token' })).status,
    401,
    'a token the apiserver does not know: 401',
  );

  // --- the agent's own credentials, with kubectl: the Node authorizer and NodeRestriction keep
  // them to this node. Another Node and a pod bound to it, made by the admin:
  const other = `${w.prefix}-other`;
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        { apiVersion: 'v1', kind: 'Node', metadata: { name: other } },
        {
          apiVersion: 'v1',
          kind: 'Pod',
          metadata: { name: 'elsewhere', namespace: ns },
          spec: { nodeName: other, containers: [{ name: 'main', image: IMAGES.busybox }] },
        },
      ],
    }),
  });
  t.teardown(() => cp.kubectl(['delete', 'node', other, '--ignore-not-found'], { allowFailure: true }));
  const asNode = (args: string[]) =>
    run('kubectl', ['--kubeconfig', join(creds, 'kubeconfig'), ...args], { allowFailure: true, timeoutMs: 60_000 });
  const self = w.nodeName;
  t.equal(
    (await asNode(['label', 'node', self, `kubenode.io/${w.prefix}=own`])).code,
    0,
    'the credentials work: the node may label itself',
  );
  const denied = async (what: string, args: string[], message: RegExp) => {
    const r = await asNode(args);
    t.not(r.code, 0, `${what}: refused`);
    t.match(r.stderr, /Error from server \(Forbidden\)/, `${what}: 403 Forbidden`);
    t.match(r.stderr, message, `${what}: ${r.stderr.trim().split('\n').pop()}`);
  };
  // kubectl label and patch read the object first, which the Node authorizer already refuses
  // (a node reads only its own Node and its own pods); a PUT of the whole object goes through
  // authorization (nodes may update nodes and pods/status) to NodeRestriction, which refuses it.
  await denied(
    'read another Node',
    ['label', 'node', other, 'x=y'],
    new RegExp(`node '${self}' cannot read '${other}', only its own Node object`),
  );
  const put = async (what: string, path: string, object: unknown, message: RegExp) => {
    const file = join(tmp, `${what.replace(/\W+/g, '-')}.json`);
    writeFileSync(file, JSON.stringify(object));
    await denied(what, ['replace', '--raw', path, '-f', file], message);
  };
  const otherNode = await getJSON<V1Node>(cp, ['get', 'node', other]);
  await put(
    'modify another Node',
    `/api/v1/nodes/${other}`,
    { ...otherNode, metadata: { ...otherNode.metadata, labels: { x: 'y' } } },
    new RegExp(`node "${self}" is not allowed to modify node "${other}"`),
  );
  const elsewhere = await getJSON<V1Pod>(cp, ['-n', ns, 'get', 'pod', 'elsewhere']);
  await put(
    'write the status of a pod bound to another node',
    `/api/v1/namespaces/${ns}/pods/elsewhere/status`,
    { ...elsewhere, status: { ...elsewhere.status, phase: 'Failed' } },
    new RegExp(`node "${self}" can only update pod status for pods with spec.nodeName set to itself`),
  );
  await denied(
    'delete a pod bound to another node',
    ['-n', ns, 'delete', 'pod', 'elsewhere', '--wait=false'],
    new RegExp(`node "${self}" can only delete pods with spec.nodeName set to itself`),
  );
  const mirror = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'fake-mirror', namespace: ns, annotations: { 'kubernetes.io/config.mirror': 'x' } },
    spec: { nodeName: other, containers: [{ name: 'main', image: IMAGES.busybox }] },
  };
  writeFileSync(join(tmp, 'mirror.json'), JSON.stringify(mirror));
  await denied(
    'create a mirror pod for another node',
    ['create', '-f', join(tmp, 'mirror.json')],
    new RegExp(`node "${self}" can only create pods with spec.nodeName set to itself`),
  );
  t.equal(
    (await getJSON<V1Pod>(cp, ['-n', ns, 'get', 'pod', 'elsewhere'])).status?.phase,
    'Pending',
    "the other node's pod is untouched",
  );
});
