// Netlink attributes (struct nlattr), shared by every program that speaks netlink itself: the CNI
// plugin's host links, the proxy's IPVS generic netlink and the test harness' NFQUEUE program.
// An attribute is a 16-bit length (header included), a 16-bit type and the payload, padded to
// 4 bytes. https://www.kernel.org/doc/html/latest/userspace-api/netlink/intro.html

/** The two flag bits of nla_type (NLA_F_NESTED, NLA_F_NET_BYTEORDER) are not part of the type. */
const NLA_TYPE_MASK = 0x3fff;

export function nlattr(type: number, payload: Buffer): Buffer {
  const len = 4 + payload.length;
  const out = Buffer.alloc((len + 3) & ~3);
  out.writeUInt16LE(len, 0);
  out.writeUInt16LE(type, 2);
  payload.copy(out, 4);
  return out;
}

/** Attributes of a buffer, by type (the last one wins, as the kernel's nla_parse does). */
export function parseAttrs(buf: Buffer): Map<number, Buffer> {
  const out = new Map<number, Buffer>();
  let off = 0;
  while (off + 4 <= buf.length) {
    const len = buf.readUInt16LE(off);
    if (len < 4 || off + len > buf.length) break;
    out.set(buf.readUInt16LE(off + 2) & NLA_TYPE_MASK, buf.subarray(off + 4, off + len));
    off += (len + 3) & ~3;
  }
  return out;
}
