// One SPDY/3.1 connection, the server's side (the apiserver opens every stream): frames from
// frames.ts, header blocks through the protocol's zlib contexts (one per direction, shared by all
// frames of the connection, so blocks are compressed and sent strictly in order). Each stream
// the peer opens is answered at once with an empty SYN_REPLY (the apiserver waits for it before
// opening the next) and handed to the 'stream' listener. Flow control (WINDOW_UPDATE) is not
// enforced: moby/spdystream, the apiserver's implementation, neither sends nor honours it.
import { EventEmitter, once } from 'node:events';
import { PassThrough, type Duplex } from 'node:stream';
import { constants, createDeflate, createInflate, type Deflate, type Inflate } from 'node:zlib';
import {
  FLAG_FIN,
  FrameType,
  HEADER_DICTIONARY,
  RstStatus,
  controlFrame,
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  parseStreamHeaders,
  parseSynStream,
  splitFrames,
  words,
  type Frame,
  type Headers,
} from './frames.js';

/** Data frames are cut to this size, so one stream's burst does not hold the others up for long. */
const DATA_CHUNK = 32 * 1024;

/** A zlib context that takes one header block at a time and gives back its bytes after a sync flush. */
class ZlibBlocks {
  private out: Buffer[] = [];
  constructor(private readonly z: Deflate | Inflate) {
    z.on('data', (b: Buffer) => this.out.push(b));
  }

  run(block: Buffer): Promise<Buffer> {
    return new Promise((resolve, reject) => {
      const onError = (e: Error) => reject(e);
      this.z.once('error', onError);
      this.z.write(block);
      this.z.flush(constants.Z_SYNC_FLUSH, () => {
        this.z.off('error', onError);
        const r = Buffer.concat(this.out);
        this.out = [];
        resolve(r);
      });
    });
  }

  close(): void {
    this.z.destroy();
  }
}

export class SpdyStream {
  /** What the peer sends on this stream; ends at its FIN, or when the stream or connection is reset. */
  readonly incoming = new PassThrough();
  private localClosed = false;

  constructor(
    readonly id: number,
    readonly headers: Headers,
    private readonly session: SpdySession,
  ) {}

  header(name: string): string | undefined {
    return this.headers.get(name.toLowerCase())?.[0];
  }

  /** Resolves once the bytes are handed to the connection (and it has drained, if it was full). */
  async write(data: Buffer): Promise<void> {
    if (this.localClosed) return;
    for (let off = 0; off < data.length; off += DATA_CHUNK) {
      await this.session.send(dataFrame(this.id, 0, data.subarray(off, off + DATA_CHUNK)));
    }
  }

  /** Our half of the stream is done (an empty data frame with FIN). */
  async end(): Promise<void> {
    if (this.localClosed) return;
    this.localClosed = true;
    await this.session.send(dataFrame(this.id, FLAG_FIN, Buffer.alloc(0)));
  }

  /** Called by the session when the peer ends or resets the stream. */
  remoteEnded(): void {
    if (!this.incoming.writableEnded) this.incoming.end();
  }
}

export interface SpdySessionEvents {
  stream: [SpdyStream];
  close: [];
}

export class SpdySession extends EventEmitter<SpdySessionEvents> {
  private buffered: Buffer = Buffer.alloc(0);
  private incomingWork: Promise<void> = Promise.resolve();
  private outgoingWork: Promise<void> = Promise.resolve();
  private readonly inflater = new ZlibBlocks(createInflate({ dictionary: HEADER_DICTIONARY }));
  private readonly deflater = new ZlibBlocks(createDeflate({ dictionary: HEADER_DICTIONARY }));
  private readonly streams = new Map<number, SpdyStream>();
  private lastStreamId = 0;
  private closed = false;
  private tornDown = false;

  constructor(
    private readonly socket: Duplex,
    head?: Buffer,
    private readonly onProtocolError: (e: Error) => void = () => {},
  ) {
    super();
    socket.on('data', (b: Buffer) => this.receive(b));
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    // The peer stopped sending: its streams end, ours may still finish writing.
    socket.on('end', () => {
      for (const st of this.streams.values()) st.remoteEnded();
    });
    if (head?.length) this.receive(head);
  }

  private receive(b: Buffer): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, b]) : b;
    const { frames, rest } = splitFrames(this.buffered);
    this.buffered = rest;
    for (const f of frames) {
      this.incomingWork = this.incomingWork
        .then(() => this.handle(f))
        .catch((e: Error) => {
          this.onProtocolError(e);
          this.close();
        });
    }
  }

  private async handle(f: Frame): Promise<void> {
    if (this.closed) return;
    if (f.kind === 'data') {
      const s = this.streams.get(f.streamId);
      if (!s) return;
      if (f.data.length) s.incoming.write(f.data);
      if (f.flags & FLAG_FIN) s.remoteEnded();
      return;
    }
    switch (f.type) {
      case FrameType.SynStream: {
        const syn = parseSynStream(f.payload);
        const headers = decodeHeaderBlock(await this.inflater.run(syn.headerBlock));
        // Stream ids from the client are odd and increasing; anything else is refused.
        if (syn.streamId % 2 !== 1 || syn.streamId <= this.lastStreamId) {
          await this.send(controlFrame(FrameType.RstStream, 0, words(syn.streamId, RstStatus.ProtocolError)));
          return;
        }
        this.lastStreamId = syn.streamId;
        const s = new SpdyStream(syn.streamId, headers, this);
        this.streams.set(s.id, s);
        await this.sendHeaders(FrameType.SynReply, s.id, new Map());
        if (f.flags & FLAG_FIN) s.remoteEnded();
        this.emit('stream', s);
        return;
      }
      case FrameType.SynReply:
      case FrameType.Headers:
        // Nothing to act on, but the block must pass through the inflater to keep its context.
        await this.inflater.run(parseStreamHeaders(f.payload).headerBlock);
        return;
      case FrameType.RstStream: {
        const id = f.payload.readUInt32BE(0) & 0x7fffffff;
        this.streams.get(id)?.remoteEnded();
        this.streams.delete(id);
        return;
      }
      case FrameType.Ping:
        // Answered with the same id.
        await this.send(controlFrame(FrameType.Ping, 0, f.payload));
        return;
      case FrameType.GoAway:
        this.close();
        return;
      default:
        // SETTINGS, WINDOW_UPDATE and unknown types: nothing to do.
        return;
    }
  }

  /** A frame after everything sent before it; resolves when written (and drained, if the socket was full). */
  send(frame: Buffer): Promise<void> {
    this.outgoingWork = this.outgoingWork.then(() => this.write(frame));
    return this.outgoingWork;
  }

  private async write(frame: Buffer): Promise<void> {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    if (!this.socket.write(frame)) await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close')]);
  }

  /** SYN_REPLY or HEADERS: compressed and written in one step of the outgoing queue. */
  private sendHeaders(type: number, streamId: number, headers: Headers): Promise<void> {
    this.outgoingWork = this.outgoingWork.then(async () => {
      const block = await this.deflater.run(encodeHeaderBlock(headers));
      await this.write(controlFrame(type, 0, Buffer.concat([words(streamId), block])));
    });
    return this.outgoingWork;
  }

  /** GOAWAY, then the connection is closed once everything queued has been written. */
  close(): Promise<void> {
    if (this.closed) return this.outgoingWork;
    this.closed = true;
    void this.send(controlFrame(FrameType.GoAway, 0, words(this.lastStreamId, 0)));
    this.outgoingWork = this.outgoingWork.then(() => {
      this.socket.end();
    });
    return this.outgoingWork;
  }

  private teardown(): void {
    if (this.tornDown) return;
    this.tornDown = true;
    for (const s of this.streams.values()) s.remoteEnded();
    this.streams.clear();
    if (!this.closed) {
      this.closed = true;
      this.socket.destroy();
    }
    this.inflater.close();
    this.deflater.close();
    this.emit('close');
  }
}
