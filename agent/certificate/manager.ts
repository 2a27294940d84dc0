// One certificate of the node (its client certificate or its serving certificate) kept valid,
// as kubelet's certificate manager does (client-go util/certificate/certificate_manager.go): the
// current pair comes from --cert-dir; when there is none, or at a random point in 70-90% of its
// lifetime, a new key is made, a CSR is sent with the credentials the caller gives, and the issued
// certificate replaces the pair (store.ts). Failed requests are retried with back-off.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { createCsrPem } from './csr.js';
import { requestCertificate } from './request.js';
import { delayUntil, rotationDeadline } from './rotation.js';
import { isValidAt, loadCurrent, parsePair, storePair, type KeyPair, type PairName } from './store.js';
import { templateMismatch, type CertificateTemplate } from './template.js';
import { errorMessage } from '../../lib/errors.js';

export interface CertificateManagerOptions {
  pair: PairName;
  certDir: string;
  signerName: string;
  usages: string[];
  template: () => CertificateTemplate;
  /** The credentials the CSR is sent with: the node's own, or the bootstrap token's when those are not valid (yet). */
  requester: () => KubeConfig;
  /** CSR name prefix: "node-csr-" bootstrapping, "csr-" renewing (kubelet's). */
  generateName?: () => string;
  /** Called with every new pair after it is stored. */
  onRotated?: (pair: KeyPair) => void;
  logger: Logger;
  random?: () => number;
  requestTimeoutMs?: number;
}

/** kubelet's keys: ECDSA P-256 (client-go's certificate manager generates these). */
export function newPrivateKey(type: 'ec' | 'rsa' = 'ec'): KeyObject {
  return type === 'rsa'
    ? generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey
    : generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
}

/** The CSR's spec.usages for a key of this type: key encipherment only for RSA (kubelet's). */
export function usagesFor(base: string[], key: KeyObject): string[] {
  return key.asymmetricKeyType === 'rsa' ? [...base.slice(0, 1), 'key encipherment', ...base.slice(1)] : base;
}

export class CertificateManager {
  private pair?: KeyPair;
  private timer?: NodeJS.Timeout;
  private readonly abort = new AbortController();
  private readonly log: Logger;

  constructor(private readonly o: CertificateManagerOptions) {
    this.log = o.logger.with({ component: 'certificate-manager', pair: o.pair });
    const { pair } = loadCurrent(o.certDir, o.pair);
    if (pair) this.pair = pair;
  }

  current(): KeyPair | undefined {
    return this.pair;
  }

  /** The current pair if it is valid now; else one is requested (retrying until it is issued or stop()). */
  async ensure(): Promise<KeyPair> {
    if (!this.pair) return this.renewWithBackoff('no certificate yet');
    if (!isValidAt(this.pair.cert, new Date())) {
      this.log.warn('the current certificate has expired or is not valid yet; requesting a new one', {
        notAfter: this.pair.cert.validTo,
      });
      return this.renewWithBackoff('certificate not valid now');
    }
    const mismatch = templateMismatch(this.pair.cert, this.o.template());
    if (mismatch) {
      this.log.info('the current certificate does not match what this node would ask for; requesting a new one', {
        mismatch,
      });
      return this.renewWithBackoff(`certificate outdated: ${mismatch}`);
    }
    return this.pair;
  }

  /** Renews at a random point in 70-90% of each certificate's lifetime, for as long as it runs. */
  startRotation(): void {
    if (this.abort.signal.aborted || !this.pair) return;
    const deadline = rotationDeadline(
      new Date(this.pair.cert.validFrom),
      new Date(this.pair.cert.validTo),
      (this.o.random ?? Math.random)(),
    );
    const delay = delayUntil(deadline, new Date());
    this.log.info('certificate rotation deadline', {
      deadline: deadline.toISOString(),
      notAfter: new Date(this.pair.cert.validTo).toISOString(),
      inSeconds: Math.round(delay / 1000),
    });
    clearTimeout(this.timer);
    // setTimeout holds at most 2^31-1 ms (~24.8 days): wake up and recompute when longer.
    this.timer = setTimeout(
      () => {
        if (delayUntil(deadline, new Date()) > 0) return this.startRotation();
        void this.renewWithBackoff('rotation deadline reached').then(
          () => this.startRotation(),
          () => undefined,
        );
      },
      Math.min(delay, 2 ** 31 - 1),
    );
    this.timer.unref();
  }

  stop(): void {
    this.abort.abort();
    clearTimeout(this.timer);
  }

  private async renewWithBackoff(reason: string): Promise<KeyPair> {
    // kubelet retries a failed rotation with exponential back-off; 2s doubling to 5 minutes here.
    for (let wait = 2000; ; wait = Math.min(wait * 2, 300_000)) {
      if (this.abort.signal.aborted) throw new Error(`${this.o.pair}: certificate manager stopped`);
      try {
        return await this.renew(reason);
      } catch (e) {
        if (this.abort.signal.aborted) throw e;
        this.log.error('certificate request failed; retrying', {
          signerName: this.o.signerName,
          error: errorMessage(e),
          retryInSeconds: wait / 1000,
        });
        await new Promise((r) => setTimeout(r, wait).unref());
      }
    }
  }

  private async renew(reason: string): Promise<KeyPair> {
    const template = this.o.template();
    const key = newPrivateKey();
    const csrPem = createCsrPem({ ...template, key });
    this.log.info('requesting a certificate', {
      reason,
      signerName: this.o.signerName,
      subject: template.subject,
      dnsNames: template.dnsNames,
      ipAddresses: template.ipAddresses,
    });
    const { name, certificatePem } = await requestCertificate(this.o.requester(), {
      signerName: this.o.signerName,
      usages: usagesFor(this.o.usages, key),
      csrPem,
      generateName: this.o.generateName?.() ?? 'csr-',
      timeoutMs: this.o.requestTimeoutMs ?? 15 * 60_000,
      logger: this.log,
      signal: this.abort.signal,
    });
    const keyPem = key.export({ type: 'pkcs8', format: 'pem' }) as string;
    const pair = parsePair(`${certificatePem}${keyPem}`, `certificate issued for CertificateSigningRequest ${name}`);
    const file = storePair(this.o.certDir, this.o.pair, pair.certPem, keyPem);
    this.pair = pair;
    this.log.info('certificate issued and stored', {
      csr: name,
      file,
      subject: pair.cert.subject.replace(/\n/g, ', '),
      notBefore: pair.cert.validFrom,
      notAfter: pair.cert.validTo,
    });
    this.o.onRotated?.(pair);
    return pair;
  }
}
