// The read-only HTTP API (--read-only-port, 10255 as kubelet's): no authentication, nothing that
// changes state.
//   /healthz                                    "ok" while the sync loop is alive
//   /pods                                       PodList of the desired pods with their statuses
//   /metrics                                    Prometheus text (agent and prober metrics)
//   /stats/summary                              node and per-pod CPU and memory
//   /containerLogs/{ns}/{pod}/{container}       ?follow ?tailLines ?timestamps ?previous ?sinceSeconds
//   /manifestErrors                             manifests the agent refused: file/URL, object, field, reason
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { DockerRuntime } from '../runtime/docker.js';
import type { ManifestError } from '../sources/types.js';

export interface ReadOnlyApi {
  pods(): V1Pod[];
  manifestErrors(): ManifestError[];
  healthy(): { ok: boolean; message: string };
  metrics(): string;
  summary(): Promise<unknown>;
  runtime: DockerRuntime;
}

function json(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body, null, 1) + '\n');
}

function text(res: ServerResponse, code: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(code, { 'content-type': type });
  res.end(body);
}

const truthy = (v: string | null) => v !== null && v !== 'false' && v !== '0';

export class ReadOnlyServer {
  private server?: Server;
  port = 0;

  constructor(private readonly api: ReadOnlyApi, private readonly logger: Logger) {}

  async listen(host: string, port: number): Promise<number> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((e) => {
        if (!res.headersSent) text(res, 500, `internal error: ${(e as Error).message}\n`);
        else res.destroy();
      });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (e) => reject(new Error(`read-only API cannot listen on ${host}:${port}: ${(e as Error).message}`)));
      this.server!.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    this.logger.info('read-only API listening', { address: `${host}:${this.port}` });
    return this.port;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'GET' && req.method !== 'HEAD') return text(res, 405, 'read-only API: only GET\n');
    const url = new URL(req.url ?? '/', 'http://x');
    const path = url.pathname.replace(/\/+$/, '') || '/';
    if (path === '/healthz') {
      const h = this.api.healthy();
      return text(res, h.ok ? 200 : 500, h.ok ? 'ok' : `unhealthy: ${h.message}\n`);
    }
    if (path === '/pods') return json(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: this.api.pods() });
    if (path === '/metrics') return text(res, 200, this.api.metrics(), 'text/plain; version=0.0.4; charset=utf-8');
    if (path === '/stats/summary' || path === '/stats') return json(res, 200, await this.api.summary());
    if (path === '/manifestErrors') return json(res, 200, { items: this.api.manifestErrors() });
    const logs = /^\/containerLogs\/([^/]+)\/([^/]+)\/([^/]+)$/.exec(path);
    if (logs) return this.containerLogs(res, decodeURIComponent(logs[1]!), decodeURIComponent(logs[2]!), decodeURIComponent(logs[3]!), url.searchParams);
    return text(res, 404, `404 page not found: ${path}\n`);
  }

  private async containerLogs(res: ServerResponse, ns: string, podName: string, container: string, q: URLSearchParams): Promise<void> {
    const pod = this.api.pods().find((p) => p.metadata?.namespace === ns && p.metadata?.name === podName);
    if (!pod) return text(res, 404, `pod "${podName}" not found in namespace "${ns}"\n`);
    const cs = [...(pod.status?.containerStatuses ?? []), ...(pod.status?.initContainerStatuses ?? [])].find((c) => c.name === container);
    if (!cs) return text(res, 400, `container "${container}" is not valid for pod "${podName}"\n`);
    const previous = truthy(q.get('previous'));
    const id = previous ? cs.lastState?.terminated?.containerID : cs.containerID;
    if (!id) {
      const why = previous ? 'has no previous terminated instance' : `is waiting to start: ${cs.state?.waiting?.reason ?? 'unknown'}`;
      return text(res, 400, `container "${container}" in pod "${podName}" ${why}\n`);
    }
    const tail = q.get('tailLines');
    if (tail !== null && !/^\d+$/.test(tail)) return text(res, 400, `tailLines must be a non-negative integer, got ${JSON.stringify(tail)}\n`);
    const since = q.get('sinceSeconds');
    if (since !== null && !/^\d+$/.test(since)) return text(res, 400, `sinceSeconds must be a positive integer, got ${JSON.stringify(since)}\n`);
    const follow = truthy(q.get('follow'));
    const stream = await this.api.runtime.logs(id.replace(/^docker:\/\//, ''), {
      follow, tail: tail === null ? undefined : Number(tail), timestamps: truthy(q.get('timestamps')), sinceSeconds: since === null ? undefined : Number(since),
    });
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    // A follower must see the answer start before the first new line arrives.
    if (follow) res.flushHeaders();
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}
