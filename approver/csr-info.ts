// What an approver needs from a PKCS#10 request: the subject's CN and O, and the subject
// alternative names of its extensionRequest. Pure: PEM in, data out.
import { children, ipString, oidString, readTlv, type Tlv } from '../lib/der.js';

export interface CsrInfo {
  commonName?: string;
  organizations: string[];
  dnsNames: string[];
  ipAddresses: string[];
  /** rfc822Name and uniformResourceIdentifier SANs: a kubelet serving certificate has none. */
  otherNames: string[];
}

const CN = '2.5.4.3';
const O = '2.5.4.10';
const EXTENSION_REQUEST = '1.2.840.113549.1.9.14';
const SUBJECT_ALT_NAME = '2.5.29.17';

function seq(t: Tlv, what: string): Tlv[] {
  if (t.tag !== 0x30 && t.tag !== 0x31 && (t.tag & 0xe0) !== 0xa0)
    throw new Error(`CSR: ${what} is not a constructed value`);
  return children(t.value);
}

export function parseCsrPem(pem: string): CsrInfo {
  const m = /-----BEGIN (?:NEW )?CERTIFICATE REQUEST-----([\s\S]+?)-----END (?:NEW )?CERTIFICATE REQUEST-----/.exec(
    pem,
  );
  if (!m) throw new Error('CSR: no "CERTIFICATE REQUEST" PEM block');
  const der = Buffer.from(m[1]!.replace(/\s/g, ''), 'base64');
  const [info] = seq(readTlv(der), 'CertificationRequest');
  const [, subject, , attributes] = seq(info!, 'CertificationRequestInfo');
  const out: CsrInfo = { organizations: [], dnsNames: [], ipAddresses: [], otherNames: [] };
  for (const rdn of seq(subject!, 'subject')) {
    for (const atv of seq(rdn, 'RDN')) {
      const [type, value] = seq(atv, 'AttributeTypeAndValue');
      const id = oidString(type!.value);
      const text = value!.value.toString('utf8');
      if (id === CN) out.commonName = text;
      if (id === O) out.organizations.push(text);
    }
  }
  for (const attr of attributes ? seq(attributes, 'attributes') : []) {
    const [type, values] = seq(attr, 'Attribute');
    if (oidString(type!.value) !== EXTENSION_REQUEST) continue;
    for (const extensions of seq(values!, 'extensionRequest values')) {
      for (const ext of seq(extensions, 'Extensions')) {
        const parts = seq(ext, 'Extension');
        if (oidString(parts[0]!.value) !== SUBJECT_ALT_NAME) continue;
        const names = children(readTlv(parts[parts.length - 1]!.value).value);
        for (const n of names) {
          if (n.tag === 0x82) out.dnsNames.push(n.value.toString('ascii'));
          else if (n.tag === 0x87) out.ipAddresses.push(ipString(n.value));
          else out.otherNames.push(`[${n.tag & 0x1f}]${n.value.toString('latin1')}`);
        }
      }
    }
  }
  return out;
}
