// port-forward over WebSocket, as kubelet's portforward/websocket.go: GET /portForward/{ns}/{pod}
// with the ports in the query (`port=80,8080`, or repeated: the apiserver turns the client's
// `ports` into kubelet's `port`, api.PortHeader) upgraded with
// `v4.channel.k8s.io` (or `v4.base64.channel.k8s.io`). Port i has two channels, data 2i and error
// 2i+1; each starts with the port as two bytes, little-endian. Every port is forwarded once, at
// once, through the same relay as SPDY (port-forward.ts); a failure is kubelet's message on the
// error channel. The connection closes when every forwarded connection has ended.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../lib/log.js';
import { rawResponse } from '../raw-response.js';
import { forward, type PortForwardApi } from '../forward.js';
import { requestPath } from '../routes.js';
import { ChannelConnection, REMOTE_COMMAND_PROTOCOLS, type ChannelProtocol } from './channels.js';
import { acceptWebSocket } from './connection.js';
import { CloseCode } from './frames.js';

/** kubelet registers these three for port-forward ("" when the client names none). */
const PORT_FORWARD_PROTOCOLS: readonly ChannelProtocol[] = REMOTE_COMMAND_PROTOCOLS.filter((p) =>
  ['v4.channel.k8s.io', 'v4.base64.channel.k8s.io', ''].includes(p.name),
);

/** The `port` query parameters (kubelet's NewV4Options), or its reason for a 400. */
export function parsePortsQuery(query: URLSearchParams): number[] | string {
  const values = query.getAll('port');
  if (values.length === 0) return 'query parameter "port" is required';
  const ports: number[] = [];
  for (const v of values) {
    if (v === '') return 'query parameter "port" cannot be empty';
    for (const p of v.split(',')) {
      if (!/^\d+$/.test(p) || Number(p) > 65535) return `unable to parse "${v}" as a port`;
      if (Number(p) < 1) return `port "${v}" must be > 0`;
      ports.push(Number(p));
    }
  }
  return ports;
}

/** The first message of each channel: the port, 16 bits little-endian. */
export function portHeader(port: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16LE(port, 0);
  return b;
}

export async function serveWebSocketPortForward(
  api: PortForwardApi,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  who: string,
  uid: string,
  log: Logger,
): Promise<void> {
  const ports = parsePortsQuery(requestPath(req).query);
  if (typeof ports === 'string') return rawResponse(socket, 400, ports);
  const accepted = acceptWebSocket(
    req,
    socket,
    head,
    PORT_FORWARD_PROTOCOLS.map((p) => p.name),
    (e) => log.warn('WebSocket protocol error; connection closed', { path: req.url, error: e.message }),
  );
  if (!accepted) return;
  const protocol = PORT_FORWARD_PROTOCOLS.find((p) => p.name === accepted.protocol)!;
  const ch = new ChannelConnection(
    accepted.ws,
    protocol,
    ports.map((_, i) => 2 * i),
    (message) => log.warn('WebSocket channel protocol error', { path: req.url, error: message }),
  );
  const gone = new AbortController();
  accepted.ws.once('close', () => gone.abort());
  log.info('port-forward', { pod: who, ports, webSocket: true });
  // Every header first, in channel order, then the forwards run side by side (as kubelet).
  for (const [i, port] of ports.entries()) {
    await ch.write(2 * i, portHeader(port));
    await ch.write(2 * i + 1, portHeader(port));
  }
  const out = (n: number) => ({ write: (b: Buffer) => ch.write(n, b), end: () => Promise.resolve() });
  await Promise.all(
    ports.map((port, i) =>
      forward(
        api,
        uid,
        who,
        port,
        out(2 * i + 1),
        { ...out(2 * i), incoming: ch.incoming.get(2 * i)! },
        log,
        gone.signal,
      ),
    ),
  );
  await accepted.ws.close(CloseCode.Normal);
}
