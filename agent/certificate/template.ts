// Whether a certificate still says what the node would ask for now, as kubelet's certificate
// manager checks before reusing one (certSatisfiesTemplate in client-go util/certificate): same
// subject, same DNS and IP names. A serving certificate made for an old --node-ip is renewed
// rather than served to an apiserver that dials the new address. Pure.
import type { X509Certificate } from 'node:crypto';
import { ipBytes } from '../../lib/der.js';
import type { CsrSubject } from './csr.js';

/** What the node would ask for now: the CSR's subject and names. */
export interface CertificateTemplate {
  subject: CsrSubject;
  dnsNames?: string[];
  ipAddresses?: string[];
}

const ipKey = (ip: string) => {
  try {
    return ipBytes(ip).toString('hex');
  } catch {
    return ip;
  }
};
const sameSet = (a: string[], b: string[]) =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');

/** SANs of a certificate as X509Certificate.subjectAltName lists them ("DNS:a, IP Address:1.2.3.4"). */
export function certificateNames(cert: X509Certificate): { dnsNames: string[]; ipAddresses: string[] } {
  const parts = (cert.subjectAltName ?? '').split(/,\s*/).filter(Boolean);
  return {
    dnsNames: parts.filter((p) => p.startsWith('DNS:')).map((p) => p.slice(4)),
    ipAddresses: parts.filter((p) => p.startsWith('IP Address:')).map((p) => p.slice('IP Address:'.length)),
  };
}

/** Why the certificate does not match the template, or undefined when it does. */
export function templateMismatch(cert: X509Certificate, t: CertificateTemplate): string | undefined {
  const subject = [...(t.subject.organizations ?? []).map((o) => `O=${o}`), `CN=${t.subject.commonName}`].join('\n');
  if (cert.subject !== subject)
    return `subject ${cert.subject.replace(/\n/g, ', ')} is not ${subject.replace(/\n/g, ', ')}`;
  const names = certificateNames(cert);
  if (!sameSet(names.dnsNames, t.dnsNames ?? []))
    return `DNS names [${names.dnsNames.join(', ')}] are not [${(t.dnsNames ?? []).join(', ')}]`;
  if (!sameSet(names.ipAddresses.map(ipKey), (t.ipAddresses ?? []).map(ipKey)))
    return `IP addresses [${names.ipAddresses.join(', ')}] are not [${(t.ipAddresses ?? []).join(', ')}]`;
  return undefined;
}
