// grpc: one grpc.health.v1.Health/Check call over cleartext HTTP/2 (h2c with prior knowledge,
// as gRPC's insecure credentials do). Success is status SERVING; anything else, including a
// server that does not implement the health service, is a failure whose message says which.
//
// Connections: kubelet dials a new connection for every gRPC probe. Here a worker keeps its
// HTTP/2 connection between probes (GrpcConnection), as gRPC clients keep their channels: a
// new HTTP/2 session per probe (preface, SETTINGS, teardown) costs several times the call itself
// at hundreds of probes a second. A dead connection is never a verdict: a call that fails on a
// reused connection before any answer is retried once on a fresh one, within the same timeout.
// A call that times out drops the connection, so a wedged server is dialled afresh next time.
import http2 from 'node:http2';
import {
  decodeHealthCheckResponse,
  encodeHealthCheckRequest,
  frameMessage,
  GRPC_CODES,
  grpcTimeout,
  HEALTH_CHECK_PATH,
  statusName,
  unframeMessage,
} from '../grpc-wire.js';
import type { ProbeOutcome } from '../types.js';
import { dialError, hostPort, onAbort, PROBE_USER_AGENT } from './common.js';
import { errorMessage } from '../../../lib/errors.js';

/** One worker's HTTP/2 connection, kept between its probes; close() when the worker stops. */
export class GrpcConnection {
  private session: http2.ClientHttp2Session | undefined;
  private authority = '';

  /** The open session to this authority, or a new one; `reused` says which. */
  acquire(authority: string): { session: http2.ClientHttp2Session; reused: boolean } {
    const s = this.session;
    if (s && this.authority === authority && !s.closed && !s.destroyed) return { session: s, reused: true };
    this.close();
    const session = http2.connect(`http://${authority}`);
    session.on('error', () => {}); // reported through the request; never an unhandled 'error'
    session.once('close', () => {
      if (this.session === session) this.session = undefined;
    });
    // Idle connections go away after a while (a worker with a long period does not keep one open).
    session.setTimeout(60_000, () => session.close());
    this.session = session;
    this.authority = authority;
    return { session, reused: false };
  }

  /** Drop this session (it failed or timed out). */
  discard(session: http2.ClientHttp2Session): void {
    session.destroy();
    if (this.session === session) this.session = undefined;
  }

  close(): void {
    this.session?.destroy();
    this.session = undefined;
  }
}

export async function grpcProbe(
  host: string,
  port: number,
  service: string,
  timeoutMs: number,
  signal: AbortSignal,
  conn?: GrpcConnection,
): Promise<ProbeOutcome> {
  const c = conn ?? new GrpcConnection();
  try {
    const first = await checkOnce(c, host, port, service, timeoutMs, signal);
    if (first.retry) return (await checkOnce(c, host, port, service, timeoutMs, signal)).outcome;
    return first.outcome;
  } finally {
    if (!conn) c.close();
  }
}

function checkOnce(
  conn: GrpcConnection,
  host: string,
  port: number,
  service: string,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<{ outcome: ProbeOutcome; retry?: boolean }> {
  return new Promise((resolve) => {
    const authority = hostPort(host, port);
    const { session, reused } = conn.acquire(authority);
    let done = false;
    let off = () => {};
    const finish = (outcome: ProbeOutcome, opts: { drop?: boolean; retry?: boolean } = {}) => {
      if (done) return;
      done = true;
      off();
      if (opts.drop) conn.discard(session);
      resolve({ outcome, retry: opts.retry });
    };
    off = onAbort(signal, () =>
      finish(
        { result: 'failure', message: `timeout: health rpc did not complete within ${timeoutMs / 1000}s` },
        { drop: true },
      ),
    );

    let req: http2.ClientHttp2Stream;
    try {
      req = requestHealthCheck(session, timeoutMs);
    } catch (e) {
      // The session died between probes (the server closed it): dial again.
      return finish({ result: 'failure', message: `rpc error: ${errorMessage(e)}` }, { drop: true, retry: reused });
    }
    const answer = collectAnswer(req);
    req.on('error', (err) => {
      // A refused connection surfaces as a cancelled stream whose cause is the socket error.
      const cause = (err as { cause?: NodeJS.ErrnoException }).cause;
      const message = cause?.syscall === 'connect' ? dialError(host, port, cause) : `rpc error: ${errorMessage(err)}`;
      finish({ result: 'failure', message }, { drop: true, retry: reused && !answer.answered });
    });
    req.once('close', () => {
      if (!answer.answered && !done) {
        // Closed before any answer: the connection went away under us (GOAWAY, reset).
        return finish(
          { result: 'failure', message: `rpc error: connection to ${authority} closed before an answer` },
          { drop: true, retry: reused },
        );
      }
      finish(verdict(answer, authority, timeoutMs));
    });
    req.end(frameMessage(encodeHealthCheckRequest(service)));
  });
}

function requestHealthCheck(session: http2.ClientHttp2Session, timeoutMs: number): http2.ClientHttp2Stream {
  return session.request({
    ':method': 'POST',
    ':path': HEALTH_CHECK_PATH,
    'content-type': 'application/grpc',
    te: 'trailers',
    'user-agent': PROBE_USER_AGENT,
    'grpc-timeout': grpcTimeout(timeoutMs),
  });
}

/** What the server sent back on one call, filled in as the stream's events arrive. */
interface GrpcAnswer {
  /** Response headers came (the server answered at all). */
  answered: boolean;
  httpStatus: number;
  contentType: string;
  grpcStatus?: string;
  grpcMessage: string;
  chunks: Buffer[];
}

function collectAnswer(req: http2.ClientHttp2Stream): GrpcAnswer {
  const answer: GrpcAnswer = { answered: false, httpStatus: 0, contentType: '', grpcMessage: '', chunks: [] };
  const takeStatus = (h: http2.IncomingHttpHeaders) => {
    if (h['grpc-status'] !== undefined) answer.grpcStatus = String(h['grpc-status']);
    if (h['grpc-message'] !== undefined) answer.grpcMessage = decodeMessage(String(h['grpc-message']));
  };
  req.once('response', (h) => {
    answer.answered = true;
    answer.httpStatus = Number(h[':status']);
    answer.contentType = String(h['content-type'] ?? '');
    takeStatus(h); // a "Trailers-Only" answer carries the status in the headers
  });
  req.once('trailers', takeStatus);
  req.on('data', (b: Buffer) => answer.chunks.push(b));
  return answer;
}

/** The probe result of a completed call: SERVING is success, anything else a failure that says why. */
function verdict(answer: GrpcAnswer, authority: string, timeoutMs: number): ProbeOutcome {
  const { httpStatus, contentType, grpcStatus, grpcMessage } = answer;
  if (httpStatus !== 200)
    return { result: 'failure', message: `rpc error: HTTP status ${httpStatus || 'none'} from ${authority}` };
  if (!contentType.startsWith('application/grpc'))
    return { result: 'failure', message: `rpc error: content-type ${JSON.stringify(contentType)} is not gRPC` };
  if (grpcStatus === undefined) return { result: 'failure', message: 'rpc error: the server sent no grpc-status' };
  const code = Number(grpcStatus);
  if (code === 12) {
    return {
      result: 'failure',
      message: `this server does not implement the grpc health protocol (grpc.health.v1.Health): ${grpcMessage || 'Unimplemented'}`,
    };
  }
  if (code === 4)
    return { result: 'failure', message: `timeout: health rpc did not complete within ${timeoutMs / 1000}s` };
  if (code !== 0)
    return { result: 'failure', message: `rpc error: code = ${GRPC_CODES[code] ?? code} desc = ${grpcMessage}` };
  const msg = unframeMessage(Buffer.concat(answer.chunks));
  if (!msg) return { result: 'failure', message: 'rpc error: the server sent no HealthCheckResponse' };
  if (msg.compressed)
    return { result: 'failure', message: 'rpc error: compressed response, but no compression was offered' };
  let status: number;
  try {
    status = decodeHealthCheckResponse(msg.message).status;
  } catch (e) {
    return { result: 'failure', message: `rpc error: bad HealthCheckResponse: ${errorMessage(e)}` };
  }
  if (status === 1) return { result: 'success', message: 'gRPC health status: SERVING' };
  return { result: 'failure', message: `service unhealthy (responded with "${statusName(status)}")` };
}

/** grpc-message is percent-encoded. */
function decodeMessage(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}
