// The agent's HTTP routes, one router served by two listeners: the plain read-only port (10255,
// no authentication) and the authenticated HTTPS port (10250) the apiserver uses for `kubectl
// logs`. Both see the same handlers; what differs is only what stands in front of them.
//   /healthz                                    "ok" while the sync loop is alive
//   /pods                                       PodList of the desired pods with their statuses
//   /metrics                                    Prometheus text (agent and prober metrics)
//   /stats/summary                              node and per-pod CPU and memory
//   /containerLogs/{ns}/{pod}/{container}       PodLogOptions: follow tailLines limitBytes
//                                               sinceSeconds sinceTime timestamps previous
//   /manifestErrors                             manifests the agent refused: file/URL, object, field, reason
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import type { V1Pod } from '@kubernetes/client-node';
import type { ContainerRuntime } from '../runtime/types.js';
import type { ManifestError } from '../sources/types.js';
import { isLogOptionsError, parseLogOptions } from './log-options.js';
import { errorMessage } from '../../lib/errors.js';

export interface ReadOnlyApi {
  pods(): V1Pod[];
  manifestErrors(): ManifestError[];
  healthy(): { ok: boolean; message: string };
  metrics(): string;
  summary(): Promise<unknown>;
  runtime: Pick<ContainerRuntime, 'logs' | 'execInteractive' | 'attachInteractive' | 'podStatus'>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse) => Promise<void>;

export function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 1) + '\n');
}

export function text(res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'content-type': type });
  res.end(body);
}

/** The path without trailing slashes, as both listeners and the authorizer see it. */
export function requestPath(req: IncomingMessage): { path: string; query: URLSearchParams } {
  const url = new URL(req.url ?? '/', 'http://x');
  return { path: url.pathname.replace(/\/+$/, '') || '/', query: url.searchParams };
}

/** Answers a handler's failure: a 500 if nothing was sent yet, else the connection is cut. */
export function guarded(h: Handler): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    h(req, res).catch((e) => {
      if (!res.headersSent) text(res, 500, `internal error: ${errorMessage(e)}\n`);
      else res.destroy();
    });
  };
}

export function createRouter(api: ReadOnlyApi): Handler {
  return async (req, res) => {
    const { path, query } = requestPath(req);
    // exec and attach arrive as connection upgrades (streaming.ts, on the HTTPS port only).
    if (/^\/(exec|attach|portForward)\//.test(path)) return text(res, 400, 'Upgrade request required\n');
    // Nothing else changes state.
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return text(res, 405, `${req.method} is not supported: this API only reads\n`);
    if (path === '/healthz') {
      const h = api.healthy();
      return text(res, h.ok ? 200 : 500, h.ok ? 'ok' : `unhealthy: ${h.message}\n`);
    }
    if (path === '/pods') return json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: api.pods() });
    if (path === '/metrics') return text(res, 200, api.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
    if (path === '/stats/summary' || path === '/stats') return json(res, 200, await api.summary());
    if (path === '/manifestErrors') return json(res, 200, { items: api.manifestErrors() });
    if (path === '/containerLogs' || path.startsWith('/containerLogs/')) {
      const logs = await openContainerLogs(api, path, query);
      if ('code' in logs) return text(res, logs.code, `${logs.message}\n`);
      return serveLogs(res, logs.stream, logs.follow);
    }
    return text(res, 404, `404 page not found: ${path}\n`);
  };
}

/** A pod this node runs, by namespace, name and (when the path gives one) UID; kubelet's 404 otherwise. */
export function findPod(
  api: Pick<ReadOnlyApi, 'pods'>,
  ns: string,
  podName: string,
  uid?: string,
): V1Pod | { code: number; message: string } {
  const pod = api
    .pods()
    .find((p) => p.metadata?.namespace === ns && p.metadata?.name === podName && (!uid || p.metadata?.uid === uid));
  return pod ?? { code: 404, message: `pod "${podName}" does not exist` };
}

/**
 * The runtime id of a pod's container (the previous instance's, for --previous), or kubelet's
 * status code and message for why there is none. Shared by logs, exec and attach.
 */
export function findContainer(
  api: Pick<ReadOnlyApi, 'pods'>,
  ns: string,
  podName: string,
  container: string,
  uid?: string,
  previous = false,
): { id: string } | { code: number; message: string } {
  const pod = findPod(api, ns, podName, uid);
  if ('code' in pod) return pod;
  const spec = [
    ...(pod.spec?.containers ?? []),
    ...(pod.spec?.initContainers ?? []),
    ...(pod.spec?.ephemeralContainers ?? []),
  ];
  if (!spec.some((c) => c.name === container))
    return { code: 404, message: `container "${container}" not found in pod "${podName}"` };
  const cs = [
    ...(pod.status?.containerStatuses ?? []),
    ...(pod.status?.initContainerStatuses ?? []),
    ...(pod.status?.ephemeralContainerStatuses ?? []),
  ].find((c) => c.name === container);
  const id = previous ? cs?.lastState?.terminated?.containerID : cs?.containerID;
  if (!id) {
    const message = previous
      ? `previous terminated container "${container}" in pod "${podName}" not found`
      : `container "${container}" in pod "${podName}" is waiting to start: ${cs?.state?.waiting?.reason ?? 'ContainerCreating'}`;
    return { code: 400, message };
  }
  return { id: id.replace(/^docker:\/\//, '') };
}

/**
 * kubelet's getContainerLogs for /containerLogs/{ns}/{pod}/{container}: the runtime's stream, or
 * kubelet's status code and message. Shared by plain HTTP and WebSocket (websocket/logs.ts).
 */
export async function openContainerLogs(
  api: Pick<ReadOnlyApi, 'pods' | 'runtime'>,
  path: string,
  q: URLSearchParams,
): Promise<{ stream: Readable; follow: boolean } | { code: number; message: string }> {
  const parts = path.split('/').slice(2).map(decodeURIComponent);
  // kubelet names the piece that is missing.
  const missing = ['podNamespace', 'podID', 'containerName'].find((_, i) => !parts[i]);
  if (missing || parts.length > 3)
    return {
      code: 400,
      message: missing
        ? `missing ${missing}.`
        : `unexpected path ${path}: expected /containerLogs/{namespace}/{pod}/{container}`,
    };
  const [ns, podName, container] = parts as [string, string, string];
  const opts = parseLogOptions(q, Date.now());
  if (isLogOptionsError(opts)) return opts;
  const found = findContainer(api, ns, podName, container, undefined, opts.previous);
  if ('code' in found) return found;
  let stream: Readable = await api.runtime.logs(found.id, {
    follow: opts.follow,
    tail: opts.tailLines,
    timestamps: opts.timestamps,
    sinceMs: opts.sinceMs,
  });
  if (opts.limitBytes !== undefined) stream = limitBytes(stream, opts.limitBytes);
  return { stream, follow: opts.follow };
}

function serveLogs(res: ServerResponse, stream: Readable, follow: boolean): void {
  res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
  // A follower must see the answer start before the first new line arrives.
  if (follow) res.flushHeaders();
  res.on('close', () => stream.destroy());
  stream.pipe(res);
}

/** The first `limit` bytes of `source`, then the end (and the source, a follower too, is released). */
export function limitBytes(source: Readable, limit: number): Readable {
  let left = limit;
  const out = new Transform({
    transform(chunk: Buffer, _enc, done) {
      if (left <= 0) return done();
      const part = chunk.length > left ? chunk.subarray(0, left) : chunk;
      left -= part.length;
      this.push(part);
      if (left <= 0) {
        this.push(null);
        source.unpipe(out);
        source.destroy();
      }
      done();
    },
  });
  out.on('close', () => source.destroy());
  source.on('error', (e) => out.destroy(e));
  return source.pipe(out);
}
