// Asks the cluster for a certificate the way kubelet does (client-go util/certificate/csr):
// create a certificates.k8s.io/v1 CertificateSigningRequest, watch it until a signer has set
// status.certificate after an approver's Approved condition, or a Denied/Failed condition ends it.
import { CertificatesV1Api, type KubeConfig, Watch, type V1CertificateSigningRequest } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { apiErrorMessage, requestOptions } from '../kube/client.js';

export interface CertificateRequest {
  signerName: string;
  usages: string[];
  csrPem: string;
  /** CSR name prefix (generateName): kubelet uses "node-csr-" when bootstrapping, "csr-" when renewing. */
  generateName: string;
  /** spec.expirationSeconds (at least 600); unset: the signer's --cluster-signing-duration. */
  expirationSeconds?: number;
  timeoutMs: number;
  logger: Logger;
  signal?: AbortSignal;
}

export class CertificateRequestError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CertificateRequestError';
  }
}

type Outcome = { certificate: string } | { failed: string } | undefined;

/** What a CSR's status says: issued, refused (with the reason), or still pending. */
export function csrOutcome(csr: V1CertificateSigningRequest): Outcome {
  for (const c of csr.status?.conditions ?? []) {
    if ((c.type === 'Denied' || c.type === 'Failed') && c.status !== 'False') {
      return { failed: `${c.type}${c.reason ? ` (${c.reason})` : ''}${c.message ? `: ${c.message}` : ''}` };
    }
  }
  const approved = (csr.status?.conditions ?? []).some((c) => c.type === 'Approved' && c.status !== 'False');
  const cert = csr.status?.certificate;
  if (approved && cert) return { certificate: Buffer.from(cert as unknown as string, 'base64').toString('utf8') };
  return undefined;
}

/** Creates the CSR and resolves with the issued certificate (PEM); rejects when refused or timed out. */
export async function requestCertificate(
  kc: KubeConfig,
  r: CertificateRequest,
): Promise<{ name: string; certificatePem: string }> {
  const api = kc.makeApiClient(CertificatesV1Api);
  let created: V1CertificateSigningRequest;
  try {
    created = await api.createCertificateSigningRequest(
      {
        body: {
          apiVersion: 'certificates.k8s.io/v1',
          kind: 'CertificateSigningRequest',
          metadata: { generateName: r.generateName },
          spec: {
            request: Buffer.from(r.csrPem).toString('base64'),
            signerName: r.signerName,
            usages: r.usages,
            ...(r.expirationSeconds ? { expirationSeconds: r.expirationSeconds } : {}),
          },
        },
      },
      requestOptions({ timeoutMs: 30_000 }),
    );
  } catch (e) {
    throw new CertificateRequestError(
      `creating a CertificateSigningRequest for signer ${r.signerName}: ${apiErrorMessage(e)}`,
    );
  }
  const name = created.metadata!.name!;
  r.logger.info('certificate signing request created; waiting for approval and the certificate', {
    csr: name,
    signerName: r.signerName,
  });
  const certificatePem = await waitForCertificate(kc, name, r);
  return { name, certificatePem };
}

/**
 * Watches the one CSR (fieldSelector metadata.name): a watch without a resourceVersion starts
 * with the object's current state, so nothing that happened before the watch is missed. A watch
 * that ends early is started again until the deadline.
 */
function waitForCertificate(kc: KubeConfig, name: string, r: CertificateRequest): Promise<string> {
  const watch = new Watch(kc);
  return new Promise<string>((resolve, reject) => {
    let controller: AbortController | undefined;
    let finished = false;
    const finish = (err?: Error, pem?: string) => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      r.signal?.removeEventListener('abort', onAbort);
      controller?.abort();
      if (err) reject(err);
      else resolve(pem!);
    };
    const timer = setTimeout(
      () =>
        finish(
          new CertificateRequestError(
            `CertificateSigningRequest ${name} (signer ${r.signerName}): not approved and issued within ${Math.round(r.timeoutMs / 1000)}s; is an approver running? (kubectl get csr ${name})`,
          ),
        ),
      r.timeoutMs,
    );
    const onAbort = () => finish(new CertificateRequestError(`CertificateSigningRequest ${name}: stopped waiting`));
    r.signal?.addEventListener('abort', onAbort);
    const start = () => {
      if (finished) return;
      watch
        .watch(
          '/apis/certificates.k8s.io/v1/certificatesigningrequests',
          { fieldSelector: `metadata.name=${name}` },
          (phase, obj: V1CertificateSigningRequest) => {
            if (phase === 'DELETED')
              return finish(
                new CertificateRequestError(`CertificateSigningRequest ${name} was deleted before it was issued`),
              );
            const o = csrOutcome(obj);
            if (!o) return;
            if ('failed' in o)
              finish(
                new CertificateRequestError(`CertificateSigningRequest ${name} (signer ${r.signerName}): ${o.failed}`),
              );
            else finish(undefined, o.certificate);
          },
          (err) => {
            if (finished) return;
            if (err)
              r.logger.warn('watch of the certificate signing request ended; watching again', {
                csr: name,
                error: apiErrorMessage(err),
              });
            setTimeout(start, err ? 1000 : 0).unref();
          },
        )
        .then(
          (c) => {
            controller = c;
            if (finished) c.abort();
          },
          (err) => {
            r.logger.warn('cannot watch the certificate signing request; retrying', {
              csr: name,
              error: apiErrorMessage(err),
            });
            setTimeout(start, 1000).unref();
          },
        );
    };
    start();
  });
}
