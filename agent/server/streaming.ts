// `kubectl exec` and `kubectl attach`, served to the apiserver as kubelet serves them
// (pkg/kubelet/cri/streaming/remotecommand): the apiserver POSTs /exec/{ns}/{pod}/{container}
// (or /attach/...) asking to upgrade the connection to SPDY/3.1 with the remote-command protocol
// v4.channel.k8s.io, then opens one SPDY stream per standard stream it wants, tagged by a
// "streamtype" header: stdin, stdout, stderr, "resize" (terminal sizes as JSON, with a TTY) and
// "error", on which the node writes the outcome as a metav1.Status before closing. A non-zero
// exit is a Failure with reason NonZeroExitCode and the code in a cause, which is how kubectl
// learns the exit code it returns.
// The same request may instead ask to upgrade to WebSocket (a client speaking `channel.k8s.io`
// and its successors, whose upgrade the apiserver forwards unchanged): websocket/remote-command.ts
// gives the same streams as channels of one WebSocket, and the command runs the same way.
import type { IncomingMessage } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import type { Logger } from '../../lib/log.js';
import type { ContainerRuntime, InteractiveSession, StreamOptions } from '../runtime/types.js';
import { rawResponse } from './raw-response.js';
import { findContainer, requestPath, type ReadOnlyApi } from './routes.js';
import { SpdySession, type SpdyStream } from './spdy/session.js';
import { isWebSocketRequest } from './websocket/connection.js';
import { webSocketCommandStreams } from './websocket/remote-command.js';
import type { CommandStreams, HttpError, OutputStream, StreamRequest } from './stream-types.js';
import { errorMessage } from '../../lib/errors.js';

export const REMOTE_COMMAND_V4 = 'v4.channel.k8s.io';
/** How long the apiserver has to open every stream it asked for (kubelet's default). */
const STREAM_CREATION_TIMEOUT_MS = 30_000;

export type StreamingRuntime = Pick<ContainerRuntime, 'execInteractive' | 'attachInteractive'>;

/** kubelet's query parameters: command (repeated), input, output, error, tty ("1" is true). */
export function parseStreamRequest(path: string, query: URLSearchParams): StreamRequest | HttpError | undefined {
  const m = /^\/(exec|attach)\/(.*)$/.exec(path);
  if (!m) return undefined;
  const parts = m[2]!.split('/').map(decodeURIComponent);
  if (parts.length !== 3 && parts.length !== 4)
    return { code: 404, message: `unexpected path ${path}: expected /${m[1]}/{namespace}/{pod}[/{uid}]/{container}` };
  const [namespace, pod] = parts as [string, string];
  const container = parts[parts.length - 1]!;
  const flag = (name: string) => query.get(name) === '1';
  const r: StreamRequest = {
    kind: m[1] as 'exec' | 'attach',
    namespace,
    pod,
    container,
    ...(parts.length === 4 ? { uid: parts[2] } : {}),
    command: query.getAll('command'),
    stdin: flag('input'),
    stdout: flag('output'),
    // As kubelet: a TTY has no separate stderr.
    stderr: flag('error') && !flag('tty'),
    tty: flag('tty'),
  };
  if (!r.stdin && !r.stdout && !r.stderr)
    return { code: 400, message: 'you must specify at least 1 of stdin, stdout, stderr' };
  if (r.kind === 'exec' && r.command.length === 0)
    return { code: 400, message: 'missing command: an exec needs at least one command parameter' };
  return r;
}

/** The stream types the apiserver opens for these options. */
export function expectedStreams(o: StreamOptions): string[] {
  return [
    'error',
    ...(o.stdin ? ['stdin'] : []),
    ...(o.stdout ? ['stdout'] : []),
    ...(o.stderr ? ['stderr'] : []),
    ...(o.tty ? ['resize'] : []),
  ];
}

/** The protocols a client offers (one header line each, or comma-separated). */
export function offeredProtocols(req: IncomingMessage): string[] {
  const raw = req.headers['x-stream-protocol-version'];
  const lines = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  return lines
    .flatMap((l) => l.split(','))
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The metav1.Status written on the error stream. */
export function exitStatus(command: string[], exitCode: number | undefined): Record<string, unknown> {
  if (!exitCode) return { metadata: {}, status: 'Success' };
  return {
    metadata: {},
    status: 'Failure',
    message: `command terminated with non-zero exit code: error executing command [${command.join(' ')}], exit code ${exitCode}`,
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: String(exitCode) }] },
  };
}

export function internalErrorStatus(err: string): Record<string, unknown> {
  return {
    metadata: {},
    status: 'Failure',
    message: `Internal error occurred: ${err}`,
    reason: 'InternalError',
    details: { causes: [{ message: err }] },
    code: 500,
  };
}

/**
 * The handshake exec, attach and port-forward share (kubelet's httpstream.Handshake): the client
 * must ask to upgrade to SPDY/3.1 and offer `protocol`; the answer is 101 and a SPDY session on the
 * connection. Undefined when refused, the refusal having been written.
 */
export function acceptSpdy(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  protocol: string,
  log: Logger,
): SpdySession | undefined {
  if (!/(^|,)\s*spdy\/3\.1\s*(,|$)/i.test(req.headers.upgrade ?? '')) {
    rawResponse(socket, 400, 'Upgrade request required (SPDY/3.1)');
    return undefined;
  }
  const offered = offeredProtocols(req);
  if (!offered.includes(protocol)) {
    rawResponse(
      socket,
      403,
      `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server supports [${protocol}]`,
    );
    return undefined;
  }
  socket.write(
    `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
  );
  return new SpdySession(socket, head, (e) =>
    log.warn('SPDY protocol error; connection closed', { path: req.url, error: e.message }),
  );
}

/** The streams the apiserver opens, once all expected ones are there; undefined on timeout or close. */
function collectStreams(
  session: SpdySession,
  expected: string[],
  timeoutMs: number,
): Promise<Map<string, SpdyStream> | undefined> {
  return new Promise((resolve) => {
    const got = new Map<string, SpdyStream>();
    const done = (v: Map<string, SpdyStream> | undefined) => {
      clearTimeout(timer);
      session.off('stream', onStream);
      session.off('close', onClose);
      resolve(v);
    };
    const onStream = (s: SpdyStream) => {
      const type = s.header('streamtype');
      if (type) got.set(type, s);
      if (expected.every((t) => got.has(t))) done(got);
    };
    const onClose = () => done(undefined);
    const timer = setTimeout(() => done(undefined), timeoutMs);
    session.on('stream', onStream);
    session.on('close', onClose);
  });
}

/** Copies a runtime stream to a client's stream (or drops it when the client did not ask for it), then ends it. */
async function pump(from: Readable, to: OutputStream | undefined): Promise<void> {
  if (!to) {
    from.resume();
    await new Promise((r) => {
      from.once('end', r);
      from.once('close', r);
    });
    return;
  }
  for await (const chunk of from) await to.write(chunk as Buffer);
  await to.end();
}

/** Terminal sizes: one JSON object per line, {"Width":W,"Height":H} (Go's json.Encoder). */
function followResizes(from: Readable, rt: InteractiveSession, log: Logger): void {
  let buf = '';
  from.on('data', (b: Buffer) => {
    buf += b.toString('utf8');
    const lines = buf.split('\n');
    buf = lines.pop()!;
    for (const line of lines.map((l) => l.trim()).filter(Boolean)) {
      try {
        const size = JSON.parse(line) as { Width?: number; Height?: number };
        if (size.Width && size.Height)
          rt.resize(size.Width, size.Height).catch((e: Error) => log.debug('resize failed', { error: e.message }));
      } catch {
        log.debug('unreadable terminal size', { line });
      }
    }
  });
}

export interface StreamingApi extends Pick<ReadOnlyApi, 'pods'> {
  runtime: StreamingRuntime;
}

/** SPDY: the streams the apiserver opens, undefined (the session closed) if it does not open them all. */
async function spdyCommandStreams(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  r: StreamRequest,
  log: Logger,
): Promise<CommandStreams | undefined> {
  const session = acceptSpdy(req, socket, head, REMOTE_COMMAND_V4, log);
  if (!session) return undefined;
  const streams = await collectStreams(session, expectedStreams(r), STREAM_CREATION_TIMEOUT_MS);
  if (!streams) {
    log.warn(`${r.kind}: the client did not open its streams`, {
      pod: `${r.namespace}/${r.pod}`,
      container: r.container,
    });
    await session.close();
    return undefined;
  }
  const errorStream = streams.get('error')!;
  return {
    stdin: streams.get('stdin')?.incoming,
    resize: streams.get('resize')?.incoming,
    stdout: streams.get('stdout'),
    stderr: streams.get('stderr'),
    writeStatus: async (status) => {
      await errorStream.write(Buffer.from(JSON.stringify(status)));
      await errorStream.end();
    },
    close: () => session.close(),
    onClose: (cb) => session.once('close', cb),
  };
}

/** Serves one upgraded exec or attach request (SPDY or WebSocket); the caller has authenticated and authorized it. */
export async function serveStreaming(
  api: StreamingApi,
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  log: Logger,
): Promise<void> {
  const { path, query } = requestPath(req);
  const r = parseStreamRequest(path, query);
  if (!r) return rawResponse(socket, 404, `404 page not found: ${path}`);
  if ('code' in r) return rawResponse(socket, r.code, r.message);
  const found = findContainer(api, r.namespace, r.pod, r.container, r.uid);
  if ('code' in found) return rawResponse(socket, found.code, found.message);
  const streams = isWebSocketRequest(req)
    ? await webSocketCommandStreams(req, socket, head, r, log)
    : await spdyCommandStreams(req, socket, head, r, log);
  if (!streams) return;
  let rt: InteractiveSession;
  try {
    rt =
      r.kind === 'exec'
        ? await api.runtime.execInteractive(found.id, r.command, r)
        : await api.runtime.attachInteractive(found.id, r);
  } catch (e) {
    await streams.writeStatus(internalErrorStatus(errorMessage(e)));
    await streams.close();
    return;
  }
  log.info(r.kind, {
    pod: `${r.namespace}/${r.pod}`,
    container: r.container,
    ...(r.kind === 'exec' ? { command: r.command } : {}),
    tty: r.tty,
    stdin: r.stdin,
    webSocket: isWebSocketRequest(req),
  });
  streams.onClose(() => rt.close());
  const { stdin } = streams;
  if (stdin && rt.stdin) {
    stdin.pipe(rt.stdin);
    rt.stdin.on('error', () => stdin.unpipe());
  }
  if (streams.resize) followResizes(streams.resize, rt, log);
  await Promise.all([pump(rt.stdout, streams.stdout), pump(rt.stderr, streams.stderr)]);
  const exitCode = r.kind === 'exec' ? await rt.exitCode().catch(() => undefined) : undefined;
  await streams.writeStatus(exitStatus(r.command, exitCode));
  await streams.close();
  rt.close();
}
