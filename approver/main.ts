// kubenode-csr-approver: approves kubelet-serving CertificateSigningRequests that nodes send for
// their HTTPS API (agent --rotate-server-certificates), after decide.ts's checks; denies the ones
// from nodes that fail them, and leaves every other CSR alone. kube-controller-manager approves
// the client CSRs (csrapproving) and signs both kinds (csrsigning); upstream ships no approver for
// serving certificates. Started by scripts/control-plane.sh up as a process like the others.
//
//   node dist/approver/main.js --kubeconfig FILE
import {
  CertificatesV1Api,
  CoreV1Api,
  KubeConfig,
  ListWatch,
  Watch,
  type V1CertificateSigningRequest,
  type V1CertificateSigningRequestList,
  type V1Node,
} from '@kubernetes/client-node';
import { createLogger } from '../lib/log.js';
import { decide } from './decide.js';
import { errorMessage } from '../lib/errors.js';

const logger = createLogger('csr-approver');

function parseFlags(argv: string[]): { kubeconfig: string } {
  let kubeconfig: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--kubeconfig(?:=(.*))?$/.exec(a);
    if (m) kubeconfig = m[1] ?? argv[++i];
    else if (a === '--help' || a === '-h') {
      process.stdout.write(
        "Usage: kubenode-csr-approver --kubeconfig FILE\n\nApproves kubelet-serving CSRs from system:node:NAME whose SANs are the Node's addresses.\n",
      );
      process.exit(0);
    } else {
      process.stderr.write(`kubenode-csr-approver: unknown argument ${JSON.stringify(a)} (see --help)\n`);
      process.exit(2);
    }
  }
  if (!kubeconfig) {
    process.stderr.write('kubenode-csr-approver: --kubeconfig is required\n');
    process.exit(2);
  }
  return { kubeconfig };
}

const { kubeconfig } = parseFlags(process.argv.slice(2));
const kc = new KubeConfig();
kc.loadFromFile(kubeconfig);
const certificates = kc.makeApiClient(CertificatesV1Api);
const core = kc.makeApiClient(CoreV1Api);
const inFlight = new Set<string>();

async function readNode(name: string): Promise<V1Node | undefined> {
  try {
    return await core.readNode({ name });
  } catch (e) {
    if ((e as { code?: number }).code === 404) return undefined;
    throw e;
  }
}

async function handle(csr: V1CertificateSigningRequest): Promise<void> {
  const name = csr.metadata!.name!;
  if (inFlight.has(name)) return;
  inFlight.add(name);
  try {
    const nodeName = /^system:node:(.+)$/.exec(csr.spec.username ?? '')?.[1];
    const d = decide(csr, nodeName ? await readNode(nodeName) : undefined);
    if (d.action === 'skip') {
      if (d.message !== 'already decided' && !d.message.startsWith('signer '))
        logger.info('CSR left alone', { csr: name, why: d.message });
      return;
    }
    const type = d.action === 'approve' ? 'Approved' : 'Denied';
    const body: V1CertificateSigningRequest = {
      ...csr,
      status: {
        ...csr.status,
        conditions: [
          ...(csr.status?.conditions ?? []),
          { type, status: 'True', reason: d.reason, message: d.message, lastUpdateTime: new Date() },
        ],
      },
    };
    await certificates.replaceCertificateSigningRequestApproval({ name, body });
    logger[d.action === 'approve' ? 'info' : 'warn'](`CSR ${d.action === 'approve' ? 'approved' : 'denied'}`, {
      csr: name,
      requester: csr.spec.username,
      reason: d.reason,
      message: d.message,
    });
  } catch (e) {
    // A conflict or a transient error: the next update of the CSR (or the informer's resync) tries again.
    logger.warn('CSR not handled', { csr: name, error: errorMessage(e) });
  } finally {
    inFlight.delete(name);
  }
}

const path = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const list = (): Promise<V1CertificateSigningRequestList> => certificates.listCertificateSigningRequest();
const informer = new ListWatch<V1CertificateSigningRequest>(path, new Watch(kc), list, false);
informer.on('add', (c) => void handle(c));
informer.on('update', (c) => void handle(c));
let stopped = false;
informer.on('error', (err: unknown) => {
  if (stopped) return;
  logger.warn('CSR watch failed; restarting in 2s', { error: errorMessage(err) });
  setTimeout(() => void informer.start().catch(() => undefined), 2000);
});
await informer.start();
logger.info('watching CertificateSigningRequests for kubelet serving certificates');

for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => {
    stopped = true;
    void informer.stop();
    process.exit(0);
  });
}
