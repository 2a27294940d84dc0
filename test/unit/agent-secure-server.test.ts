// The node API's pure decisions: kubelet's mapping of requests to nodes/<subresource> checks,
// the authentication union (certificate, token, anonymous), the webhook decision cache,
// PodLogOptions parsing and the flags of the HTTPS API.
import t from 'tap';
import { PassThrough } from 'node:stream';
import {
  ANONYMOUS,
  DecisionCache,
  authenticate,
  forbiddenMessage,
  requestAttributes,
  requestAttributesList,
  subresourceFor,
  verbFor,
} from '../../agent/server/auth-attributes.js';
import { isLogOptionsError, parseLogOptions } from '../../agent/server/log-options.js';
import { dockerSince } from '../../agent/runtime/docker-streams.js';
import { limitBytes } from '../../agent/server/routes.js';
import { parseArgs, readConfigFile } from '../../agent/config/config.js';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { loadTlsFiles } from '../../agent/server/secure.js';
import { requireProgram } from '../harness/require.js';

t.test('paths map to nodes subresources as kubelet maps them', async (t) => {
  const cases: [string, string][] = [
    ['/stats', 'stats'],
    ['/stats/summary', 'stats'],
    ['/statsfoo', 'proxy'],
    ['/metrics', 'metrics'],
    ['/metrics/cadvisor', 'metrics'],
    ['/metrics/probes', 'metrics'],
    ['/logs', 'log'],
    ['/logs/syslog', 'log'],
    ['/logsx', 'proxy'],
    ['/spec', 'spec'],
    ['/spec/', 'spec'],
    ['/pods', 'proxy'],
    ['/containerLogs/ns/p/c', 'proxy'],
    ['/exec/ns/p/c', 'proxy'],
    ['/run/ns/p/c', 'proxy'],
    ['/attach/ns/p/c', 'proxy'],
    ['/portForward/ns/p', 'proxy'],
    ['/healthz', 'proxy'],
    ['/', 'proxy'],
  ];
  for (const [path, sub] of cases) t.equal(subresourceFor(path), sub, path);
  const verbs: [string | undefined, string][] = [
    ['GET', 'get'],
    ['HEAD', 'get'],
    ['POST', 'create'],
    ['PUT', 'update'],
    ['PATCH', 'patch'],
    ['DELETE', 'delete'],
    ['get', 'get'],
    [undefined, 'get'],
  ];
  for (const [m, v] of verbs) t.equal(verbFor(m), v, `${m} -> ${v}`);
  t.same(requestAttributes('POST', '/exec/default/web/main', 'node-1'), {
    verb: 'create',
    group: '',
    version: 'v1',
    resource: 'nodes',
    subresource: 'proxy',
    name: 'node-1',
  });
  t.same(requestAttributes('GET', '/stats/summary', 'n2'), {
    verb: 'get',
    group: '',
    version: 'v1',
    resource: 'nodes',
    subresource: 'stats',
    name: 'n2',
  });
  t.same(
    requestAttributesList('GET', '/pods', 'n').map((a) => a.subresource),
    ['pods', 'proxy'],
    '/pods: nodes/pods first, then nodes/proxy (KubeletFineGrainedAuthz)',
  );
  t.same(
    requestAttributesList('GET', '/healthz', 'n').map((a) => a.subresource),
    ['healthz', 'proxy'],
  );
  t.same(
    requestAttributesList('GET', '/configz', 'n').map((a) => a.subresource),
    ['configz', 'proxy'],
  );
  t.same(
    requestAttributesList('GET', '/containerLogs/a/b/c', 'n').map((a) => a.subresource),
    ['proxy'],
  );
  t.same(
    requestAttributesList('GET', '/stats/summary', 'n').map((a) => a.subresource),
    ['stats'],
  );
  t.same(
    requestAttributesList('GET', '/podsx', 'n').map((a) => a.subresource),
    ['proxy'],
  );
  t.equal(
    forbiddenMessage({ name: 'bob', groups: [] }, requestAttributesList('GET', '/containerLogs/a/b/c', 'n')),
    'Forbidden (user=bob, verb=get, resource=nodes, subresource=proxy)',
  );
  t.equal(
    forbiddenMessage({ name: 'bob', groups: [] }, requestAttributesList('GET', '/pods', 'n')),
    'Forbidden (user=bob, verb=get, resource=nodes, subresource(s)=[pods proxy])',
  );
});

t.test('authentication: certificate, then token, then anonymous, else 401', async (t) => {
  const good = { verified: true, commonName: 'kube-apiserver-kubelet-client', organizations: ['system:masters', 'x'] };
  t.same(
    authenticate({ cert: good, anonymous: false }),
    { user: { name: 'kube-apiserver-kubelet-client', groups: ['system:masters', 'x', 'system:authenticated'] } },
    'CN is the user, O the groups',
  );
  t.same(
    authenticate({
      cert: { verified: true, commonName: 'a', organizations: ['system:authenticated'] },
      anonymous: false,
    }),
    { user: { name: 'a', groups: ['system:authenticated'] } },
    'the group is not added twice',
  );
  const r1 = authenticate({ anonymous: false });
  t.ok('unauthorized' in r1 && /no client certificate/.test(r1.unauthorized), 'nothing presented, anonymous off: 401');
  t.same(authenticate({ anonymous: true }), { user: ANONYMOUS }, 'nothing presented, anonymous on: system:anonymous');
  const other = {
    verified: false,
    error: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
    commonName: 'kube-apiserver-kubelet-client',
  };
  const r2 = authenticate({ cert: other, anonymous: false });
  t.ok(
    'unauthorized' in r2 && /not trusted: UNABLE_TO_VERIFY_LEAF_SIGNATURE/.test(r2.unauthorized),
    'a certificate of another CA is not its CN',
  );
  t.same(
    authenticate({ cert: other, anonymous: true }),
    { user: ANONYMOUS },
    "an untrusted certificate falls through to anonymous, as kubelet's union does",
  );
  t.same(
    authenticate({
      cert: other,
      token: { authenticated: true, user: { name: 'sa', groups: ['g'] } },
      anonymous: false,
    }),
    { user: { name: 'sa', groups: ['g', 'system:authenticated'] } },
    'then a reviewed token',
  );
  const r3 = authenticate({ token: { authenticated: false, error: 'expired' }, anonymous: false });
  t.ok('unauthorized' in r3 && /bearer token: expired/.test(r3.unauthorized));
  t.same(
    authenticate({ cert: good, token: { authenticated: true, user: { name: 'sa', groups: [] } }, anonymous: false }),
    authenticate({ cert: good, anonymous: false }),
    'the certificate comes first',
  );
  const r4 = authenticate({ cert: { verified: true, organizations: ['g'] }, anonymous: false });
  t.ok('unauthorized' in r4 && /no common name/.test(r4.unauthorized), 'a trusted certificate without CN names no one');
});

t.test('decision cache: allowed 5 minutes, denied 30 seconds, bounded', async (t) => {
  const c = new DecisionCache();
  const u = { name: 'u', groups: ['b', 'a'] };
  const k = DecisionCache.key(u, requestAttributes('GET', '/pods', 'n'));
  t.equal(
    k,
    DecisionCache.key({ name: 'u', groups: ['a', 'b'] }, requestAttributes('GET', '/containerLogs/a/b/c', 'n')),
    'same user, groups in any order, same subresource: same key',
  );
  t.not(k, DecisionCache.key(u, requestAttributes('GET', '/stats', 'n')));
  t.not(k, DecisionCache.key(u, requestAttributes('POST', '/pods', 'n')));
  t.equal(c.get(k, 0), undefined);
  c.set(k, true, 1000);
  t.equal(c.get(k, 1000 + 299_999), true);
  t.equal(c.get(k, 1000 + 300_000), undefined, 'allowed expires after 5 min');
  c.set(k, false, 0);
  t.equal(c.get(k, 29_999), false);
  t.equal(c.get(k, 30_000), undefined, 'denied expires after 30 s');
  const small = new DecisionCache(undefined, 2);
  small.set('a', true, 0);
  small.set('b', true, 0);
  small.set('c', true, 0);
  t.equal(small.get('a', 1), undefined, 'the oldest entry made room');
  t.equal(small.get('c', 1), true);
});

t.test("PodLogOptions from the query, with kubelet's 400 and 422", async (t) => {
  const now = Date.parse('2026-11-22T10:00:00Z');
  const p = (q: string) => parseLogOptions(new URLSearchParams(q), now);
  t.same(p(''), { follow: false, previous: false, timestamps: false });
  t.same(p('follow=true&previous=1&timestamps=true&tailLines=10&limitBytes=500'), {
    follow: true,
    previous: true,
    timestamps: true,
    tailLines: 10,
    limitBytes: 500,
  });
  t.same(p('follow=false&previous=0'), { follow: false, previous: false, timestamps: false });
  t.same(p('tail=5'), { follow: false, previous: false, timestamps: false, tailLines: 5 }, 'the old tail parameter');
  t.same(p('tailLines=5&tail=all'), { follow: false, previous: false, timestamps: false }, 'tail=all: no limit');
  t.equal((p('sinceSeconds=30') as { sinceMs: number }).sinceMs, now - 30_000);
  t.equal((p('sinceTime=2026-11-22T09:59:00Z') as { sinceMs: number }).sinceMs, now - 60_000);
  t.equal((p('sinceTime=2026-11-22T10:59:00%2B01:00') as { sinceMs: number }).sinceMs, now - 60_000, 'an offset zone');
  const err = (q: string) => {
    const r = p(q);
    return isLogOptionsError(r) ? [r.code, r.message] : r;
  };
  t.match(err('tailLines=x'), [400, /tailLines="x"/]);
  t.match(err('tailLines=-1'), [422, /tailLines/]);
  t.match(err('limitBytes=0'), [422, /limitBytes must be greater than 0/]);
  t.match(err('limitBytes=1k'), [400, /limitBytes/]);
  t.match(err('sinceSeconds=0'), [422, /sinceSeconds/]);
  t.match(err('sinceSeconds=5&sinceTime=2026-11-22T09:59:00Z'), [422, /at most one/]);
  t.match(err('sinceTime=yesterday'), [400, /RFC 3339/]);
  t.equal(dockerSince(undefined), 0, 'no since: the whole log');
  t.equal(
    dockerSince(Date.UTC(2026, 10, 22, 10, 0, 0, 250)),
    '1795341600.250',
    'milliseconds kept, not rounded to a second',
  );
});

t.test('limitBytes cuts a stream and releases its source', async (t) => {
  const src = new PassThrough();
  const out = limitBytes(src, 7);
  const chunks: Buffer[] = [];
  out.on('data', (b: Buffer) => chunks.push(b));
  src.write('hello ');
  src.write('world\nmore\n');
  await new Promise((r) => out.once('end', r));
  t.equal(Buffer.concat(chunks).toString(), 'hello w');
  await new Promise((r) => setImmediate(r));
  t.ok(src.destroyed, 'the source (a follower) is destroyed');
});

t.test('flags of the HTTPS node API', async (t) => {
  const d = parseArgs([]);
  if (d === 'help') throw new Error('help');
  t.equal(d.port, 10250);
  t.equal(d.anonymousAuth, false, 'KubeletConfiguration default, not the bare CLI one');
  t.equal(d.authorizationMode, undefined, 'decided at start: Webhook with --kubeconfig');
  const f = parseArgs([
    '--port=0',
    '--tls-cert-file=/c',
    '--tls-private-key-file',
    '/k',
    '--client-ca-file=/ca',
    '--anonymous-auth',
    '--authorization-mode=AlwaysAllow',
  ]);
  if (f === 'help') throw new Error('help');
  t.same(
    [f.port, f.tlsCertFile, f.tlsPrivateKeyFile, f.clientCaFile, f.anonymousAuth, f.authorizationMode],
    [0, '/c', '/k', '/ca', true, 'AlwaysAllow'],
  );
  const g = parseArgs([
    '--anonymous-auth=false',
    '--kubeconfig=/kc',
    '--authorization-mode=Webhook',
    '--authentication-token-webhook',
  ]);
  if (g === 'help') throw new Error('help');
  t.same([g.anonymousAuth, g.authorizationMode, g.authenticationTokenWebhook], [false, 'Webhook', true]);
  t.throws(() => parseArgs(['--port=70000']), { message: /--port 70000/ });
  t.throws(() => parseArgs(['--tls-cert-file=/c']), { message: /--tls-cert-file and --tls-private-key-file/ });
  t.throws(() => parseArgs(['--authorization-mode=RBAC']), {
    message: /--authorization-mode RBAC: expected Webhook or AlwaysAllow/,
  });
  t.throws(() => parseArgs(['--authorization-mode=Webhook']), { message: /needs --kubeconfig/ });
  t.throws(() => parseArgs(['--anonymous-auth=maybe']), { message: /--anonymous-auth: expected true or false/ });

  const dir = await mkdtemp(join(tmpdir(), 'agent-secure-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'c.yaml');
  await writeFile(
    file,
    'kind: KubeletConfiguration\nport: 10251\ntlsCertFile: /c\ntlsPrivateKeyFile: /k\nauthentication:\n  x509: {clientCAFile: /ca}\n  anonymous: {enabled: true}\n  webhook: {enabled: false}\nauthorization: {mode: AlwaysAllow}\n',
  );
  t.same(
    readConfigFile(file),
    {
      port: 10251,
      tlsCertFile: '/c',
      tlsPrivateKeyFile: '/k',
      clientCaFile: '/ca',
      anonymousAuth: true,
      authenticationTokenWebhook: false,
      authorizationMode: 'AlwaysAllow',
    },
    "KubeletConfiguration's nested authentication and authorization",
  );
  await writeFile(file, 'authentication:\n  oidc: {}\n');
  t.throws(() => readConfigFile(file), { message: /unknown setting "authentication.oidc"/ });
});

t.test('serving certificate, key and client CA: errors name the flag', async (t) => {
  requireProgram('openssl');
  const dir = await mkdtemp(join(tmpdir(), 'agent-tls-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const f = (n: string) => join(dir, n);
  for (const n of ['a', 'b']) {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      f(`${n}.key`),
      '-out',
      f(`${n}.crt`),
      '-subj',
      `/CN=${n}`,
      '-days',
      '1',
    ]);
  }
  await writeFile(f('junk'), 'not PEM\n');
  const ok = loadTlsFiles({ certFile: f('a.crt'), keyFile: f('a.key'), clientCAFile: f('b.crt') });
  t.match(ok.cert, /BEGIN CERTIFICATE/);
  t.match(ok.clientCA, /BEGIN CERTIFICATE/);
  t.equal(loadTlsFiles({ certFile: f('a.crt'), keyFile: f('a.key') }).clientCA, undefined);
  t.throws(() => loadTlsFiles({ certFile: f('nope.crt'), keyFile: f('a.key') }), {
    message: `--tls-cert-file ${f('nope.crt')}: cannot read: ENOENT`,
  });
  t.throws(() => loadTlsFiles({ certFile: f('a.crt'), keyFile: f('nope.key') }), {
    message: /^--tls-private-key-file .*nope\.key: cannot read: ENOENT/,
  });
  t.throws(() => loadTlsFiles({ certFile: f('junk'), keyFile: f('a.key') }), {
    message: /^--tls-cert-file .*junk: not a PEM certificate/,
  });
  t.throws(() => loadTlsFiles({ certFile: f('a.crt'), keyFile: f('junk') }), {
    message: /^--tls-private-key-file .*junk: not a PEM private key/,
  });
  t.throws(() => loadTlsFiles({ certFile: f('a.crt'), keyFile: f('b.key') }), {
    message: /^--tls-private-key-file .*b\.key does not match --tls-cert-file .*a\.crt/,
  });
  t.throws(() => loadTlsFiles({ certFile: f('a.crt'), keyFile: f('a.key'), clientCAFile: f('junk') }), {
    message: /^--client-ca-file .*junk: not a PEM certificate/,
  });
  t.throws(() => loadTlsFiles({ certFile: f('a.crt'), keyFile: f('a.key'), clientCAFile: f('none') }), {
    message: /^--client-ca-file .*none: cannot read: ENOENT/,
  });
});
