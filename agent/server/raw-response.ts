// A plain HTTP answer written on a connection that asked to be upgraded and was not (the socket
// of an 'upgrade' event has no ServerResponse): exec, attach, port-forward, logs over WebSocket.
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';

export function rawResponse(socket: Duplex, code: number, body: string): void {
  const b = Buffer.from(body.endsWith('\n') ? body : `${body}\n`);
  socket.end(
    `HTTP/1.1 ${code} ${STATUS_CODES[code] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${b.length}\r\nConnection: close\r\n\r\n${b.toString()}`,
  );
}
