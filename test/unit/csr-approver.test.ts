// The approver's pure decision (approver/decide.ts) on CSRs our own encoder and openssl write,
// and token discovery's checks of cluster-info (signature, pin) on a CA openssl made.
import t from 'tap';
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1CertificateSigningRequest, V1Node } from '@kubernetes/client-node';
import { decide } from '../../approver/decide.js';
import { parseCsrPem } from '../../approver/csr-info.js';
import { createCsrPem } from '../../agent/certificate/csr.js';
import { signDetached } from '../../agent/certificate/jws.js';
import { caCertHash } from '../../agent/certificate/ca-hash.js';
import { parseBootstrapToken, verifyClusterInfo, bootstrapKubeconfigYaml } from '../../agent/certificate/discovery.js';
import { requireProgram } from '../harness/require.js';

const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const node: V1Node = {
  metadata: { name: 'n1' },
  status: {
    addresses: [
      { type: 'InternalIP', address: '10.0.0.1' },
      { type: 'Hostname', address: 'n1' },
    ],
  },
};
const csr = (o: {
  cn?: string;
  o?: string[];
  dns?: string[];
  ips?: string[];
  user?: string;
  groups?: string[];
  usages?: string[];
  signer?: string;
  pem?: string;
}): V1CertificateSigningRequest => ({
  metadata: { name: 'csr-x' },
  spec: {
    request: Buffer.from(
      o.pem ??
        createCsrPem({
          subject: { commonName: o.cn ?? 'system:node:n1', organizations: o.o ?? ['system:nodes'] },
          dnsNames: o.dns ?? ['n1'],
          ipAddresses: o.ips ?? ['10.0.0.1'],
          key,
        }),
    ).toString('base64') as never,
    signerName: o.signer ?? 'kubernetes.io/kubelet-serving',
    usages: o.usages ?? ['digital signature', 'server auth'],
    username: o.user ?? 'system:node:n1',
    groups: o.groups ?? ['system:nodes', 'system:authenticated'],
  },
});

t.test('CSR parsing reads what our encoder and openssl write', async (t) => {
  requireProgram('openssl');
  t.same(
    parseCsrPem(
      createCsrPem({
        subject: { commonName: 'system:node:n1', organizations: ['system:nodes'] },
        dnsNames: ['n1'],
        ipAddresses: ['10.0.0.1', 'fd00::1'],
        key,
      }),
    ),
    {
      commonName: 'system:node:n1',
      organizations: ['system:nodes'],
      dnsNames: ['n1'],
      ipAddresses: ['10.0.0.1', 'fd00:0:0:0:0:0:0:1'],
      otherNames: [],
    },
  );
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-csr-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      join(dir, 'k'),
      '-subj',
      '/O=system:nodes/CN=system:node:n2',
      '-addext',
      'subjectAltName=DNS:n2,IP:10.0.0.2,email:a@b.c',
      '-out',
      join(dir, 'r.csr'),
    ],
    { stdio: 'pipe' },
  );
  const info = parseCsrPem(readFileSync(join(dir, 'r.csr'), 'utf8'));
  t.equal(info.commonName, 'system:node:n2');
  t.same(
    [info.dnsNames, info.ipAddresses, info.otherNames.length],
    [['n2'], ['10.0.0.2'], 1],
    'the email SAN is counted as another kind of name',
  );
  t.throws(() => parseCsrPem('nope'), /no "CERTIFICATE REQUEST" PEM block/);
});

t.test("decide: approve only a node's own serving CSR naming its own addresses", async (t) => {
  t.match(decide(csr({}), node), { action: 'approve', reason: 'KubenodeServingApprove' });
  t.match(decide(csr({ ips: [], dns: ['n1'] }), node), { action: 'approve' }, 'a subset of the addresses');
  t.match(decide(csr({ ips: ['10.0.0.9'] }), node), { action: 'deny', reason: 'SANMismatch', message: /10\.0\.0\.9/ });
  t.match(decide(csr({ dns: ['evil.example'] }), node), {
    action: 'deny',
    reason: 'SANMismatch',
    message: /evil\.example/,
  });
  t.match(
    decide(csr({ cn: 'system:node:n2' }), node),
    { action: 'deny', reason: 'SubjectMismatch' },
    "another node's name",
  );
  t.match(decide(csr({ o: ['system:masters'] }), node), { action: 'deny', reason: 'SubjectMismatch' });
  t.match(decide(csr({ usages: ['digital signature', 'server auth', 'client auth'] }), node), {
    action: 'deny',
    reason: 'UsagesNotAllowed',
  });
  t.match(
    decide(csr({ usages: ['digital signature'] }), node),
    { action: 'deny', reason: 'UsagesNotAllowed' },
    'server auth is required',
  );
  t.match(decide(csr({ dns: [], ips: [] }), node), { action: 'deny', reason: 'SANMissing' });
  t.match(decide(csr({}), undefined), { action: 'deny', reason: 'NodeNotFound' });
  t.match(
    decide(csr({ user: 'alice', groups: ['system:authenticated'] }), node),
    { action: 'skip', message: /not by a node/ },
    'not from a node: left alone',
  );
  t.match(
    decide(csr({ signer: 'kubernetes.io/kube-apiserver-client-kubelet' }), node),
    { action: 'skip' },
    'other signers: not ours',
  );
  const done = csr({});
  done.status = { conditions: [{ type: 'Denied', status: 'True' } as never] };
  t.match(decide(done, node), { action: 'skip', message: 'already decided' });
  t.match(
    decide(
      { ...csr({}), spec: { ...csr({}).spec, request: Buffer.from('garbage').toString('base64') as never } },
      node,
    ),
    { action: 'deny', reason: 'InvalidRequest' },
  );
});

t.test('token discovery: the signature and the CA pin decide', async (t) => {
  requireProgram('openssl');
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-disc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  execFileSync(
    'openssl',
    [
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
      '/CN=kubenode-ca',
      '-days',
      '1',
    ],
    { stdio: 'pipe' },
  );
  const caPem = readFileSync(join(dir, 'ca.crt'), 'utf8');
  const kubeconfig = `apiVersion: v1\nkind: Config\nclusters:\n- name: ""\n  cluster:\n    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}\n    server: https://192.0.2.1:6443\ncontexts: []\ncurrent-context: ""\nusers: []\n`;
  const token = parseBootstrapToken('abcdef.0123456789abcdef');
  const info = { kubeconfig, signatures: { abcdef: signDetached(kubeconfig, 'abcdef', '0123456789abcdef') } };
  t.same(verifyClusterInfo(info, token, caCertHash(caPem)), { caPem, server: 'https://192.0.2.1:6443' });
  t.same(verifyClusterInfo(info, token).caPem, caPem, 'no pin: the signature alone');
  t.throws(() => verifyClusterInfo(info, token, `sha256:${'1'.repeat(64)}`), /does not match the pinned hash/);
  t.throws(
    () => verifyClusterInfo({ ...info, kubeconfig: kubeconfig.replace('192.0.2.1', '192.0.2.66') }, token),
    /signature does not match/,
    'an altered cluster-info',
  );
  t.throws(() => verifyClusterInfo({ kubeconfig, signatures: {} }, token), /no signature for token id "abcdef"/);
  t.throws(() => parseBootstrapToken('ABCDEF.x'), /expected "\[a-z0-9\]\{6\}\.\[a-z0-9\]\{16\}"/);
  t.match(bootstrapKubeconfigYaml('https://192.0.2.1:6443', caPem, token), /token: abcdef\.0123456789abcdef/);
});
