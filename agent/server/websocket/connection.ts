// One WebSocket connection, the server's side (RFC 6455): the opening handshake on an upgraded
// HTTP request, then messages reassembled from fragments, pings answered with pongs, and the
// closing handshake. The subprotocol is chosen as golang.org/x/net/websocket does under kubelet's
// wsstream: the first protocol in the client's order that the server supports, "" when the client
// offers none; no match is a 403, a malformed upgrade a 400.
import { EventEmitter, once } from 'node:events';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { rawResponse } from '../raw-response.js';
import {
  CloseCode,
  FrameError,
  Opcode,
  acceptKey,
  closePayload,
  decodeText,
  encodeFrame,
  isControl,
  splitFrames,
} from './frames.js';

/** Data frames are cut to this size, so a burst on one channel does not hold a control frame up for long. */
const FRAME_CHUNK = 32 * 1024;

/** An upgrade to WebSocket: `Upgrade: websocket` and `Connection: upgrade` (wsstream.IsWebSocketRequest). */
export function isWebSocketRequest(req: IncomingMessage): boolean {
  const connection = (req.headers.connection ?? '').split(',').map((s) => s.trim().toLowerCase());
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket' && connection.includes('upgrade');
}

/** The subprotocols a client offers, in its order of preference. */
export function offeredSubprotocols(req: IncomingMessage): string[] {
  const raw = req.headers['sec-websocket-protocol'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return lines
    .flatMap((l) => l.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The client's first protocol the server supports ("" stands for "none offered"); undefined when none. */
export function negotiateSubprotocol(offered: string[], supported: readonly string[]): string | undefined {
  return (offered.length ? offered : ['']).find((p) => supported.includes(p));
}

export interface WebSocketEvents {
  message: [data: Buffer, binary: boolean];
  close: [];
}

export class WebSocketConnection extends EventEmitter<WebSocketEvents> {
  private buffered: Buffer = Buffer.alloc(0);
  private fragments: Buffer[] = [];
  private fragmentBytes = 0;
  private fragmentOpcode = 0;
  private outgoing: Promise<void> = Promise.resolve();
  private closeSent = false;
  private closed = false;

  constructor(
    private readonly socket: Duplex,
    head?: Buffer,
    private readonly onProtocolError: (e: Error) => void = () => {},
  ) {
    super();
    socket.on('data', (b: Buffer) => this.receive(b));
    socket.on('error', () => this.teardown());
    socket.on('close', () => this.teardown());
    socket.on('end', () => this.teardown());
    if (head?.length) this.receive(head);
  }

  private receive(b: Buffer): void {
    if (this.closed) return;
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, b]) : b;
    try {
      const { frames, rest } = splitFrames(this.buffered);
      this.buffered = rest;
      for (const f of frames) this.handle(f.fin, f.opcode, f.payload);
    } catch (e) {
      this.fail(e instanceof FrameError ? e.code : CloseCode.ProtocolError, e as Error);
    }
  }

  private handle(fin: boolean, opcode: number, payload: Buffer): void {
    if (this.closed) return;
    if (isControl(opcode)) {
      if (opcode === Opcode.Ping) void this.write(encodeFrame(Opcode.Pong, payload));
      else if (opcode === Opcode.Close) {
        // Echo the peer's code (5.5.1), then the server closes the TCP connection first (7.1.1).
        const code = payload.length >= 2 ? payload.readUInt16BE(0) : CloseCode.Normal;
        void this.close(code === 1005 || code === 1006 || code === 1015 ? CloseCode.Normal : code);
      }
      return;
    }
    if (opcode === Opcode.Continuation) {
      if (!this.fragmentOpcode)
        throw new FrameError(CloseCode.ProtocolError, 'continuation frame without a message to continue');
    } else {
      if (this.fragmentOpcode)
        throw new FrameError(CloseCode.ProtocolError, 'new message before the previous one ended');
      this.fragmentOpcode = opcode;
    }
    this.fragments.push(payload);
    this.fragmentBytes += payload.length;
    if (this.fragmentBytes > 32 << 20) throw new FrameError(CloseCode.TooBig, 'message exceeds 32 MiB');
    if (!fin) return;
    const data = this.fragments.length === 1 ? this.fragments[0]! : Buffer.concat(this.fragments);
    const binary = this.fragmentOpcode === Opcode.Binary;
    this.fragments = [];
    this.fragmentBytes = 0;
    this.fragmentOpcode = 0;
    if (!binary && decodeText(data) === undefined)
      throw new FrameError(CloseCode.InvalidPayload, 'text message is not valid UTF-8');
    this.emit('message', data, binary);
  }

  /** One message (cut into frames of FRAME_CHUNK); resolves once written, and drained if the socket was full. */
  send(data: Buffer | string): Promise<void> {
    const binary = typeof data !== 'string';
    const bytes = binary ? data : Buffer.from(data);
    if (bytes.length <= FRAME_CHUNK) return this.write(encodeFrame(binary ? Opcode.Binary : Opcode.Text, bytes));
    let p = Promise.resolve();
    for (let off = 0; off < bytes.length; off += FRAME_CHUNK) {
      const last = off + FRAME_CHUNK >= bytes.length;
      p = this.write(
        encodeFrame(
          off === 0 ? (binary ? Opcode.Binary : Opcode.Text) : Opcode.Continuation,
          bytes.subarray(off, off + FRAME_CHUNK),
          last,
        ),
      );
    }
    return p;
  }

  private write(frame: Buffer): Promise<void> {
    this.outgoing = this.outgoing.then(async () => {
      if (this.closeSent || this.socket.destroyed || this.socket.writableEnded) return;
      if (!this.socket.write(frame)) await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close')]);
    });
    return this.outgoing;
  }

  /** The closing handshake from our side: a close frame after everything queued, then the TCP connection ends. */
  close(code: number = CloseCode.Normal, reason = ''): Promise<void> {
    void this.write(encodeFrame(Opcode.Close, closePayload(code, reason)));
    this.outgoing = this.outgoing.then(() => {
      this.closeSent = true;
      if (!this.socket.destroyed) this.socket.end();
    });
    return this.outgoing;
  }

  private fail(code: number, e: Error): void {
    this.onProtocolError(e);
    void this.close(code, e.message).then(() => this.socket.destroy());
  }

  private teardown(): void {
    if (this.closed) return;
    this.closed = true;
    this.emit('close');
  }
}

/**
 * The opening handshake (RFC 6455 4.2): a GET asking to upgrade to websocket, version 13, with a
 * key; the answer is 101 with Sec-WebSocket-Accept and the chosen subprotocol. Undefined when
 * refused, the refusal having been written.
 */
export function acceptWebSocket(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  supported: readonly string[],
  onProtocolError?: (e: Error) => void,
): { ws: WebSocketConnection; protocol: string } | undefined {
  const key = req.headers['sec-websocket-key'];
  if (
    req.method !== 'GET' ||
    !isWebSocketRequest(req) ||
    typeof key !== 'string' ||
    Buffer.from(key, 'base64').length !== 16
  ) {
    rawResponse(
      socket,
      400,
      'Bad Request: not a WebSocket upgrade (GET with Upgrade: websocket and a Sec-WebSocket-Key)',
    );
    return undefined;
  }
  if (req.headers['sec-websocket-version'] !== '13') {
    // 4.4: the versions the server speaks go back in the header.
    socket.end(
      'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\nConnection: close\r\n\r\n',
    );
    return undefined;
  }
  const offered = offeredSubprotocols(req);
  const protocol = negotiateSubprotocol(offered, supported);
  if (protocol === undefined) {
    rawResponse(
      socket,
      403,
      `requested protocol(s) are not supported: [${offered.join(' ')}]; supports [${supported.filter(Boolean).join(' ')}]`,
    );
    return undefined;
  }
  socket.write(
    [
      'HTTP/1.1 101 Switching Protocols',
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Accept: ${acceptKey(key)}`,
      ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
      '',
      '',
    ].join('\r\n'),
  );
  return { ws: new WebSocketConnection(socket, head, onProtocolError), protocol };
}
