// TLS bootstrap against the real control plane: `control-plane.sh token create` prints the join
// line; token discovery (agent/join.ts) reads cluster-info anonymously and refuses a wrong CA pin;
// an agent with only a bootstrap kubeconfig gets its client certificate through a CSR the
// controller-manager auto-approves, registers its Node as system:node:NAME, gets its serving
// certificate through a CSR our approver (approver/) approves, serves `kubectl logs` with it, and
// renews both before they expire (the controller-manager signs 3-minute certificates here:
// 8 minutes of validity with its 5-minute backdate, renewed 36 s to 2.2 min after issue).
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, readlinkSync, rmSync } from 'node:fs';
import { connect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  type V1CertificateSigningRequest,
  type V1Pod,
} from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { startControlPlane } from '../harness/control-plane.js';
import { createWorld, IMAGES } from '../fixtures/agent/world.js';
import { requireProgram } from '../harness/require.js';
import { until } from '../harness/until.js';
import { PROJECT_ROOT } from '../harness/control-plane.js';

const JOIN = join(PROJECT_ROOT, 'dist/agent/join.js');

/** The serving certificate the agent's HTTPS API presents right now. */
function presentedCertificate(port: number, ca: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const s = connect({ host: '127.0.0.1', port, ca, servername: undefined, rejectUnauthorized: true }, () => {
      const raw = s.getPeerX509Certificate();
      s.end();
      if (raw) resolve(raw);
      else reject(new Error('no peer certificate'));
    });
    s.on('error', reject);
  });
}

t.test('a node joins with only the apiserver address and a bootstrap token, and renews its certificates', async (t) => {
  requireProgram('openssl', 'kubectl');
  const cp = await startControlPlane(t, { env: { CLUSTER_SIGNING_DURATION: '3m' } });
  const world = await createWorld(t);
  const node = world.nodeName;
  const dir = mkdtempSync(join(tmpdir(), `${world.prefix}-join-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  // --- token create: the exact join line ---------------------------------------------------------
  const out = (await cp.script(['token', 'create', '--ttl', '30m'])).stdout.trim().split('\n');
  const line = out[out.length - 1]!;
  const m =
    /^KUBENODE_APISERVER=(https:\/\/[\d.]+:\d+) KUBENODE_BOOTSTRAP_TOKEN=([a-z0-9]{6})\.([a-z0-9]{16}) KUBENODE_CA_CERT_HASH=(sha256:[0-9a-f]{64}) scripts\/node\.sh up$/.exec(
      line,
    );
  t.ok(m, `the last line is the join command: ${line}`);
  const [, apiserver, tokenId, tokenSecret, caHash] = m!;
  t.match(apiserver, new RegExp(`:${cp.apiserverPort}$`), 'the apiserver port');
  const secret = JSON.parse(
    (await cp.kubectl(['-n', 'kube-system', 'get', 'secret', `bootstrap-token-${tokenId}`, '-o', 'json'])).stdout,
  ) as { type: string; data: Record<string, string> };
  t.equal(secret.type, 'bootstrap.kubernetes.io/token');
  const field = (k: string) => Buffer.from(secret.data[k] ?? '', 'base64').toString();
  t.same(
    [
      field('token-secret'),
      field('usage-bootstrap-authentication'),
      field('usage-bootstrap-signing'),
      field('auth-extra-groups'),
    ],
    [tokenSecret, 'true', 'true', 'system:bootstrappers:kubeadm:default-node-token'],
    'the token Secret as kubeadm writes it',
  );
  t.ok(Date.parse(field('expiration')) > Date.now() + 25 * 60_000, 'expires in 30 minutes');
  // openssl's own computation of the pin agrees with the one printed.
  const pub = await run('openssl', ['x509', '-pubkey', '-noout', '-in', join(cp.dir, 'pki/ca.crt')]);
  const der = await run('sh', ['-c', 'openssl pkey -pubin -outform DER | openssl dgst -sha256 -hex'], {
    input: pub.stdout,
  });
  t.equal(
    caHash,
    `sha256:${der.stdout.trim().split(' ').pop()}`,
    'the CA hash is the SHA-256 of its SubjectPublicKeyInfo',
  );

  // --- discovery: a wrong pin is refused, the right one is accepted -------------------------------
  const bootstrapKubeconfig = join(dir, 'bootstrap-kubeconfig');
  const caFile = join(dir, 'ca.crt');
  const join_ = (hash: string) =>
    run(
      process.execPath,
      [
        JOIN,
        '--apiserver',
        apiserver!,
        '--token',
        `${tokenId}.${tokenSecret}`,
        '--ca-cert-hash',
        hash,
        '--bootstrap-kubeconfig',
        bootstrapKubeconfig,
        '--ca-file',
        caFile,
        '--timeout',
        '90s',
      ],
      { allowFailure: true, timeoutMs: 120_000 },
    );
  const wrong = await join_(`sha256:${'0'.repeat(64)}`);
  t.not(wrong.code, 0, 'a wrong CA hash: join fails');
  t.match(
    wrong.stderr,
    /the cluster CA does not match the pinned hash: KUBENODE_CA_CERT_HASH is sha256:0{64}, cluster-info's CA is sha256:[0-9a-f]{64}; refusing to join/,
    'and says why',
  );
  t.notOk(existsSync(bootstrapKubeconfig), 'nothing written');
  const wrongToken = await run(
    process.execPath,
    [
      JOIN,
      '--apiserver',
      apiserver!,
      '--token',
      `${tokenId}.${'x'.repeat(16)}`,
      '--bootstrap-kubeconfig',
      bootstrapKubeconfig,
      '--ca-file',
      caFile,
      '--timeout',
      '60s',
    ],
    { allowFailure: true, timeoutMs: 90_000 },
  );
  t.match(
    wrongToken.stderr,
    /signature does not match/,
    'a wrong token secret: the cluster-info signature does not verify',
  );
  const ok = await join_(caHash!);
  t.equal(ok.code, 0, `join succeeds with the right pin (stderr: ${ok.stderr})`);
  t.equal(
    readFileSync(caFile, 'utf8').trim(),
    readFileSync(join(cp.dir, 'pki/ca.crt'), 'utf8').trim(),
    'the discovered CA is the cluster CA',
  );

  // --- the agent bootstraps ---------------------------------------------------------------------
  const kubeconfig = join(dir, 'kubeconfig');
  const certDir = join(dir, 'pki');
  const agent = await world.startAgent(
    [
      `--kubeconfig=${kubeconfig}`,
      `--bootstrap-kubeconfig=${bootstrapKubeconfig}`,
      `--cert-dir=${certDir}`,
      '--rotate-certificates',
      '--rotate-server-certificates',
      `--client-ca-file=${caFile}`,
    ],
    120_000,
  );
  t.teardown(() => {
    if (!t.passing() || process.env.KUBENODE_TEST_LOG)
      process.stderr.write(`--- agent ${agent.pid}\n${agent.logs.slice(-80).join('\n')}\n`);
  });
  const admin = new KubeConfig();
  admin.loadFromFile(cp.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  await until('the Node Ready', 120_000, async () =>
    (await core.readNode({ name: node })).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
  );
  const clientLink = join(certDir, 'kubelet-client-current.pem');
  const firstClientFile = readlinkSync(clientLink);
  t.match(
    firstClientFile,
    /^kubelet-client-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d\.pem$/,
    'kubelet-client-current.pem points at kubelet-client-<timestamp>.pem',
  );
  const pem = readFileSync(clientLink, 'utf8');
  t.match(pem, /BEGIN CERTIFICATE[\s\S]+BEGIN PRIVATE KEY/, 'holding the certificate and its key');
  const clientCert = new X509Certificate(pem);
  t.equal(clientCert.subject, `O=system:nodes\nCN=system:node:${node}`, 'subject system:node:NAME in system:nodes');
  t.ok(clientCert.checkIssued(new X509Certificate(readFileSync(caFile))), 'issued by the cluster CA');
  const nodeKc = readFileSync(kubeconfig, 'utf8');
  t.match(nodeKc, new RegExp(`client-certificate: ${clientLink}`), 'the kubeconfig written names the current pair');
  const csrs = async () =>
    (JSON.parse((await cp.kubectl(['get', 'csr', '-o', 'json'])).stdout) as { items: V1CertificateSigningRequest[] })
      .items;
  const approved = (c: V1CertificateSigningRequest) => c.status?.conditions?.find((x) => x.type === 'Approved');
  const bootstrapCsr = (await csrs()).find(
    (c) =>
      c.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet' &&
      c.spec.username === `system:bootstrap:${tokenId}`,
  );
  t.ok(bootstrapCsr, 'a client CSR from the bootstrap token');
  t.equal(approved(bootstrapCsr!)?.reason, 'AutoApproved', 'auto-approved by the controller-manager (nodeclient)');
  t.same(bootstrapCsr!.spec.usages, ['digital signature', 'client auth'], 'usages of an ECDSA client key');
  // The Node was registered with that identity: NodeRestriction lets system:node:NAME create only
  // its own Node, and the Lease is held by the agent's node identity.
  const lease = await admin
    .makeApiClient(CoordinationV1Api)
    .readNamespacedLease({ name: node, namespace: 'kube-node-lease' });
  t.equal(lease.spec?.holderIdentity, node, 'the node Lease is renewed');
  const whoami = await run('kubectl', ['--kubeconfig', kubeconfig, 'auth', 'whoami', '-o', 'json']);
  const self = JSON.parse(whoami.stdout) as { status: { userInfo: { username: string; groups: string[] } } };
  t.equal(
    self.status.userInfo.username,
    `system:node:${node}`,
    'the written kubeconfig authenticates as system:node:NAME',
  );
  t.ok(self.status.userInfo.groups.includes('system:nodes'), 'in group system:nodes');

  // --- the serving certificate, approved by our approver, serves kubectl logs ----------------------
  const servingCsr = await until('the serving CSR approved', 60_000, async () =>
    (await csrs()).find(
      (c) =>
        c.spec.signerName === 'kubernetes.io/kubelet-serving' &&
        c.spec.username === `system:node:${node}` &&
        approved(c),
    ),
  );
  t.equal(approved(servingCsr)!.reason, 'KubenodeServingApprove', 'approved by kubenode-csr-approver');
  t.same(servingCsr.spec.usages, ['digital signature', 'server auth']);
  await until('the HTTPS node API to listen', 60_000, async () =>
    agent.logs.some((l) => l.includes('node API listening (HTTPS)')),
  );
  const serving = new X509Certificate(readFileSync(join(certDir, 'kubelet-server-current.pem')));
  t.equal(serving.subject, `O=system:nodes\nCN=system:node:${node}`);
  t.equal(serving.subjectAltName, `DNS:${node}, IP Address:127.0.0.1`, "SANs: the Node's Hostname and InternalIP");
  const ca = readFileSync(caFile, 'utf8');
  t.equal(
    (await presentedCertificate(agent.securePort!, ca)).serialNumber,
    serving.serialNumber,
    'the HTTPS API presents it',
  );
  const ns = world.prefix;
  await cp.createNamespace(ns);
  const pod: V1Pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'talker', namespace: ns },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: IMAGES.busybox,
          imagePullPolicy: 'IfNotPresent',
          command: ['sh', '-c', 'echo hello from a bootstrapped node; exec sleep 3600'],
        },
      ],
    },
  };
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  const logs = await until('kubectl logs through the serving certificate', 120_000, async () => {
    const r = await cp.kubectl(['-n', ns, 'logs', 'talker'], { allowFailure: true });
    return r.code === 0 && r.stdout.includes('hello') ? r.stdout : undefined;
  });
  t.equal(
    logs,
    'hello from a bootstrapped node\n',
    'kubectl logs works (the apiserver verified the serving certificate against the cluster CA)',
  );

  // --- the approver denies a serving CSR naming an address the Node does not have ---------------
  const keyFile = join(dir, 'evil.key');
  await run('openssl', [
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    keyFile,
    '-subj',
    `/O=system:nodes/CN=system:node:${node}`,
    '-addext',
    `subjectAltName=DNS:${node},IP:10.99.99.99`,
    '-out',
    join(dir, 'evil.csr'),
  ]);
  const evilName = `${world.prefix}-evil`;
  await run('kubectl', ['--kubeconfig', kubeconfig, 'create', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name: evilName },
      spec: {
        request: readFileSync(join(dir, 'evil.csr')).toString('base64'),
        signerName: 'kubernetes.io/kubelet-serving',
        usages: ['digital signature', 'server auth'],
      },
    }),
  });
  const denied = await until('the foreign-SAN CSR denied', 60_000, async () =>
    (await csrs()).find((c) => c.metadata?.name === evilName && c.status?.conditions?.some((x) => x.type === 'Denied')),
  );
  const d = denied.status!.conditions!.find((x) => x.type === 'Denied')!;
  t.equal(d.reason, 'SANMismatch');
  t.match(d.message, /10\.99\.99\.99.*does not report in status\.addresses/, 'the denial names the foreign address');
  t.notOk(denied.status?.certificate, 'and it is never signed');

  // --- rotation: both certificates are renewed before they expire, the agent keeps working --------
  const firstServing = serving.serialNumber;
  const renewed = await until(
    'the client certificate renewed',
    300_000,
    async () => readlinkSync(clientLink) !== firstClientFile,
    2000,
  );
  t.ok(renewed, 'kubelet-client-current.pem points at a newer pair');
  const second = new X509Certificate(readFileSync(clientLink));
  t.not(second.serialNumber, clientCert.serialNumber, 'a new certificate');
  t.equal(second.subject, clientCert.subject, 'same identity');
  t.ok(existsSync(join(certDir, firstClientFile)), 'the previous pair file is kept (kubelet keeps them too)');
  const renewCsr = (await csrs()).find(
    (c) =>
      c.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet' && c.spec.username === `system:node:${node}`,
  );
  t.equal(
    renewCsr && approved(renewCsr)?.reason,
    'AutoApproved',
    'the renewal CSR was sent as the node itself and auto-approved (selfnodeclient)',
  );
  const renewedAt = Date.now();
  await until('the Lease renewed with the new certificate', 60_000, async () => {
    const l = await admin
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: node, namespace: 'kube-node-lease' });
    return new Date(l.spec!.renewTime as unknown as string).getTime() > renewedAt;
  });
  const nextServing = await until(
    'the serving certificate renewed and presented',
    300_000,
    async () => {
      const c = await presentedCertificate(agent.securePort!, ca);
      return c.serialNumber !== firstServing ? c : undefined;
    },
    2000,
  );
  t.equal(
    nextServing.serialNumber,
    new X509Certificate(readFileSync(join(certDir, 'kubelet-server-current.pem'))).serialNumber,
    'the HTTPS API presents the renewed serving certificate without a restart',
  );
  t.ok(agent.running, 'the same agent process');
  const after = await cp.kubectl(['-n', ns, 'logs', 'talker'], { allowFailure: true });
  t.equal(after.stdout, 'hello from a bootstrapped node\n', 'kubectl logs still works after the renewal');
});
