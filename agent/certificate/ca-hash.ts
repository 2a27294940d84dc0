// The CA pin kubeadm prints with a join command: "sha256:" and the hex SHA-256 of the CA
// certificate's SubjectPublicKeyInfo, DER-encoded (kubeadm's pubkeypin package). Pinning the
// public key, not the certificate, survives a re-issued CA certificate with the same key.
import { X509Certificate, createHash } from 'node:crypto';

export function caCertHash(pem: string | Buffer): string {
  const spki = new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

/** "sha256:<64 hex>", lower-cased; throws naming the value otherwise. */
export function parseCaCertHash(s: string): string {
  const v = s.trim().toLowerCase();
  if (!/^sha256:[0-9a-f]{64}$/.test(v))
    throw new Error(`CA certificate hash ${JSON.stringify(s)}: expected "sha256:" and 64 hex digits`);
  return v;
}
