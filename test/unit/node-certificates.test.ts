// The pure parts of TLS bootstrap: the PKCS#10 encoder (checked by openssl, the independent
// judge), the detached JWS of cluster-info (a vector computed with openssl dgst -hmac), the CA
// pin, kubelet's 70-90% rotation deadline, the CSR outcome, and the cert-dir file layout.
import t from 'tap';
import { X509Certificate, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createCsrPem } from '../../agent/certificate/csr.js';
import { ipBytes, oid, tlv } from '../../lib/der.js';
import { JwsError, signDetached, verifyDetached } from '../../agent/certificate/jws.js';
import { caCertHash, parseCaCertHash } from '../../agent/certificate/ca-hash.js';
import { rotationDeadline, delayUntil } from '../../agent/certificate/rotation.js';
import { csrOutcome } from '../../agent/certificate/request.js';
import { fileTimestamp, loadCurrent, parsePair, storePair, isValidAt } from '../../agent/certificate/store.js';
import { usagesFor } from '../../agent/certificate/manager.js';
import { templateMismatch } from '../../agent/certificate/template.js';
import { requireProgram } from '../harness/require.js';

function tmp(test: { teardown(fn: () => void): void }): string {
  const d = mkdtempSync(join(tmpdir(), 'kubenode-certs-'));
  test.teardown(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

/** openssl req -verify's verdict (OpenSSL 3 prints it on stderr and exits 0 either way). */
function csrVerdict(input: string | Buffer, inform = 'PEM'): string {
  const r = spawnSync('openssl', ['req', '-verify', '-noout', '-inform', inform], { input });
  return `${String(r.stdout)}${String(r.stderr)}`.trim();
}

function openssl(args: string[], input?: string): string {
  return execFileSync('openssl', args, { input, encoding: 'utf8', stdio: ['pipe', 'pipe', 'pipe'] });
}

t.test('DER building blocks', async (t) => {
  t.equal(tlv(0x04, Buffer.alloc(3)).toString('hex'), '0403000000', 'short length');
  t.equal(tlv(0x04, Buffer.alloc(200)).subarray(0, 3).toString('hex'), '0481c8', 'long length, one byte');
  t.equal(tlv(0x04, Buffer.alloc(300)).subarray(0, 4).toString('hex'), '0482012c', 'long length, two bytes');
  t.equal(oid('1.2.840.10045.4.3.2').toString('hex'), '06082a8648ce3d040302', 'ecdsa-with-SHA256');
  t.equal(oid('2.5.29.17').toString('hex'), '0603551d11', 'subjectAltName');
  t.equal(ipBytes('10.0.0.1').toString('hex'), '0a000001');
  t.equal(ipBytes('fd00::1').toString('hex'), 'fd000000000000000000000000000001');
  t.equal(ipBytes('::ffff:192.168.1.2').toString('hex'), '00000000000000000000ffffc0a80102');
  t.throws(() => ipBytes('node1'), /not an IP address/);
});

t.test('CSR: openssl verifies the self-signature and reads subject and SANs (EC and RSA)', async (t) => {
  requireProgram('openssl');
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  const serving = createCsrPem({
    subject: { commonName: 'system:node:n1', organizations: ['system:nodes'] },
    dnsNames: ['n1'],
    ipAddresses: ['10.0.0.1', 'fd00::1'],
    key: ec,
  });
  const out = openssl(['req', '-verify', '-noout', '-text'], serving);
  t.match(out, /Subject: O = system:nodes, CN = system:node:n1/);
  t.match(out, /DNS:n1, IP Address:10\.0\.0\.1, IP Address:FD00:0:0:0:0:0:0:1/);
  t.match(out, /Signature Algorithm: ecdsa-with-SHA256/);
  t.match(csrVerdict(serving), /self-signature verify OK/, 'EC self-signature verifies');
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
  const client = createCsrPem({ subject: { commonName: 'system:node:n1', organizations: ['system:nodes'] }, key: rsa });
  t.match(csrVerdict(client), /self-signature verify OK/, 'RSA self-signature verifies');
  const text = openssl(['req', '-noout', '-text'], client);
  t.match(text, /sha256WithRSAEncryption/);
  t.notMatch(text, /Subject Alternative Name/, 'no SANs: no extension request');
  // The public key in the request is the key's.
  const pub = openssl(['req', '-noout', '-pubkey'], client);
  t.equal(
    pub.trim(),
    (createPublicKey(rsa).export({ type: 'spki', format: 'pem' }) as string).trim(),
    'SubjectPublicKeyInfo of the key',
  );
  // A tampered request fails verification.
  const der = Buffer.from(serving.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64');
  der[der.length - 5] ^= 0xff;
  t.match(csrVerdict(der, 'DER'), /verify failure/, 'a flipped signature byte does not verify');
  t.throws(() => createCsrPem({ subject: { commonName: '' }, key: ec }), /commonName is empty/);
});

t.test('detached JWS of cluster-info: a vector computed with openssl, and what is refused', async (t) => {
  // printf 'eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9.aGVsbG8' | openssl dgst -sha256 -hmac 0123456789abcdef -binary | base64url
  const vector = 'eyJhbGciOiJIUzI1NiIsImtpZCI6ImFiY2RlZiJ9..MxsnbCjBaYzcbNIFa06F-wuF9LX26rhMlrL4zA1511s';
  t.equal(signDetached('hello', 'abcdef', '0123456789abcdef'), vector);
  t.doesNotThrow(() => verifyDetached(vector, 'hello', 'abcdef', '0123456789abcdef'));
  t.throws(
    () => verifyDetached(vector, 'hello!', 'abcdef', '0123456789abcdef'),
    { name: 'JwsError', message: /signature does not match/ },
    'altered content',
  );
  t.throws(
    () => verifyDetached(vector, 'hello', 'abcdef', '0123456789abcdeX'),
    /signature does not match/,
    'wrong secret',
  );
  t.throws(
    () => verifyDetached(vector, 'hello', 'zzzzzz', '0123456789abcdef'),
    /key id is "abcdef", expected the token id "zzzzzz"/,
  );
  const none = `${Buffer.from('{"alg":"none","kid":"abcdef"}').toString('base64url')}..`;
  t.throws(() => verifyDetached(none, 'hello', 'abcdef', '0123456789abcdef'), /algorithm is "none"/);
  t.throws(() => verifyDetached('a.b.c', 'hello', 'abcdef', 'x'), JwsError);
});

t.test('CA certificate hash: SHA-256 of the SubjectPublicKeyInfo, as openssl computes it', async (t) => {
  requireProgram('openssl');
  const dir = tmp(t);
  openssl([
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    join(dir, 'ca.key'),
    '-out',
    join(dir, 'ca.crt'),
    '-subj',
    '/CN=test-ca',
    '-days',
    '1',
  ]);
  const pem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const spki = execFileSync('openssl', ['x509', '-pubkey', '-noout', '-in', join(dir, 'ca.crt')]);
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'DER'], { input: spki });
  const hex = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der }).toString().trim().split(' ').pop();
  t.equal(caCertHash(pem), `sha256:${hex}`);
  t.equal(parseCaCertHash(`SHA256:${hex!.toUpperCase()}`), `sha256:${hex}`);
  t.throws(() => parseCaCertHash('md5:abc'), /expected "sha256:" and 64 hex digits/);
});

t.test('rotation deadline: 70% to 90% of the lifetime', async (t) => {
  const from = new Date('2026-01-01T00:00:00Z');
  const to = new Date('2026-01-11T00:00:00Z'); // 10 days
  t.equal(rotationDeadline(from, to, 0).toISOString(), '2026-01-08T00:00:00.000Z', '70%');
  t.equal(rotationDeadline(from, to, 1).toISOString(), '2026-01-10T00:00:00.000Z', '90%');
  t.equal(rotationDeadline(from, to, 0.5).toISOString(), '2026-01-09T00:00:00.000Z', '80%');
  for (let i = 0; i < 200; i++) {
    const d = rotationDeadline(from, to, Math.random()).getTime();
    if (d < Date.parse('2026-01-08T00:00:00Z') || d > Date.parse('2026-01-10T00:00:00Z'))
      t.fail(`deadline ${new Date(d).toISOString()} outside 70-90%`);
  }
  t.throws(() => rotationDeadline(to, from, 0.5), /is not after notBefore/);
  t.equal(delayUntil(new Date(1000), new Date(4000)), 0, 'past deadline: now');
  t.equal(delayUntil(new Date(5000), new Date(4000)), 1000);
});

t.test('CSR outcome: issued only when approved and the certificate is set; denied and failed end it', async (t) => {
  const cert = Buffer.from('PEM').toString('base64');
  t.equal(csrOutcome({ spec: { request: '', signerName: 's' } as never }), undefined, 'pending');
  t.equal(
    csrOutcome({ spec: {} as never, status: { conditions: [{ type: 'Approved', status: 'True' }] as never } }),
    undefined,
    'approved, not signed yet',
  );
  t.same(
    csrOutcome({
      spec: {} as never,
      status: { certificate: cert as never, conditions: [{ type: 'Approved', status: 'True' }] as never },
    }),
    { certificate: 'PEM' },
  );
  t.same(
    csrOutcome({
      spec: {} as never,
      status: { conditions: [{ type: 'Denied', status: 'True', reason: 'SANMismatch', message: 'no' }] as never },
    }),
    { failed: 'Denied (SANMismatch): no' },
  );
  t.same(
    csrOutcome({
      spec: {} as never,
      status: {
        conditions: [
          { type: 'Approved', status: 'True' },
          { type: 'Failed', status: 'True', reason: 'SignerValidationFailure' },
        ] as never,
      },
    }),
    { failed: 'Failed (SignerValidationFailure)' },
  );
  t.same(
    usagesFor(['digital signature', 'client auth'], generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey),
    ['digital signature', 'key encipherment', 'client auth'],
    'RSA adds key encipherment',
  );
  t.same(
    usagesFor(['digital signature', 'client auth'], generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey),
    ['digital signature', 'client auth'],
  );
});

t.test(
  'cert dir: kubelet-client-<timestamp>.pem holds certificate and key, -current.pem points at the newest',
  async (t) => {
    requireProgram('openssl');
    const dir = tmp(t);
    t.equal(fileTimestamp(new Date('2026-03-04T05:06:07Z')), '2026-03-04-05-06-07');
    t.match(loadCurrent(dir, 'kubelet-client').problem, /ENOENT/);
    const make = (cn: string) => {
      openssl([
        'req',
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-keyout',
        join(dir, 'k.pem'),
        '-out',
        join(dir, 'c.pem'),
        '-subj',
        `/O=system:nodes/CN=${cn}`,
        '-days',
        '1',
      ]);
      return { cert: readFileSync(join(dir, 'c.pem'), 'utf8'), key: readFileSync(join(dir, 'k.pem'), 'utf8') };
    };
    const a = make('system:node:a');
    storePair(dir, 'kubelet-client', a.cert, a.key, new Date('2026-03-04T05:06:07Z'));
    t.equal(readlinkSync(join(dir, 'kubelet-client-current.pem')), 'kubelet-client-2026-03-04-05-06-07.pem');
    const b = make('system:node:b');
    storePair(dir, 'kubelet-client', b.cert, b.key, new Date('2026-03-04T05:06:08Z'));
    const cur = loadCurrent(dir, 'kubelet-client').pair!;
    t.match(cur.cert.subject, /CN=system:node:b/);
    t.ok(isValidAt(cur.cert, new Date()));
    t.notOk(isValidAt(cur.cert, new Date(Date.now() + 3 * 86400_000)), 'expired after notAfter');
    t.throws(
      () => parsePair(a.cert + b.key, 'mixed.pem'),
      /mixed\.pem: the private key does not belong to the certificate/,
    );
    t.throws(() => parsePair(a.cert, 'nokey.pem'), /nokey\.pem: no private key/);
    t.ok(
      new X509Certificate(readFileSync(join(dir, 'kubelet-client-2026-03-04-05-06-07.pem'))).subject.includes(
        'system:node:a',
      ),
      'older pair kept',
    );
  },
);

t.test(
  'template: a certificate is reused only when its subject and names are what the node would ask for',
  async (t) => {
    requireProgram('openssl');
    const dir = tmp(t);
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'k.pem'),
      '-out',
      join(dir, 'c.pem'),
      '-subj',
      '/O=system:nodes/CN=system:node:n1',
      '-addext',
      'subjectAltName=DNS:n1,IP:10.0.0.1',
      '-days',
      '1',
    ]);
    const cert = new X509Certificate(readFileSync(join(dir, 'c.pem')));
    const subject = { commonName: 'system:node:n1', organizations: ['system:nodes'] };
    t.equal(
      templateMismatch(cert, { subject, dnsNames: ['n1'], ipAddresses: ['10.0.0.1'] }),
      undefined,
      'same: reused',
    );
    t.match(
      templateMismatch(cert, { subject, dnsNames: ['n1'], ipAddresses: ['10.0.0.2'] }),
      /IP addresses \[10\.0\.0\.1\] are not \[10\.0\.0\.2\]/,
      'a new --node-ip: renewed',
    );
    t.match(templateMismatch(cert, { subject, dnsNames: ['n2'], ipAddresses: ['10.0.0.1'] }), /DNS names/);
    t.match(
      templateMismatch(cert, {
        subject: { commonName: 'system:node:n2', organizations: ['system:nodes'] },
        dnsNames: ['n1'],
        ipAddresses: ['10.0.0.1'],
      }),
      /subject O=system:nodes, CN=system:node:n1 is not/,
    );
    t.match(
      templateMismatch(cert, { subject }),
      /DNS names \[n1\] are not \[\]/,
      'a client template (no names) does not match a serving certificate',
    );
  },
);
