// The probe handlers against real servers on loopback: HTTP(S) status codes, headers,
// redirects, timeouts; TCP; the gRPC health protocol, byte by byte and against the reference
// gRPC implementation (@grpc/grpc-js, a devDependency for exactly this check) in both
// directions. Real containers are in test/integration/prober-*.test.ts.
import t from 'tap';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { V1Container } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { requireProgram } from '../harness/require.js';
import { httpProbe } from '../../agent/prober/handlers/http.js';
import { decodeBody, mergeHeaders, parseResponseHead, requestHead } from '../../agent/prober/http-wire.js';
import { tcpProbe } from '../../agent/prober/handlers/tcp.js';
import { GrpcConnection, grpcProbe } from '../../agent/prober/handlers/grpc.js';
import { ProbeManager } from '../../agent/prober/manager.js';
import { createLogger } from '../../lib/log.js';
import { execProbe, ExecTimeoutError } from '../../agent/prober/handlers/exec.js';
import { runProbe } from '../../agent/prober/run.js';
import { probeSpec } from '../../agent/podspec/probe-spec.js';
import { startHealthServer } from '../../agent/prober/grpc-health-server.js';
import * as wire from '../../agent/prober/grpc-wire.js';
import type { ProbeTarget } from '../../agent/prober/types.js';

const never = new AbortController().signal;

function listen(server: net.Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as net.AddressInfo).port)),
  );
}
function closeAtTeardown(t: { teardown(fn: () => unknown): void }, server: net.Server) {
  const sockets = new Set<net.Socket>();
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  t.teardown(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
}

/** A server whose answers the test picks by path; records the requests it got. */
async function httpServer(t: { teardown(fn: () => unknown): void }) {
  const seen: http.IncomingMessage[] = [];
  const server = http.createServer((req, res) => {
    seen.push(req);
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/status') return void res.writeHead(Number(url.searchParams.get('code'))).end('body');
    if (url.pathname === '/redirect')
      return void res.writeHead(302, { location: url.searchParams.get('to') ?? '/' }).end('moved away');
    if (url.pathname === '/loop') return void res.writeHead(301, { location: '/loop' }).end();
    if (url.pathname === '/hang') return; // never answers
    if (url.pathname === '/big') return void res.writeHead(200).end(Buffer.alloc(1 << 20, 'x'));
    res.writeHead(200).end('ok');
  });
  closeAtTeardown(t, server);
  const port = await listen(server);
  return { port, seen, url: (path: string) => new URL(`http://127.0.0.1:${port}${path}`) };
}

t.test('httpGet: 200-399 succeed, others fail with the status code', async (t) => {
  const s = await httpServer(t);
  for (const code of [200, 204, 299, 304, 399]) {
    const o = await httpProbe({ url: s.url(`/status?code=${code}`), headers: [], signal: never });
    t.equal(o.result, 'success', `${code} is success`);
  }
  for (const code of [400, 404, 500, 503]) {
    const o = await httpProbe({ url: s.url(`/status?code=${code}`), headers: [], signal: never });
    t.same(o, { result: 'failure', message: `HTTP probe failed with statuscode: ${code}` });
  }
  const big = await httpProbe({ url: s.url('/big'), headers: [], signal: never });
  t.equal(big.result, 'success', 'a large body is not read to the end');
});

t.test("httpGet: kubelet's headers, overridable; httpHeaders sent; Host honoured", async (t) => {
  const s = await httpServer(t);
  await httpProbe({ url: s.url('/x?q=1'), headers: [], signal: never });
  const plain = s.seen.at(-1)!;
  t.equal(plain.headers['user-agent'], 'kube-probe/1.34');
  t.equal(plain.headers.accept, '*/*');
  t.equal(plain.url, '/x?q=1', 'path and query');
  t.equal(plain.headers.connection, 'close', 'no keep-alive');
  await httpProbe({
    url: s.url('/'),
    headers: [
      { name: 'user-agent', value: 'mine' },
      { name: 'X-Custom', value: 'a' },
      { name: 'X-Custom', value: 'b' },
      { name: 'Host', value: 'svc.example' },
    ],
    signal: never,
  });
  const custom = s.seen.at(-1)!;
  t.equal(custom.headers['user-agent'], 'mine', 'a probe header replaces the default');
  t.equal(custom.headers['x-custom'], 'a, b', 'repeated headers all sent');
  t.equal(custom.headers.host, 'svc.example');
  t.same(
    mergeHeaders(
      [
        { name: 'User-Agent', value: 'kube-probe/1.34' },
        { name: 'Accept', value: '*/*' },
      ],
      [{ name: 'ACCEPT', value: 'text/plain' }],
    ),
    [
      ['User-Agent', 'kube-probe/1.34'],
      ['ACCEPT', 'text/plain'],
    ],
  );
  const bad = await httpProbe({
    url: s.url('/'),
    headers: [{ name: 'X-Evil', value: 'a\r\nX-Injected: 1' }],
    signal: never,
  });
  t.match(bad, { result: 'failure', message: /line breaks are not allowed/ }, 'no header injection');
});

t.test('HTTP/1.1 on the wire: the request head, and response heads parsed', async (t) => {
  t.equal(
    requestHead(new URL('http://10.0.0.1:8080/a b?x=1'), [
      ['User-Agent', 'kube-probe/1.34'],
      ['Connection', 'keep-alive'],
    ]),
    'GET /a%20b?x=1 HTTP/1.1\r\nHost: 10.0.0.1:8080\r\nUser-Agent: kube-probe/1.34\r\nConnection: close\r\n\r\n',
    'Host from the URL, path escaped, Connection always close',
  );
  t.equal(
    requestHead(new URL('http://[fd00::1]:80/'), [['host', 'svc']]),
    'GET / HTTP/1.1\r\nhost: svc\r\nConnection: close\r\n\r\n',
  );
  t.throws(() => requestHead(new URL('http://x/'), [['Bad Name', 'v']]), /invalid HTTP header name/);
  const headText = 'HTTP/1.1 204 No Content\r\nX-A: 1\r\nx-a: 2\r\nLocation:  /y \r\n\r\n';
  const ok = parseResponseHead(Buffer.from(headText + 'body'));
  t.match(ok, { status: 204, bodyStart: headText.length });
  t.equal((ok as { headers: Map<string, string> }).headers.get('x-a'), '1, 2');
  t.equal((ok as { headers: Map<string, string> }).headers.get('location'), '/y');
  t.equal(parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nX: 1\r\n')), undefined, 'incomplete');
  t.match(
    parseResponseHead(Buffer.from('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.0 503 Busy\r\n\r\n')),
    { status: 503 },
    '1xx skipped',
  );
  t.match(parseResponseHead(Buffer.from('HTTP/1.1 101 Switching\r\n\r\n')), { status: 101 });
  t.type(parseResponseHead(Buffer.from('SSH-2.0-OpenSSH\r\n\r\n')), Error, 'not HTTP');
  t.type(parseResponseHead(Buffer.from('HTTP/1.1 200 OK\r\nno colon\r\n\r\n')), Error);
  t.equal(
    decodeBody(
      new Map([['transfer-encoding', 'chunked']]),
      Buffer.from('5\r\nhello\r\n6;x=1\r\n world\r\n0\r\n\r\n'),
    ).toString(),
    'hello world',
  );
  t.equal(decodeBody(new Map(), Buffer.from('5\r\nhello')).toString(), '5\r\nhello', 'not chunked: as is');
});

t.test('httpGet against odd servers: EOF without answer, garbage, early close after the head', async (t) => {
  let reply = '';
  const server = net.createServer((sock) => {
    sock.on('error', () => {});
    sock.once('data', () => sock.end(reply));
  });
  closeAtTeardown(t, server);
  const port = await listen(server);
  const at = (r: string) => {
    reply = r;
    return httpProbe({ url: new URL(`http://127.0.0.1:${port}/`), headers: [], signal: never });
  };
  t.match(await at(''), { result: 'failure', message: /closed the connection without answering/ });
  t.match(await at('hello\r\n\r\n'), { result: 'failure', message: /malformed HTTP response/ });
  t.match(await at('HTTP/1.0 200 OK\r\n\r\n'), { result: 'success' }, 'HTTP/1.0, no body');
  t.match(await at('HTTP/1.1 500 Oops\r\nContent-Length: 1000\r\n\r\nshort'), {
    result: 'failure',
    message: 'HTTP probe failed with statuscode: 500',
  });
});

t.test(
  'httpGet redirects: same host followed, another host not followed (success with a warning), loops fail',
  async (t) => {
    const s = await httpServer(t);
    const same = await httpProbe({ url: s.url('/redirect?to=/status%3Fcode%3D500'), headers: [], signal: never });
    t.same(same, { result: 'failure', message: 'HTTP probe failed with statuscode: 500' }, 'followed to the 500');
    t.equal(s.seen.at(-1)!.url, '/status?code=500');
    const n = s.seen.length;
    // Never contacted: the point is that we do not go there.
    const other = await httpProbe({ url: s.url('/redirect?to=http://other.invalid/'), headers: [], signal: never });
    t.equal(other.result, 'success');
    t.match(other.warning, /Probe terminated redirects .*other\.invalid.*moved away/);
    t.equal(s.seen.length, n + 1, 'only the first request was made');
    const loop = await httpProbe({ url: s.url('/loop'), headers: [], signal: never });
    t.equal(loop.result, 'failure');
    t.match(loop.message, /stopped after 10 redirects/);
    t.equal(s.seen.length, n + 11);
  },
);

t.test('httpGet over HTTPS does not verify the certificate', async (t) => {
  requireProgram('openssl');
  const dir = mkdtempSync(join(tmpdir(), 'kt-probe-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-days',
    '1',
    '-subj',
    '/CN=not-this-host',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
  ]);
  const server = https.createServer(
    { key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) },
    (req, res) => res.writeHead(req.url === '/bad' ? 500 : 200).end(),
  );
  closeAtTeardown(t, server);
  const port = await listen(server);
  t.equal(
    (await httpProbe({ url: new URL(`https://127.0.0.1:${port}/`), headers: [], signal: never })).result,
    'success',
  );
  t.equal(
    (await httpProbe({ url: new URL(`https://127.0.0.1:${port}/bad`), headers: [], signal: never })).message,
    'HTTP probe failed with statuscode: 500',
  );
});

function target(container: Partial<V1Container>, exec?: ProbeTarget['exec']): ProbeTarget {
  const c: V1Container = { name: 'app', image: 'x', ...container };
  return {
    pod: { metadata: { name: 'p' }, spec: { containers: [c] } },
    container: c,
    containerId: 'c1',
    podIP: () => '127.0.0.1',
    exec: exec ?? (async () => ({ exitCode: 0, output: '' })),
  };
}

t.test('runProbe: named ports, pod IP as host, timeouts as failures', async (t) => {
  const s = await httpServer(t);
  const tg = target({ ports: [{ name: 'web', containerPort: s.port }] });
  const named = runProbe(probeSpec({ httpGet: { port: 'web', path: 'status?code=201' } }), tg);
  t.same(
    await named.outcome,
    { result: 'success', message: 'HTTP probe succeeded with statuscode: 201' },
    'named port, path without a slash',
  );
  const missing = await runProbe(probeSpec({ tcpSocket: { port: 'nope' } }), tg).outcome;
  t.equal(missing.result, 'unknown', 'an unknown port name is a prober error, not a container failure');
  const noIP = await runProbe(probeSpec({ tcpSocket: { port: 80 } }), { ...tg, podIP: () => undefined }).outcome;
  t.same(noIP, { result: 'unknown', message: 'the pod has no IP address yet' });

  const t0 = Date.now();
  const hung = runProbe(probeSpec({ httpGet: { port: s.port, path: '/hang' }, timeoutSeconds: 1 }), tg);
  t.same(await hung.outcome, { result: 'failure', message: 'timeout after 1s' });
  const took = Date.now() - t0;
  t.ok(took >= 990 && took < 1500, `timed out after about 1 s (${took} ms)`);
  await hung.done;
  t.pass('the request itself was aborted');
});

t.test('tcpSocket: handshake is success; refused and timeout are failures', async (t) => {
  const server = net.createServer((s) => s.end());
  closeAtTeardown(t, server);
  const port = await listen(server);
  t.equal((await tcpProbe('127.0.0.1', port, never)).result, 'success');
  const free = net.createServer();
  const freePort = await listen(free);
  await new Promise((r) => free.close(r));
  t.same(await tcpProbe('127.0.0.1', freePort, never), {
    result: 'failure',
    message: `dial tcp 127.0.0.1:${freePort}: connect: connection refused`,
  });
  const ac = new AbortController();
  ac.abort();
  t.match((await tcpProbe('127.0.0.1', port, ac.signal)).message, /i\/o timeout/);
});

t.test('exec handler: exit codes, output, timeouts, errors', async (t) => {
  const tg = (r: () => Promise<{ exitCode: number; output: string }>) => target({}, r);
  t.same(
    await execProbe(
      tg(async () => ({ exitCode: 0, output: 'fine' })),
      ['x'],
      1000,
    ),
    { result: 'success', message: 'exit code 0' },
  );
  t.same(
    await execProbe(
      tg(async () => ({ exitCode: 3, output: 'boom\n' })),
      ['x'],
      1000,
    ),
    { result: 'failure', message: 'exit code 3: boom' },
  );
  const long = await execProbe(
    tg(async () => ({ exitCode: 1, output: 'y'.repeat(5000) })),
    ['x'],
    1000,
  );
  t.ok(long.message.length < 1200, 'output truncated in the message');
  t.match(long.message, /more characters\)$/);
  t.match(
    await execProbe(
      tg(async () => {
        throw new ExecTimeoutError(1000, 'killed 1 process');
      }),
      ['x'],
      1000,
    ),
    { result: 'failure', message: /timeout after 1s/ },
  );
  t.match(
    await execProbe(
      tg(async () => {
        throw new Error('container is not running');
      }),
      ['x'],
      1000,
    ),
    { result: 'unknown', message: /not running/ },
  );
  let gotTimeout = 0;
  await runProbe(
    probeSpec({ exec: { command: ['true'] }, timeoutSeconds: 2 }),
    tg(async () => ({ exitCode: 0, output: '' })),
  ).outcome;
  await runProbe(
    probeSpec({ exec: { command: ['true'] }, timeoutSeconds: 2 }),
    target({}, async (_c, ms) => ((gotTimeout = ms), { exitCode: 0, output: '' })),
  ).outcome;
  t.equal(gotTimeout, 2000, 'the timeout is handed to ProbeTarget.exec');
});

t.test('gRPC health messages, byte by byte', async (t) => {
  t.same([...wire.encodeHealthCheckRequest('')], [], 'empty service: no field on the wire');
  t.same([...wire.encodeHealthCheckRequest('abc')], [0x0a, 3, 0x61, 0x62, 0x63]);
  const long = 'x'.repeat(300);
  t.same([...wire.encodeHealthCheckRequest(long).subarray(0, 3)], [0x0a, 0xac, 0x02], 'varint length 300');
  t.equal(wire.decodeHealthCheckRequest(wire.encodeHealthCheckRequest(long)).service, long);
  t.same([...wire.encodeHealthCheckResponse(1)], [0x08, 0x01]);
  t.equal(wire.decodeHealthCheckResponse(Buffer.from([])).status, 0, 'absent status is UNKNOWN');
  // Unknown fields of every wire type are skipped: a future server may add some.
  const withExtras = Buffer.from([
    0x10, 0x96, 0x01, 0x19, 1, 2, 3, 4, 5, 6, 7, 8, 0x22, 2, 0x61, 0x62, 0x2d, 1, 2, 3, 4, 0x08, 0x02,
  ]);
  t.equal(wire.decodeHealthCheckResponse(withExtras).status, 2);
  t.throws(() => wire.decodeHealthCheckResponse(Buffer.from([0x08])), /truncated/);
  t.same([...wire.frameMessage(Buffer.from([0x08, 0x01]))], [0, 0, 0, 0, 2, 0x08, 0x01]);
  t.equal(wire.unframeMessage(Buffer.from([0, 0, 0, 0, 2, 0x08])), undefined, 'incomplete frame');
  t.equal(wire.grpcTimeout(1000), '1000m');
  t.same(wire.encodeVarint(0), [0]);
  t.equal(wire.decodeVarint(Uint8Array.from(wire.encodeVarint(2 ** 40)), 0).value, 2 ** 40);
});

t.test(
  'gRPC probe against our health server: SERVING, NOT_SERVING, unknown service, unimplemented, hang',
  async (t) => {
    const s = await startHealthServer({
      port: 0,
      host: '127.0.0.1',
      statuses: new Map([
        ['', 1],
        ['down', 2],
        ['unknown', 0],
      ]),
    });
    t.teardown(() => s.close());
    t.same(await grpcProbe('127.0.0.1', s.port, '', 1000, never), {
      result: 'success',
      message: 'gRPC health status: SERVING',
    });
    t.same(await grpcProbe('127.0.0.1', s.port, 'down', 1000, never), {
      result: 'failure',
      message: 'service unhealthy (responded with "NOT_SERVING")',
    });
    t.same(await grpcProbe('127.0.0.1', s.port, 'unknown', 1000, never), {
      result: 'failure',
      message: 'service unhealthy (responded with "UNKNOWN")',
    });
    t.same(await grpcProbe('127.0.0.1', s.port, 'nope', 1000, never), {
      result: 'failure',
      message: 'rpc error: code = NotFound desc = unknown service',
    });
    // An HTTP/2 server that is not a gRPC health server.
    const h = await startHealthServer({ port: 0, host: '127.0.0.1' });
    t.teardown(() => h.close());
    const hang = await startHealthServer({ port: 0, host: '127.0.0.1', hang: true });
    t.teardown(() => hang.close());
    const r = runProbe(probeSpec({ grpc: { port: hang.port }, timeoutSeconds: 1 }), target({}));
    t.same(await r.outcome, { result: 'failure', message: 'timeout after 1s' });
    await r.done;
    const plain = http.createServer((_q, res) => res.end('hi'));
    closeAtTeardown(t, plain);
    const plainPort = await listen(plain);
    t.equal(
      (await grpcProbe('127.0.0.1', plainPort, '', 1000, never)).result,
      'failure',
      'an HTTP/1 server is a failure',
    );
  },
);

t.test('gRPC interop with the reference implementation (@grpc/grpc-js), both directions', async (t) => {
  const require = createRequire(import.meta.url);
  let grpc: typeof import('@grpc/grpc-js');
  try {
    grpc = require('@grpc/grpc-js');
  } catch {
    throw new Error('@grpc/grpc-js is missing (it comes with dockerode): run npm ci');
  }
  const def = {
    Check: {
      path: wire.HEALTH_CHECK_PATH,
      requestStream: false,
      responseStream: false,
      requestSerialize: (o: { service: string }) => wire.encodeHealthCheckRequest(o.service),
      requestDeserialize: (b: Buffer) => wire.decodeHealthCheckRequest(b),
      responseSerialize: (o: { status: number }) => wire.encodeHealthCheckResponse(o.status),
      responseDeserialize: (b: Buffer) => wire.decodeHealthCheckResponse(b),
    },
  };
  const server = new grpc.Server();
  server.addService(def, {
    Check: (call: { request: { service: string } }, cb: (e: unknown, r?: { status: number }) => void) =>
      call.request.service === 'gone'
        ? cb({ code: grpc.status.NOT_FOUND, details: 'unknown service gone' })
        : cb(null, { status: call.request.service === 'down' ? 2 : 1 }),
  } as never);
  const port = await new Promise<number>((res, rej) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
  );
  t.teardown(() => server.forceShutdown());
  t.equal((await grpcProbe('127.0.0.1', port, '', 1000, never)).result, 'success', 'our client, grpc-js server');
  t.match(await grpcProbe('127.0.0.1', port, 'down', 1000, never), { result: 'failure', message: /NOT_SERVING/ });
  t.match(await grpcProbe('127.0.0.1', port, 'gone', 1000, never), {
    result: 'failure',
    message: /NotFound desc = unknown service gone/,
  });

  const ours = await startHealthServer({
    port: 0,
    host: '127.0.0.1',
    statuses: new Map([
      ['', 1],
      ['down', 2],
    ]),
  });
  t.teardown(() => ours.close());
  const Client = grpc.makeGenericClientConstructor(def as never, 'Health');
  const client = new Client(`127.0.0.1:${ours.port}`, grpc.credentials.createInsecure());
  t.teardown(() => client.close());
  const call = (service: string) =>
    new Promise((res) =>
      (client as unknown as Record<string, Function>).Check({ service }, (e: { code: number } | null, r: unknown) =>
        res(e ? { code: e.code } : r),
      ),
    );
  t.same(await call(''), { status: 1 }, 'grpc-js client, our server');
  t.same(await call('down'), { status: 2 });
  t.same(await call('nope'), { code: grpc.status.NOT_FOUND });
});

t.test('gRPC: a worker keeps one connection, redials when it breaks, and closes it when removed', async (t) => {
  let s = await startHealthServer({ port: 0, host: '127.0.0.1' });
  const port = s.port;
  t.teardown(() => s.close());
  let opened = 0;
  let open = 0;
  const watch = (srv: typeof s) =>
    srv.server.on('session', (sess) => {
      opened++;
      open++;
      sess.once('close', () => open--);
    });
  watch(s);
  const conn = new GrpcConnection();
  t.teardown(() => conn.close());
  for (let i = 0; i < 3; i++) t.equal((await grpcProbe('127.0.0.1', port, '', 1000, never, conn)).result, 'success');
  t.equal(opened, 1, 'three probes, one connection');
  // The server restarts: the kept connection is dead; the next probe must not fail for that.
  await s.close();
  s = await startHealthServer({ port, host: '127.0.0.1' });
  watch(s);
  t.same(
    await grpcProbe('127.0.0.1', port, '', 1000, never, conn),
    { result: 'success', message: 'gRPC health status: SERVING' },
    'redialled',
  );
  t.equal(opened, 2);
  conn.close();

  const m = new ProbeManager({ logger: createLogger('agent', { sink: () => {} }), onChange: () => {} });
  t.teardown(() => m.stop());
  const c: V1Container = { name: 'g', image: 'x', readinessProbe: { grpc: { port }, periodSeconds: 1 } };
  m.addContainer('u', {
    pod: { metadata: { name: 'p' }, spec: { containers: [c] } },
    container: c,
    containerId: 'c',
    podIP: () => '127.0.0.1',
    exec: async () => ({ exitCode: 0, output: '' }),
  });
  await new Promise((r) => setTimeout(r, 2500));
  t.ok(m.isReady('u', 'g'));
  t.equal(open, 1, 'the worker holds one connection');
  m.removeContainer('u', 'g');
  await new Promise((r) => setTimeout(r, 200));
  t.equal(open, 0, 'closed when the container is removed');
});
