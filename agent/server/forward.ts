// One forwarded port-forward connection, whichever the transport (SPDY in port-forward.ts,
// WebSocket channels in websocket/port-forward.ts): a relay process in the pod's network
// namespace connects to 127.0.0.1:port there, and its bytes go to and from the data stream.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Readable } from 'node:stream';
import type { Logger } from '../../lib/log.js';
import type { ContainerRuntime } from '../runtime/types.js';
import type { ReadOnlyApi } from './routes.js';
import type { OutputStream } from './stream-types.js';

const RELAY = fileURLToPath(new URL('./port-relay.js', import.meta.url));

export interface PortForwardApi extends Pick<ReadOnlyApi, 'pods'> {
  runtime: Pick<ContainerRuntime, 'podStatus'>;
}

/** The client's side of one forwarded connection, a SPDY stream or a WebSocket channel. */
export interface ForwardStream extends OutputStream {
  incoming: Readable;
}

/** kubelet's message on the error stream, then both streams end. */
export async function failForward(
  uid: string,
  who: string,
  port: number | string | undefined,
  reason: string,
  errorStream: OutputStream,
  data: OutputStream,
): Promise<void> {
  await errorStream.write(Buffer.from(`error forwarding port ${port} to pod ${who}, uid ${uid}: ${reason}`));
  await errorStream.end();
  await data.end();
}

/** One forwarded connection: a relay in the pod's network namespace, its bytes on the data stream. */
export async function forward(
  api: PortForwardApi,
  uid: string,
  who: string,
  port: number,
  errorStream: OutputStream,
  data: ForwardStream,
  log: Logger,
  signal?: AbortSignal,
): Promise<void> {
  const fail = (reason: string) => failForward(uid, who, port, reason, errorStream, data);
  const sandbox = (await api.runtime.podStatus(uid)).sandboxes.find((s) => s.state === 'ready' && s.pid);
  if (!sandbox) return fail('the pod has no running sandbox');
  const child = spawn('nsenter', [`--net=/proc/${sandbox.pid}/ns/net`, '--', process.execPath, RELAY, String(port)], {
    stdio: ['pipe', 'pipe', 'pipe'],
    ...(signal ? { signal } : {}),
  });
  let stderr = '';
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  child.stdin.on('error', () => {});
  data.incoming.pipe(child.stdin);
  const copied = (async () => {
    for await (const chunk of child.stdout) await data.write(chunk as Buffer);
  })();
  const code = await new Promise<number | null>((r) => {
    child.once('close', (c) => r(c));
    child.once('error', (e) => {
      if (e.name !== 'AbortError') stderr += e.message;
      r(signal?.aborted ? 0 : -1);
    });
  });
  await copied.catch(() => {});
  if (code !== 0) {
    log.debug('port-forward connection failed', { pod: who, port, error: stderr.trim() });
    return fail(stderr.trim() || `relay exited with ${code}`);
  }
  await data.end();
  await errorStream.end();
}
