// A minimal WebSocket client for tests (Node 20 has none built in): the opening handshake over
// HTTPS (its Sec-WebSocket-Accept checked), masked frames out, messages in (fragments joined,
// pings answered), the closing handshake. Framing from the agent's own module, used here from the
// client's side (frames written masked, frames read unmasked), so a test of the server is also a
// test of both directions of the codec against an independent peer (the apiserver) in between.
import { randomBytes } from 'node:crypto';
import { request, type RequestOptions } from 'node:https';
import type { Socket } from 'node:net';
import { Opcode, acceptKey, closePayload, encodeFrame, splitFrames } from '../../agent/server/websocket/frames.js';

export interface WsMessage {
  data: Buffer;
  binary: boolean;
}

export interface WsClient {
  protocol: string;
  messages: WsMessage[];
  /** Resolves when the server's close frame or the connection's end arrives; the close code if a frame came. */
  closed: Promise<number | undefined>;
  send(data: Buffer | string): void;
  close(code?: number): void;
  destroy(): void;
}

export type WsResult = WsClient | { status: number; body: string };

/** Opens a WebSocket to https://host:port/path offering `protocols`; the TLS options carry CA and client credentials. */
export function connectWebSocket(
  tls: RequestOptions,
  path: string,
  protocols: string[],
  timeoutMs = 20_000,
): Promise<WsResult> {
  const key = randomBytes(16).toString('base64');
  return new Promise((resolve, reject) => {
    const req = request({
      ...tls,
      path,
      method: 'GET',
      timeout: timeoutMs,
      headers: {
        ...(tls.headers ?? {}),
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': key,
        ...(protocols.length ? { 'sec-websocket-protocol': protocols.join(', ') } : {}),
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', (res, socket: Socket, head: Buffer) => {
      req.setTimeout(0);
      if (res.headers['sec-websocket-accept'] !== acceptKey(key)) {
        socket.destroy();
        return reject(new Error(`bad Sec-WebSocket-Accept ${String(res.headers['sec-websocket-accept'])}`));
      }
      resolve(client(socket, head, String(res.headers['sec-websocket-protocol'] ?? '')));
    });
    req.on('timeout', () => req.destroy(new Error(`WebSocket upgrade of ${path} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

function client(socket: Socket, head: Buffer, protocol: string): WsClient {
  const messages: WsMessage[] = [];
  let buffered: Buffer = Buffer.alloc(0);
  let fragments: Buffer[] = [];
  let firstOpcode = 0;
  let closeCode: number | undefined;
  const frame = (opcode: number, payload: Buffer) => {
    if (!socket.destroyed) socket.write(encodeFrame(opcode, payload, true, randomBytes(4)));
  };
  const closed = new Promise<number | undefined>((resolve) => {
    socket.on('close', () => resolve(closeCode));
    socket.on('data', (b: Buffer) => onData(b));
    const onData = (b: Buffer) => {
      buffered = Buffer.concat([buffered, b]);
      const { frames, rest } = splitFrames(buffered, false);
      buffered = rest;
      for (const f of frames) {
        if (f.opcode === Opcode.Ping) frame(Opcode.Pong, f.payload);
        else if (f.opcode === Opcode.Close) {
          closeCode = f.payload.length >= 2 ? f.payload.readUInt16BE(0) : undefined;
          frame(Opcode.Close, f.payload.subarray(0, 2));
          socket.end();
          resolve(closeCode);
        } else if (f.opcode !== Opcode.Pong) {
          if (f.opcode !== Opcode.Continuation) firstOpcode = f.opcode;
          fragments.push(f.payload);
          if (f.fin) {
            messages.push({ data: Buffer.concat(fragments), binary: firstOpcode === Opcode.Binary });
            fragments = [];
          }
        }
      }
    };
    if (head.length) onData(head);
  });
  socket.on('error', () => {});
  return {
    protocol,
    messages,
    closed,
    send: (data) =>
      frame(
        typeof data === 'string' ? Opcode.Text : Opcode.Binary,
        typeof data === 'string' ? Buffer.from(data) : data,
      ),
    close: (code = 1000) => frame(Opcode.Close, closePayload(code)),
    destroy: () => socket.destroy(),
  };
}
