// Whether a kubelet-serving CertificateSigningRequest may be approved. Upstream leaves these to an
// approver outside kube-controller-manager (kubelet serving certificates, "the cluster
// administrator must approve them": https://kubernetes.io/docs/reference/access-authn-authz/kubelet-tls-bootstrapping/#certificate-rotation).
// The checks follow the signer's own requirements (k8s.io/api certificates/v1 kubelet-serving:
// O=system:nodes, CN=system:node:NAME, usages, DNS or IP SANs only) and add the one the signer
// cannot know: the request comes from that node and names only addresses its Node reports.
// Pure: the CSR and the Node in, a decision and its reason out.
import type { V1CertificateSigningRequest, V1Node } from '@kubernetes/client-node';
import { ipBytes } from '../lib/der.js';
import { parseCsrPem } from './csr-info.js';
import { errorMessage } from '../lib/errors.js';

export const SERVING_SIGNER = 'kubernetes.io/kubelet-serving';

export type Decision =
  | { action: 'approve'; reason: string; message: string }
  | { action: 'deny'; reason: string; message: string }
  | { action: 'skip'; message: string };

const ALLOWED_USAGES = new Set(['digital signature', 'key encipherment', 'server auth']);

/** Already decided (approved, denied or failed) CSRs are left alone. */
export function isDecided(csr: V1CertificateSigningRequest): boolean {
  return (csr.status?.conditions ?? []).some((c) => ['Approved', 'Denied', 'Failed'].includes(c.type));
}

/** The node a CSR was sent by ("system:node:NAME" in group system:nodes), or undefined. */
export function requestingNode(csr: V1CertificateSigningRequest): string | undefined {
  const m = /^system:node:(.+)$/.exec(csr.spec.username ?? '');
  return m && (csr.spec.groups ?? []).includes('system:nodes') ? m[1] : undefined;
}

const ipKey = (ip: string) => {
  try {
    return ipBytes(ip).toString('hex');
  } catch {
    return `invalid:${ip}`;
  }
};

/** `node`: the Node named by the requester, undefined when there is none. */
export function decide(csr: V1CertificateSigningRequest, node: V1Node | undefined): Decision {
  const name = csr.metadata?.name ?? '?';
  if (csr.spec.signerName !== SERVING_SIGNER)
    return { action: 'skip', message: `signer ${csr.spec.signerName} is not ${SERVING_SIGNER}` };
  if (isDecided(csr)) return { action: 'skip', message: 'already decided' };
  const nodeName = requestingNode(csr);
  // Someone other than a node asking for a kubelet serving certificate: not ours to judge.
  if (!nodeName)
    return {
      action: 'skip',
      message: `requested by ${csr.spec.username} (groups ${(csr.spec.groups ?? []).join(',')}), not by a node (system:node:NAME in system:nodes); left for an administrator`,
    };
  const deny = (reason: string, message: string): Decision => ({
    action: 'deny',
    reason,
    message: `CertificateSigningRequest ${name} from node ${nodeName}: ${message}`,
  });
  let info;
  try {
    info = parseCsrPem(Buffer.from(csr.spec.request as unknown as string, 'base64').toString('utf8'));
  } catch (e) {
    return deny('InvalidRequest', `spec.request: ${errorMessage(e)}`);
  }
  if (info.commonName !== `system:node:${nodeName}`)
    return deny('SubjectMismatch', `subject CN ${JSON.stringify(info.commonName)} is not "system:node:${nodeName}"`);
  if (info.organizations.length !== 1 || info.organizations[0] !== 'system:nodes')
    return deny('SubjectMismatch', `subject O ${JSON.stringify(info.organizations)} is not ["system:nodes"]`);
  const usages = csr.spec.usages ?? [];
  const bad = usages.filter((u) => !ALLOWED_USAGES.has(u));
  if (bad.length || !usages.includes('server auth'))
    return deny(
      'UsagesNotAllowed',
      `spec.usages ${JSON.stringify(usages)}: must include "server auth" and only ${[...ALLOWED_USAGES].join(', ')}`,
    );
  if (info.otherNames.length) return deny('SANNotAllowed', 'only DNS and IP subject alternative names are allowed');
  if (!info.dnsNames.length && !info.ipAddresses.length)
    return deny('SANMissing', 'no DNS or IP subject alternative name');
  if (!node) return deny('NodeNotFound', `Node ${nodeName} does not exist, so its addresses cannot be checked`);
  const addresses = node.status?.addresses ?? [];
  const dnsAllowed = new Set(
    addresses
      .filter((a) => ['Hostname', 'InternalDNS', 'ExternalDNS'].includes(a.type))
      .map((a) => a.address.toLowerCase()),
  );
  const ipAllowed = new Set(
    addresses.filter((a) => ['InternalIP', 'ExternalIP'].includes(a.type)).map((a) => ipKey(a.address)),
  );
  const foreignDns = info.dnsNames.filter((d) => !dnsAllowed.has(d.toLowerCase()));
  const foreignIps = info.ipAddresses.filter((ip) => !ipAllowed.has(ipKey(ip)));
  if (foreignDns.length || foreignIps.length) {
    return deny(
      'SANMismatch',
      `names ${[...foreignDns, ...foreignIps].join(', ')} that Node ${nodeName} does not report in status.addresses (${addresses.map((a) => `${a.type}=${a.address}`).join(', ') || 'none'})`,
    );
  }
  return {
    action: 'approve',
    reason: 'KubenodeServingApprove',
    message: `node ${nodeName}: serving certificate for ${[...info.dnsNames, ...info.ipAddresses].join(', ')}, all in the Node's status.addresses`,
  };
}
