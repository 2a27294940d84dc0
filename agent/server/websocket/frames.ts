// WebSocket framing (RFC 6455 section 5), the wire format the apiserver forwards to a node when a
// client asks for `channel.k8s.io` exec/attach over WebSocket (kubelet serves it through
// k8s.io/apimachinery/pkg/util/httpstream/wsstream on golang.org/x/net/websocket). Pure: bytes in,
// frames out, and back; the server's side only, so frames read must be masked (5.1) and frames
// written are not.
//   byte 0: FIN | RSV1-3 | opcode(4)      byte 1: MASK | length(7)
//   length 126: a 16-bit length follows; 127: a 64-bit length follows; then the 4-byte mask key
import { createHash } from 'node:crypto';

export const Opcode = {
  Continuation: 0x0,
  Text: 0x1,
  Binary: 0x2,
  Close: 0x8,
  Ping: 0x9,
  Pong: 0xa,
} as const;

/** Close codes used here (RFC 6455 7.4.1). */
export const CloseCode = {
  Normal: 1000,
  GoingAway: 1001,
  ProtocolError: 1002,
  InvalidPayload: 1007,
  TooBig: 1009,
} as const;

/** golang.org/x/net/websocket's default limit on a message (kubelet's side of this connection). */
export const MAX_MESSAGE_BYTES = 32 << 20;

/** The GUID every server appends to the client's key (RFC 6455 1.3). */
const HANDSHAKE_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

export function acceptKey(clientKey: string): string {
  return createHash('sha1')
    .update(clientKey + HANDSHAKE_GUID)
    .digest('base64');
}

export interface Frame {
  fin: boolean;
  opcode: number;
  /** Unmasked. */
  payload: Buffer;
}

/** Why the peer's bytes cannot be read, with the close code to answer it with. */
export class FrameError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
    this.name = 'FrameError';
  }
}

export const isControl = (opcode: number) => (opcode & 0x8) !== 0;

/**
 * Every complete frame at the front of buf, and the bytes of an incomplete one left over. Throws
 * a FrameError for what the RFC says must fail the connection: reserved bits without an extension
 * (none is negotiated), unknown opcodes, fragmented or oversized (> 125) control frames, and, when
 * `requireMask` (a server reading a client), unmasked frames.
 */
export function splitFrames(
  buf: Buffer,
  requireMask = true,
  maxPayload = MAX_MESSAGE_BYTES,
): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  for (;;) {
    if (buf.length - off < 2) break;
    const b0 = buf[off]!;
    const b1 = buf[off + 1]!;
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    const masked = (b1 & 0x80) !== 0;
    if (b0 & 0x70) throw new FrameError(CloseCode.ProtocolError, 'reserved bits set without a negotiated extension');
    if (!Object.values(Opcode).includes(opcode as never))
      throw new FrameError(CloseCode.ProtocolError, `unknown opcode ${opcode}`);
    if (requireMask && !masked) throw new FrameError(CloseCode.ProtocolError, 'a client frame is not masked');
    let len = b1 & 0x7f;
    let head = 2;
    if (len === 126) {
      if (buf.length - off < 4) break;
      len = buf.readUInt16BE(off + 2);
      head = 4;
    } else if (len === 127) {
      if (buf.length - off < 10) break;
      const big = buf.readBigUInt64BE(off + 2);
      if (big > BigInt(maxPayload))
        throw new FrameError(CloseCode.TooBig, `frame of ${big} bytes exceeds ${maxPayload}`);
      len = Number(big);
      head = 10;
    }
    if (isControl(opcode) && (!fin || len > 125))
      throw new FrameError(CloseCode.ProtocolError, 'control frames must be unfragmented and at most 125 bytes');
    if (len > maxPayload) throw new FrameError(CloseCode.TooBig, `frame of ${len} bytes exceeds ${maxPayload}`);
    const keyLen = masked ? 4 : 0;
    if (buf.length - off < head + keyLen + len) break;
    const start = off + head + keyLen;
    const payload = Buffer.from(buf.subarray(start, start + len));
    if (masked) mask(payload, buf.subarray(off + head, off + head + 4));
    frames.push({ fin, opcode, payload });
    off = start + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** XORs data with the 4-byte key in place (masking and unmasking are the same operation, 5.3). */
export function mask(data: Buffer, key: Buffer): Buffer {
  for (let i = 0; i < data.length; i++) data[i] = data[i]! ^ key[i & 3]!;
  return data;
}

/** One frame; `maskKey` only for a client (tests), a server's frames are never masked. */
export function encodeFrame(opcode: number, payload: Buffer, fin = true, maskKey?: Buffer): Buffer {
  const len = payload.length;
  const ext = len < 126 ? 0 : len <= 0xffff ? 2 : 8;
  const head = Buffer.alloc(2 + ext + (maskKey ? 4 : 0));
  head[0] = (fin ? 0x80 : 0) | opcode;
  head[1] = (maskKey ? 0x80 : 0) | (ext === 0 ? len : ext === 2 ? 126 : 127);
  if (ext === 2) head.writeUInt16BE(len, 2);
  if (ext === 8) head.writeBigUInt64BE(BigInt(len), 2);
  if (!maskKey) return Buffer.concat([head, payload]);
  maskKey.copy(head, 2 + ext);
  return Buffer.concat([head, mask(Buffer.from(payload), maskKey)]);
}

/** A close frame's payload: the code, then a UTF-8 reason (5.5.1). */
export function closePayload(code: number, reason = ''): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code, 0);
  return Buffer.concat([b, Buffer.from(reason).subarray(0, 123)]);
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A text message must be valid UTF-8 (8.1); undefined when it is not. */
export function decodeText(b: Buffer): string | undefined {
  try {
    return utf8.decode(b);
  } catch {
    return undefined;
  }
}
