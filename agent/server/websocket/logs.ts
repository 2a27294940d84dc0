// A container's log over WebSocket, as the apiserver's wsstream.Reader streams a log to a client
// that asks for one (k8s.io/apimachinery wsstream stream.go): subprotocol `binary.k8s.io` (or none)
// sends the bytes as binary messages, `base64.binary.k8s.io` as base64 text messages; no channel
// byte. An empty message first tells the client the stream is open; the end of the log closes the
// connection, and messages from the client are read and dropped. kubelet itself answers logs
// only over plain HTTP (the apiserver does the WebSocket part); a client that upgrades its logs
// request when talking to the node directly gets the same stream here instead of nothing.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../lib/log.js';
import { rawResponse } from '../raw-response.js';
import { openContainerLogs, requestPath, type ReadOnlyApi } from '../routes.js';
import { acceptWebSocket } from './connection.js';
import { CloseCode } from './frames.js';
import { errorMessage } from '../../../lib/errors.js';

export const LOG_PROTOCOLS = ['binary.k8s.io', 'base64.binary.k8s.io', ''] as const;

export async function serveLogsWebSocket(
  api: Pick<ReadOnlyApi, 'pods' | 'runtime'>,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  log: Logger,
): Promise<void> {
  const { path, query } = requestPath(req);
  const logs = await openContainerLogs(api, path, query);
  if ('code' in logs) return rawResponse(socket, logs.code, logs.message);
  const accepted = acceptWebSocket(req, socket, head, LOG_PROTOCOLS, (e) =>
    log.warn('WebSocket protocol error; connection closed', { path: req.url, error: e.message }),
  );
  if (!accepted) {
    logs.stream.destroy();
    return;
  }
  const { ws, protocol } = accepted;
  const base64 = protocol === 'base64.binary.k8s.io';
  ws.once('close', () => logs.stream.destroy());
  try {
    await ws.send(base64 ? '' : Buffer.alloc(0));
    for await (const chunk of logs.stream)
      await ws.send(base64 ? (chunk as Buffer).toString('base64') : (chunk as Buffer));
  } catch (e) {
    log.debug('log stream over WebSocket ended early', { path: req.url, error: errorMessage(e) });
  }
  await ws.close(CloseCode.Normal);
}
