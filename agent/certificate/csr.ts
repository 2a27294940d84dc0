// A PKCS#10 certification request (RFC 2986) for a node's key, as kubelet's certificate manager
// makes one (k8s.io/client-go/util/certificate/csr: x509.CreateCertificateRequest with the
// subject and SANs of the template). Subject: O then CN, Go's pkix.Name order; SANs in an
// extensionRequest attribute (RFC 2985 9.4). The request itself carries no key usages: the
// CertificateSigningRequest object's spec.usages says those.
import { createPublicKey, sign, type KeyObject } from 'node:crypto';
import {
  bitString,
  ipBytes,
  nullValue,
  octetString,
  oid,
  sequence,
  set,
  tlv,
  utf8String,
  integer,
} from '../../lib/der.js';

export interface CsrSubject {
  commonName: string;
  organizations?: string[];
}

export interface CsrRequest {
  subject: CsrSubject;
  dnsNames?: string[];
  ipAddresses?: string[];
  /** The node's new private key (EC P-256 or RSA); its public half goes into the request. */
  key: KeyObject;
}

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  extensionRequest: '1.2.840.113549.1.9.14',
  subjectAltName: '2.5.29.17',
  ecdsaWithSHA256: '1.2.840.10045.4.3.2',
  sha256WithRSA: '1.2.840.113549.1.1.11',
};

function attributeTypeAndValue(type: string, value: string): Buffer {
  return set(sequence(oid(type), utf8String(value)));
}

export function encodeName(s: CsrSubject): Buffer {
  if (!s.commonName) throw new Error('CSR subject: commonName is empty');
  return sequence(
    ...(s.organizations ?? []).map((o) => attributeTypeAndValue(OID.organization, o)),
    attributeTypeAndValue(OID.commonName, s.commonName),
  );
}

/** subjectAltName: dNSName [2] IA5String, iPAddress [7] OCTET STRING, both implicitly tagged. */
export function encodeSubjectAltName(dnsNames: string[], ips: string[]): Buffer {
  for (const d of dnsNames)
    if (!/^[\x21-\x7e]+$/.test(d)) throw new Error(`CSR dnsNames: ${JSON.stringify(d)} is not a printable ASCII name`);
  const names = [
    ...dnsNames.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))),
    ...ips.map((ip) => tlv(0x87, ipBytes(ip))),
  ];
  return sequence(oid(OID.subjectAltName), octetString(sequence(...names)));
}

function signatureAlgorithm(key: KeyObject): { der: Buffer; hash: 'sha256' } {
  switch (key.asymmetricKeyType) {
    case 'ec':
      return { der: sequence(oid(OID.ecdsaWithSHA256)), hash: 'sha256' };
    case 'rsa':
      return { der: sequence(oid(OID.sha256WithRSA), nullValue()), hash: 'sha256' };
    default:
      throw new Error(`CSR key: type ${key.asymmetricKeyType} is not supported (EC P-256 or RSA)`);
  }
}

/** The CertificationRequestInfo: version 0, subject, the key's SubjectPublicKeyInfo, attributes. */
export function certificationRequestInfo(r: Omit<CsrRequest, 'key'> & { publicKeyDer: Buffer }): Buffer {
  const dns = r.dnsNames ?? [];
  const ips = r.ipAddresses ?? [];
  const attributes =
    dns.length || ips.length
      ? [sequence(oid(OID.extensionRequest), set(sequence(encodeSubjectAltName(dns, ips))))]
      : [];
  return sequence(integer(0), encodeName(r.subject), r.publicKeyDer, tlv(0xa0, ...attributes));
}

/** The DER request signed with its own key (proof of possession). */
export function createCsrDer(r: CsrRequest): Buffer {
  const publicKeyDer = createPublicKey(r.key).export({ type: 'spki', format: 'der' });
  const info = certificationRequestInfo({ ...r, publicKeyDer });
  const alg = signatureAlgorithm(r.key);
  const signature = sign(alg.hash, info, r.key); // ECDSA: DER Ecdsa-Sig-Value, as X.509 wants
  return sequence(info, alg.der, bitString(signature));
}

export function toPem(label: string, der: Buffer): string {
  const b64 = der
    .toString('base64')
    .match(/.{1,64}/g)!
    .join('\n');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

export const createCsrPem = (r: CsrRequest) => toPem('CERTIFICATE REQUEST', createCsrDer(r));
