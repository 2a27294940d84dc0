// Requests that upgrade their connection on the node API: exec and attach (SPDY or WebSocket,
// streaming.ts), port-forward (SPDY, port-forward.ts), and a container's log over WebSocket
// (websocket/logs.ts). The caller has authenticated and authorized the request.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../lib/log.js';
import type { PortForwardApi } from './forward.js';
import { servePortForward } from './port-forward.js';
import { requestPath, type ReadOnlyApi } from './routes.js';
import { serveStreaming } from './streaming.js';
import { isWebSocketRequest } from './websocket/connection.js';
import { serveLogsWebSocket } from './websocket/logs.js';

export function serveUpgrade(
  api: ReadOnlyApi & PortForwardApi,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  log: Logger,
): Promise<void> {
  const { path } = requestPath(req);
  if (path.startsWith('/portForward/')) return servePortForward(api, req, socket, head, log);
  if ((path === '/containerLogs' || path.startsWith('/containerLogs/')) && isWebSocketRequest(req))
    return serveLogsWebSocket(api, req, socket, head, log);
  return serveStreaming(api, req, socket, head, log);
}
