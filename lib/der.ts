// Just enough ASN.1 DER for PKCS#10 certification requests (RFC 2986): the agent writes them
// (Node's crypto signs and exports keys but has no CSR builder) and the serving-CSR approver reads
// them. Pure: bytes in, bytes out.
import { ipToBytes, parseIP } from './ip.js';

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
  const parsed = parseIP(ip);
  if (!parsed) throw new Error(`${JSON.stringify(ip)} is not an IP address`);
  return ipToBytes(parsed);
}

/** One decoded TLV: its tag, its value bytes, and where the next one starts. */
export interface Tlv {
  tag: number;
  value: Buffer;
  end: number;
}

/** Reads the TLV at `offset` (definite lengths only, as DER has). */
export function readTlv(buf: Buffer, offset = 0): Tlv {
  if (offset + 2 > buf.length) throw new Error(`DER: truncated at byte ${offset}`);
  const tag = buf[offset]!;
  let len = buf[offset + 1]!;
  let start = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error(`DER: unsupported length form at byte ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  if (start + len > buf.length) throw new Error(`DER: value at byte ${offset} runs past the end`);
  return { tag, value: buf.subarray(start, start + len), end: start + len };
}

/** The TLVs inside a constructed value (SEQUENCE, SET, [n]). */
export function children(value: Buffer): Tlv[] {
  const out: Tlv[] = [];
  for (let off = 0; off < value.length; ) {
    const t = readTlv(value, off);
    out.push(t);
    off = t.end;
  }
  return out;
}

/** The dotted form of an OBJECT IDENTIFIER's value bytes. */
export function oidString(value: Buffer): string {
  const arcs: number[] = [];
  let v = 0;
  for (const b of value) {
    v = v * 128 + (b & 0x7f);
    if (!(b & 0x80)) {
      if (arcs.length === 0) arcs.push(v < 80 ? Math.floor(v / 40) : 2, v < 80 ? v % 40 : v - 80);
      else arcs.push(v);
      v = 0;
    }
  }
  return arcs.join('.');
}

/** The text form of an iPAddress GeneralName's 4 or 16 bytes (IPv6 not compressed). */
export function ipString(b: Buffer): string {
  if (b.length === 4) return [...b].join('.');
  if (b.length === 16) return Array.from({ length: 8 }, (_, i) => b.readUInt16BE(i * 2).toString(16)).join(':');
  throw new Error(`iPAddress of ${b.length} bytes`);
}
