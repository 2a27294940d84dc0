// SPDY/3.1 framing, the wire format under `kubectl exec`, `attach` and `port-forward` between the
// apiserver and a node (the apiserver speaks it to kubelet through moby/spdystream; the SPDY
// draft 3.1 is its specification). Pure: bytes in, frames out, and back. Header blocks are
// handled uncompressed here; session.ts runs them through the one zlib context per direction
// that the protocol requires.
//   control frame: 1 | version(15) | type(16) | flags(8) | length(24) | payload
//   data frame:    0 | stream id(31)           | flags(8) | length(24) | payload

export const SPDY_VERSION = 3;

export const FrameType = {
  SynStream: 1,
  SynReply: 2,
  RstStream: 3,
  Settings: 4,
  Ping: 6,
  GoAway: 7,
  Headers: 8,
  WindowUpdate: 9,
} as const;

/** FLAG_FIN: the sender's half of the stream ends with this frame (data and SYN frames). */
export const FLAG_FIN = 0x01;
/** RST_STREAM status codes used here. */
export const RstStatus = { ProtocolError: 1, InvalidStream: 2, RefusedStream: 3, Cancel: 5 } as const;
/** The largest payload a frame's 24-bit length can say. */
export const MAX_FRAME_PAYLOAD = 0xffffff;

export type Frame =
  | { kind: 'data'; streamId: number; flags: number; data: Buffer }
  | { kind: 'control'; version: number; type: number; flags: number; payload: Buffer };

/** Every complete frame at the front of buf, and the bytes of an incomplete one left over. */
export function splitFrames(buf: Buffer): { frames: Frame[]; rest: Buffer } {
  const frames: Frame[] = [];
  let off = 0;
  while (buf.length - off >= 8) {
    const first = buf.readUInt32BE(off);
    const word2 = buf.readUInt32BE(off + 4);
    const flags = word2 >>> 24;
    const length = word2 & 0xffffff;
    if (buf.length - off - 8 < length) break;
    const payload = buf.subarray(off + 8, off + 8 + length);
    if (first & 0x80000000)
      frames.push({ kind: 'control', version: (first >>> 16) & 0x7fff, type: first & 0xffff, flags, payload });
    else frames.push({ kind: 'data', streamId: first & 0x7fffffff, flags, data: payload });
    off += 8 + length;
  }
  return { frames, rest: buf.subarray(off) };
}

export function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_FRAME_PAYLOAD) throw new Error(`SPDY control frame of ${payload.length} bytes is too large`);
  const h = Buffer.alloc(8);
  h.writeUInt32BE((0x80000000 | (SPDY_VERSION << 16) | type) >>> 0, 0);
  h.writeUInt32BE(((flags << 24) | payload.length) >>> 0, 4);
  return Buffer.concat([h, payload]);
}

export function dataFrame(streamId: number, flags: number, data: Buffer): Buffer {
  if (data.length > MAX_FRAME_PAYLOAD) throw new Error(`SPDY data frame of ${data.length} bytes is too large`);
  const h = Buffer.alloc(8);
  h.writeUInt32BE(streamId & 0x7fffffff, 0);
  h.writeUInt32BE(((flags << 24) | data.length) >>> 0, 4);
  return Buffer.concat([h, data]);
}

/** 32-bit words, as the fixed parts of control frames are laid out. */
export function words(...values: number[]): Buffer {
  const b = Buffer.alloc(values.length * 4);
  values.forEach((v, i) => {
    b.writeUInt32BE(v >>> 0, i * 4);
  });
  return b;
}

/** SYN_STREAM payload: stream id, associated stream id, priority/slot, then the header block. */
export function parseSynStream(payload: Buffer): {
  streamId: number;
  associatedTo: number;
  priority: number;
  headerBlock: Buffer;
} {
  if (payload.length < 10) throw new Error(`SYN_STREAM of ${payload.length} bytes is too short`);
  return {
    streamId: payload.readUInt32BE(0) & 0x7fffffff,
    associatedTo: payload.readUInt32BE(4) & 0x7fffffff,
    priority: payload[8]! >>> 5,
    headerBlock: payload.subarray(10),
  };
}

/** Frames that start with a stream id then a header block: SYN_REPLY and HEADERS. */
export function parseStreamHeaders(payload: Buffer): { streamId: number; headerBlock: Buffer } {
  if (payload.length < 4) throw new Error(`header frame of ${payload.length} bytes is too short`);
  return { streamId: payload.readUInt32BE(0) & 0x7fffffff, headerBlock: payload.subarray(4) };
}

export type Headers = Map<string, string[]>;

/** A decompressed header block: count, then length-prefixed names and values (values joined by NUL). */
export function decodeHeaderBlock(block: Buffer): Headers {
  const h: Headers = new Map();
  if (block.length < 4) throw new Error('SPDY header block is truncated');
  const count = block.readUInt32BE(0);
  let off = 4;
  const take = (): string => {
    if (block.length - off < 4) throw new Error('SPDY header block is truncated');
    const n = block.readUInt32BE(off);
    off += 4;
    if (block.length - off < n) throw new Error('SPDY header block is truncated');
    const s = block.toString('utf8', off, off + n);
    off += n;
    return s;
  };
  for (let i = 0; i < count; i++) {
    // Names are lowercase on the wire; the Go framer lowercases what it reads too.
    const name = take().toLowerCase();
    h.set(name, [...(h.get(name) ?? []), ...take().split('\0')]);
  }
  return h;
}

export function encodeHeaderBlock(h: Headers): Buffer {
  const parts: Buffer[] = [words(h.size)];
  for (const [name, values] of h) {
    const n = Buffer.from(name.toLowerCase(), 'utf8');
    const v = Buffer.from(values.join('\0'), 'utf8');
    parts.push(words(n.length), n, words(v.length), v);
  }
  return Buffer.concat(parts);
}

// The zlib dictionary of SPDY/3 header compression (draft 3, section 2.6.10.1): common header
// names and values, each name length-prefixed, then a run of raw strings.
const DICTIONARY_WORDS = [
  'options',
  'head',
  'post',
  'put',
  'delete',
  'trace',
  'accept',
  'accept-charset',
  'accept-encoding',
  'accept-language',
  'accept-ranges',
  'age',
  'allow',
  'authorization',
  'cache-control',
  'connection',
  'content-base',
  'content-encoding',
  'content-language',
  'content-length',
  'content-location',
  'content-md5',
  'content-range',
  'content-type',
  'date',
  'etag',
  'expect',
  'expires',
  'from',
  'host',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'last-modified',
  'location',
  'max-forwards',
  'pragma',
  'proxy-authenticate',
  'proxy-authorization',
  'range',
  'referer',
  'retry-after',
  'server',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'user-agent',
  'vary',
  'via',
  'warning',
  'www-authenticate',
  'method',
  'get',
  'status',
  '200 OK',
  'version',
  'HTTP/1.1',
  'url',
  'public',
  'set-cookie',
  'keep-alive',
  'origin',
];
const DICTIONARY_TAIL =
  '100101201202205206300302303304305306307402405406407408409410411412413414415416417502504505' +
  '203 Non-Authoritative Information204 No Content301 Moved Permanently400 Bad Request401 Unauthorized' +
  '403 Forbidden404 Not Found500 Internal Server Error501 Not Implemented503 Service Unavailable' +
  'Jan Feb Mar Apr May Jun Jul Aug Sept Oct Nov Dec 00:00:00 Mon, Tue, Wed, Thu, Fri, Sat, Sun, GMT' +
  'chunked,text/html,image/png,image/jpg,image/gif,application/xml,application/xhtml+xml,text/plain,' +
  'text/javascript,publicprivatemax-age=gzip,deflate,sdchcharset=utf-8charset=iso-8859-1,utf-,*,enq=0.';

export const HEADER_DICTIONARY: Buffer = Buffer.concat([
  ...DICTIONARY_WORDS.flatMap((w) => [words(w.length), Buffer.from(w, 'latin1')]),
  Buffer.from(DICTIONARY_TAIL, 'latin1'),
]);
