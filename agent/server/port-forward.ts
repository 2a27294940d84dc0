// `kubectl port-forward`, served to the apiserver as kubelet serves it
// (pkg/kubelet/cri/streaming/portforward): POST /portForward/{ns}/{pod} upgraded to SPDY/3.1 with
// protocol portforward.k8s.io. The connection stays open while kubectl runs; for each local
// connection kubectl opens a pair of streams with the same "requestid" header, an "error" stream
// and a "data" stream, both naming the pod port in a "port" header. The data stream is copied to
// and from 127.0.0.1:port inside the pod's network namespace (so a server the pod binds to
// loopback only is reachable, as with kubelet); a failure is written as text on the error stream.
// The same request may ask for WebSocket instead (websocket/port-forward.ts): ports in the query,
// one data and one error channel per port, forwarded the same way.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../lib/log.js';
import { findPod, requestPath } from './routes.js';
import type { SpdyStream } from './spdy/session.js';
import { rawResponse } from './raw-response.js';
import { acceptSpdy } from './streaming.js';
import type { HttpError } from './stream-types.js';
import { failForward, forward, type PortForwardApi } from './forward.js';
import { isWebSocketRequest } from './websocket/connection.js';
import { serveWebSocketPortForward } from './websocket/port-forward.js';

export const PORT_FORWARD_V1 = 'portforward.k8s.io';
/** How long the second stream of a pair may lag behind the first (kubelet's stream creation timeout). */
const PAIR_TIMEOUT_MS = 30_000;

export interface PortForwardTarget {
  namespace: string;
  pod: string;
  uid?: string;
}

export function parsePortForwardPath(path: string): PortForwardTarget | HttpError | undefined {
  const m = /^\/portForward\/(.*)$/.exec(path);
  if (!m) return undefined;
  const parts = m[1]!.split('/').map(decodeURIComponent);
  if (parts.length !== 2 && parts.length !== 3)
    return { code: 404, message: `unexpected path ${path}: expected /portForward/{namespace}/{pod}[/{uid}]` };
  return { namespace: parts[0]!, pod: parts[1]!, ...(parts[2] ? { uid: parts[2] } : {}) };
}

/** A stream's "port" header as a port number, or why it is not one. */
export function streamPort(value: string | undefined): number | string {
  if (value === undefined) return 'missing port header';
  const n = Number(value);
  return /^\d+$/.test(value) && n >= 1 && n <= 65535 ? n : `invalid port header ${JSON.stringify(value)}`;
}

interface Pair {
  error?: SpdyStream;
  data?: SpdyStream;
  timer: NodeJS.Timeout;
}

/** Serves one upgraded port-forward connection; the caller has authenticated and authorized it. */
export async function servePortForward(
  api: PortForwardApi,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  log: Logger,
): Promise<void> {
  const { path } = requestPath(req);
  const target = parsePortForwardPath(path);
  if (!target) return rawResponse(socket, 404, `404 page not found: ${path}`);
  if ('code' in target) return rawResponse(socket, target.code, target.message);
  const pod = findPod(api, target.namespace, target.pod, target.uid);
  if ('code' in pod) return rawResponse(socket, pod.code, pod.message);
  const uid = pod.metadata!.uid!;
  if (isWebSocketRequest(req))
    return serveWebSocketPortForward(api, req, socket, head, `${target.namespace}/${target.pod}`, uid, log);
  const session = acceptSpdy(req, socket, head, PORT_FORWARD_V1, log);
  if (!session) return;
  const who = `${target.namespace}/${target.pod}`;
  log.info('port-forward', { pod: who });
  const pairs = new Map<string, Pair>();
  session.on('stream', (s) => {
    const id = s.header('requestid') ?? '';
    const type = s.header('streamtype');
    if (type !== 'error' && type !== 'data') {
      log.debug('port-forward: stream of unknown type', { pod: who, type });
      void s.end();
      return;
    }
    let pair = pairs.get(id);
    if (!pair) {
      const p: Pair = {
        timer: setTimeout(() => {
          pairs.delete(id);
          void p.error?.end();
          void p.data?.end();
        }, PAIR_TIMEOUT_MS),
      };
      pairs.set(id, (pair = p));
    }
    pair[type] = s;
    if (pair.error && pair.data) {
      clearTimeout(pair.timer);
      pairs.delete(id);
      const { error, data } = pair;
      const port = streamPort(data.header('port'));
      if (typeof port === 'string') void failForward(uid, who, data.header('port'), port, error, data);
      else void forward(api, uid, who, port, error, data, log);
    }
  });
  await new Promise<void>((r) => session.once('close', () => r()));
  for (const p of pairs.values()) clearTimeout(p.timer);
}
