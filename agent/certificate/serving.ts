// The HTTPS node API's serving certificate from the cluster (--rotate-server-certificates,
// KubeletConfiguration serverTLSBootstrap): signer kubernetes.io/kubelet-serving, subject
// system:node:NAME in system:nodes, SANs the node's Hostname (DNS) and InternalIP (IP) addresses,
// the ones its Node object reports, which is what an approver compares them with.
import type { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { SERVING_SIGNER, SERVING_USAGES, nodeSubject } from './bootstrap.js';
import { CertificateManager } from './manager.js';
import type { KeyPair } from './store.js';

export interface ServingCertificateOptions {
  certDir: string;
  nodeName: string;
  /** The Node's Hostname address. */
  hostname: string;
  /** The Node's InternalIP addresses. */
  nodeIPs: string[];
  requester: () => KubeConfig;
  onRotated: (pair: KeyPair) => void;
  logger: Logger;
}

export function servingCertificateManager(o: ServingCertificateOptions): CertificateManager {
  return new CertificateManager({
    pair: 'kubelet-server',
    certDir: o.certDir,
    signerName: SERVING_SIGNER,
    usages: SERVING_USAGES,
    template: () => ({ subject: nodeSubject(o.nodeName), dnsNames: [o.hostname], ipAddresses: o.nodeIPs }),
    requester: o.requester,
    onRotated: o.onRotated,
    logger: o.logger,
  });
}
