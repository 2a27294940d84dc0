// TLS bootstrapping of the node's client credentials, kubelet's way
// (pkg/kubelet/certificate/bootstrap LoadClientCert): when --kubeconfig is missing or its client
// certificate is not valid, the bootstrap kubeconfig (a bootstrap token) is used to ask for a
// certificate as system:node:NAME in group system:nodes; the pair is stored under --cert-dir and
// a kubeconfig naming it is written to --kubeconfig. From then on the agent runs as today.
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import type { Logger } from '../../lib/log.js';
import { CertificateManager } from './manager.js';
import { currentPath, isValidAt } from './store.js';
import { errorMessage } from '../../lib/errors.js';

export const CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';
export const SERVING_SIGNER = 'kubernetes.io/kubelet-serving';
// ECDSA keys: no key encipherment (usagesFor adds it for RSA).
export const CLIENT_USAGES = ['digital signature', 'client auth'];
export const SERVING_USAGES = ['digital signature', 'server auth'];

export const nodeSubject = (nodeName: string) => ({
  commonName: `system:node:${nodeName}`,
  organizations: ['system:nodes'],
});

function loadKubeconfig(path: string, flag: string): KubeConfig {
  const kc = new KubeConfig();
  try {
    kc.loadFromFile(path);
  } catch (e) {
    throw new Error(`${flag} ${path}: ${errorMessage(e)}`);
  }
  if (!kc.getCurrentCluster()) throw new Error(`${flag} ${path}: current-context names no cluster`);
  return kc;
}

/** Why the kubeconfig's client certificate cannot be used now, or undefined when it can. */
export function kubeconfigProblem(path: string, now = new Date()): string | undefined {
  if (!existsSync(path)) return 'does not exist';
  let kc: KubeConfig;
  try {
    kc = loadKubeconfig(path, '--kubeconfig');
  } catch (e) {
    return errorMessage(e);
  }
  const user = kc.getCurrentUser();
  const pem = user?.certFile
    ? (() => {
        try {
          return readFileSync(user.certFile);
        } catch {
          return undefined;
        }
      })()
    : user?.certData
      ? Buffer.from(user.certData, 'base64')
      : undefined;
  if (!pem) return 'names no readable client certificate';
  try {
    const cert = new X509Certificate(pem);
    if (!isValidAt(cert, now)) return `client certificate valid ${cert.validFrom} to ${cert.validTo}, not now`;
  } catch (e) {
    return `client certificate does not parse: ${errorMessage(e)}`;
  }
  return undefined;
}

/**
 * The node's kubeconfig: the bootstrap kubeconfig's cluster (server and CA), the user's
 * certificate and key both the "-current" pair file (kubelet writes the same).
 */
export function nodeKubeconfigYaml(bootstrap: KubeConfig, certFile: string): string {
  const cluster = bootstrap.getCurrentCluster()!;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'default-cluster',
        cluster: {
          server: cluster.server,
          ...(cluster.caData
            ? { 'certificate-authority-data': cluster.caData }
            : cluster.caFile
              ? { 'certificate-authority': resolve(cluster.caFile) }
              : {}),
          ...(cluster.tlsServerName ? { 'tls-server-name': cluster.tlsServerName } : {}),
        },
      },
    ],
    users: [{ name: 'default-auth', user: { 'client-certificate': certFile, 'client-key': certFile } }],
    contexts: [
      { name: 'default-context', context: { cluster: 'default-cluster', user: 'default-auth', namespace: 'default' } },
    ],
    'current-context': 'default-context',
  });
}

function writeFileAtomic(path: string, text: string): void {
  mkdirSync(dirname(path), { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, text, { mode: 0o600 });
  renameSync(tmp, path);
}

export interface ClientBootstrapOptions {
  kubeconfig: string;
  bootstrapKubeconfig?: string;
  certDir: string;
  nodeName: string;
  rotate: boolean;
  logger: Logger;
}

/**
 * Makes --kubeconfig usable (bootstrapping it when needed) and, with --rotate-certificates,
 * returns the manager that keeps its certificate renewed. Throws only when bootstrapping is
 * impossible (no valid kubeconfig and no bootstrap kubeconfig, or an unreadable one).
 */
export async function ensureClientCredentials(o: ClientBootstrapOptions): Promise<CertificateManager | undefined> {
  const log = o.logger.with({ component: 'bootstrap' });
  const certFile = currentPath(o.certDir, 'kubelet-client');
  const problem = kubeconfigProblem(o.kubeconfig);
  const bootstrap = o.bootstrapKubeconfig ? loadKubeconfig(o.bootstrapKubeconfig, '--bootstrap-kubeconfig') : undefined;
  // The node's own credentials ask for renewals; the bootstrap token only when those are not valid.
  const requester = () =>
    kubeconfigProblem(o.kubeconfig) === undefined
      ? loadKubeconfig(o.kubeconfig, '--kubeconfig')
      : (bootstrap ?? loadKubeconfig(o.kubeconfig, '--kubeconfig'));
  const usesCertDir = () => {
    try {
      return (
        resolve(loadKubeconfig(o.kubeconfig, '--kubeconfig').getCurrentUser()?.certFile ?? '') === resolve(certFile)
      );
    } catch {
      return false;
    }
  };
  const manager = new CertificateManager({
    pair: 'kubelet-client',
    certDir: o.certDir,
    signerName: CLIENT_SIGNER,
    usages: CLIENT_USAGES,
    template: () => ({ subject: nodeSubject(o.nodeName) }),
    requester,
    generateName: () => (kubeconfigProblem(o.kubeconfig) ? 'node-csr-' : 'csr-'),
    logger: o.logger,
  });
  if (problem) {
    if (!bootstrap)
      throw new Error(
        `--kubeconfig ${o.kubeconfig}: ${problem}, and there is no --bootstrap-kubeconfig to get credentials with`,
      );
    log.info('no usable node kubeconfig: bootstrapping client credentials', {
      kubeconfig: o.kubeconfig,
      reason: problem,
      bootstrapKubeconfig: o.bootstrapKubeconfig,
      certDir: o.certDir,
    });
    await manager.ensure(); // a valid pair already in --cert-dir is reused
    writeFileAtomic(o.kubeconfig, nodeKubeconfigYaml(bootstrap, certFile));
    log.info('node kubeconfig written', { kubeconfig: o.kubeconfig, clientCertificate: certFile });
  }
  if (!o.rotate) return undefined;
  if (!usesCertDir()) {
    log.warn(
      '--rotate-certificates: the kubeconfig does not use the certificate in --cert-dir (it was not bootstrapped), so it is not rotated',
      { kubeconfig: o.kubeconfig, certDir: o.certDir },
    );
    manager.stop();
    return undefined;
  }
  await manager.ensure();
  manager.startRotation();
  return manager;
}
