// Just enough ASN.1 DER to write a PKCS#10 certification request (RFC 2986): Node's crypto signs
// and exports keys but has no CSR builder, and a CSR is a few nested TLVs. Pure: bytes in, bytes out.
import { isIPv4, isIPv6 } from 'node:net';

/** Tag, length (definite, short or long form), value. */
export function tlv(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  const n = body.length;
  let len: Buffer;
  if (n < 0x80) len = Buffer.from([n]);
  else {
    const bytes: number[] = [];
    for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}

export const sequence = (...c: Buffer[]) => tlv(0x30, ...c);
export const set = (...c: Buffer[]) => tlv(0x31, ...c);
export const utf8String = (s: string) => tlv(0x0c, Buffer.from(s, 'utf8'));
export const octetString = (b: Buffer) => tlv(0x04, b);
/** A BIT STRING of whole bytes (no unused bits), as signatures and keys are. */
export const bitString = (b: Buffer) => tlv(0x03, Buffer.from([0]), b);
export const nullValue = () => Buffer.from([0x05, 0x00]);

/** A non-negative small INTEGER (versions). */
export function integer(n: number): Buffer {
  if (!Number.isInteger(n) || n < 0 || n > 0x7f) throw new RangeError(`integer ${n}: only 0..127 supported`);
  return tlv(0x02, Buffer.from([n]));
}

/** An OBJECT IDENTIFIER from its dotted form: first two arcs as 40*a+b, then base-128 with continuation bits. */
export function oid(dotted: string): Buffer {
  const arcs = dotted.split('.').map((s) => {
    if (!/^\d+$/.test(s)) throw new Error(`OID ${dotted}: arc ${JSON.stringify(s)} is not a number`);
    return Number(s);
  });
  if (arcs.length < 2) throw new Error(`OID ${dotted}: needs at least two arcs`);
  const out: number[] = [];
  for (const arc of [arcs[0]! * 40 + arcs[1]!, ...arcs.slice(2)]) {
    const groups: number[] = [arc & 0x7f];
    for (let v = Math.floor(arc / 128); v > 0; v = Math.floor(v / 128)) groups.unshift((v & 0x7f) | 0x80);
    out.push(...groups);
  }
  return tlv(0x06, Buffer.from(out));
}

/** The bytes of an IPv4 (4) or IPv6 (16) address, as an iPAddress GeneralName carries them. */
export function ipBytes(ip: string): Buffer {
  if (isIPv4(ip)) return Buffer.from(ip.split('.').map(Number));
  if (!isIPv6(ip)) throw new Error(`${JSON.stringify(ip)} is not an IP address`);
  let text = ip;
  let tail: number[] = [];
  // An embedded IPv4 tail (::ffff:1.2.3.4) is two 16-bit groups.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4) {
    tail = v4[1]!.split('.').map(Number);
    text = text.slice(0, -v4[1]!.length) + '0:0';
  }
  const [head, rest] = text.split('::') as [string, string | undefined];
  const parse = (s: string | undefined) => (s ? s.split(':').filter((g) => g !== '').map((g) => parseInt(g, 16)) : []);
  const left = parse(head);
  const right = parse(rest);
  const groups = rest === undefined ? left : [...left, ...new Array(8 - left.length - right.length).fill(0), ...right];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(g, i * 2));
  if (tail.length) Buffer.from(tail).copy(out, 12);
  return out;
}
