// The manifest server (--manifest-server-address): tools push pods to this node with
//   POST   /pods                    create (409 if it exists)
//   PUT    /pods[/{ns}/{name}]      create or replace
//   DELETE /pods/{ns}/{name}        remove (the name as sent, or with the node suffix)
//   GET    /pods                    the pods pushed so far
// Pods are treated like other static pods (name suffixed with the node name, UID from content
// unless given). On loopback no token is needed unless one is configured; on any other address a
// bearer token file is required and every request must carry "Authorization: Bearer <token>".
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { timingSafeEqual } from 'node:crypto';
import { isLoopbackAddress } from '../../lib/ip.js';
import { mkdir, readdir, readFile, rm, writeFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { readManifests } from './manifest.js';
import { staticPodName } from './static-pod.js';
import type { PodSource, SourceUpdate } from './types.js';
import { errorMessage } from '../../lib/errors.js';

export interface ManifestServerOptions {
  host: string;
  port: number;
  token?: string;
  nodeName: string;
  logger: Logger;
  maxBodyBytes?: number;
  /** Pushed pods are kept here (one JSON file each) so they survive an agent restart. */
  stateDir?: string;
}

/**
 * Does binding to `host` keep the server on this machine? Only address literals count (and
 * "localhost"): a DNS name such as 127.example.org may resolve anywhere.
 */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  return isLoopbackAddress(host);
}

export class ManifestServer implements PodSource {
  readonly name = 'server' as const;
  private server?: Server;
  private emit?: (u: SourceUpdate) => void;
  private pods = new Map<string, V1Pod>(); // by namespace/name (the suffixed name)
  port = 0;

  constructor(private readonly opts: ManifestServerOptions) {
    if (!isLoopback(opts.host) && !opts.token)
      throw new Error(
        `--manifest-server-address ${opts.host} is not a loopback address: --manifest-server-token-file is required`,
      );
  }

  async start(emit: (u: SourceUpdate) => void): Promise<void> {
    this.emit = emit;
    await this.load();
    // What was pushed before a restart is this source's complete answer: it is ready at once.
    emit({ source: 'server', op: 'snapshot', pods: [...this.pods.values()], errors: [] });
    this.server = createServer(
      (req, res) =>
        void this.handle(req, res).catch((e) =>
          send(res, 500, { kind: 'Status', status: 'Failure', message: errorMessage(e) }),
        ),
    );
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', reject);
      this.server!.listen(this.opts.port, this.opts.host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    this.opts.logger.info('manifest server listening', {
      address: `${this.opts.host}:${this.port}`,
      auth: this.opts.token ? 'bearer token' : 'none (loopback)',
    });
  }

  private async load(): Promise<void> {
    const dir = this.opts.stateDir;
    if (!dir) return;
    await mkdir(dir, { recursive: true });
    for (const f of (await readdir(dir)).filter((n) => n.endsWith('.json'))) {
      try {
        const pod = JSON.parse(await readFile(join(dir, f), 'utf8')) as V1Pod;
        this.pods.set(`${pod.metadata!.namespace}/${pod.metadata!.name}`, pod);
      } catch (e) {
        this.opts.logger.warn('ignoring unreadable pushed pod', { file: join(dir, f), error: e as Error });
      }
    }
  }

  private async persist(pod: V1Pod, present: boolean): Promise<void> {
    const dir = this.opts.stateDir;
    if (!dir) return;
    const file = join(dir, `${pod.metadata!.namespace}_${pod.metadata!.name}.json`);
    if (!present) return rm(file, { force: true });
    await writeFile(file + '.tmp', JSON.stringify(pod));
    await rename(file + '.tmp', file);
  }

  private authorized(req: IncomingMessage): boolean {
    if (!this.opts.token) return true;
    const m = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '');
    if (!m) return false;
    const a = Buffer.from(m[1]!.trim());
    const b = Buffer.from(this.opts.token);
    return a.length === b.length && timingSafeEqual(a, b);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorized(req)) return send(res, 401, status(401, 'Unauthorized', 'a valid bearer token is required'));
    const url = new URL(req.url ?? '/', 'http://x');
    const parts = url.pathname.split('/').filter(Boolean);
    if (parts[0] !== 'pods' || parts.length > 3 || parts.length === 2)
      return send(res, 404, status(404, 'NotFound', `no route ${req.method} ${url.pathname}`));
    if (req.method === 'GET' && parts.length === 1)
      return send(res, 200, { kind: 'PodList', apiVersion: 'v1', metadata: {}, items: [...this.pods.values()] });
    if (req.method === 'DELETE' && parts.length === 3) {
      const [, ns, name] = parts as [string, string, string];
      const key = this.pods.has(`${ns}/${name}`) ? `${ns}/${name}` : `${ns}/${staticPodName(name, this.opts.nodeName)}`;
      const pod = this.pods.get(key);
      if (!pod) return send(res, 404, status(404, 'NotFound', `pods "${name}" not found in namespace "${ns}"`));
      this.pods.delete(key);
      await this.persist(pod, false);
      this.emit?.({ source: 'server', op: 'remove', pods: [pod] });
      return send(res, 200, pod);
    }
    if (
      (req.method === 'POST' && parts.length === 1) ||
      (req.method === 'PUT' && (parts.length === 1 || parts.length === 3))
    ) {
      const body = await readBody(req, this.opts.maxBodyBytes ?? 1 << 20);
      const origin = `${req.method} ${url.pathname}`;
      const { pods, errors } = readManifests(body, { source: 'server', origin, nodeName: this.opts.nodeName });
      if (errors.length) {
        this.emit?.({ source: 'server', op: 'add', pods: [], errors });
        return send(res, 422, {
          ...status(422, 'Invalid', errors.map((e) => `${e.object}: ${e.field}: ${e.reason}`).join('; ')),
          details: { causes: errors.map((e) => ({ field: e.field, message: e.reason })) },
        });
      }
      if (pods.length !== 1)
        return send(res, 400, status(400, 'BadRequest', `expected exactly one Pod, got ${pods.length}`));
      const pod = pods[0]!;
      const key = `${pod.metadata!.namespace}/${pod.metadata!.name}`;
      if (parts.length === 3) {
        const want = `${parts[1]}/${staticPodName(parts[2]!, this.opts.nodeName)}`;
        if (want !== key)
          return send(
            res,
            400,
            status(400, 'BadRequest', `the pod in the body (${key}) does not match the URL (${want})`),
          );
      }
      const existing = this.pods.get(key);
      if (existing && req.method === 'POST')
        return send(res, 409, status(409, 'AlreadyExists', `pods "${pod.metadata!.name}" already exists`));
      this.pods.set(key, pod);
      await this.persist(pod, true);
      // A replaced pod with a new content hash is a new UID: the old one is removed.
      if (existing && existing.metadata!.uid !== pod.metadata!.uid)
        this.emit?.({ source: 'server', op: 'remove', pods: [existing] });
      this.emit?.({ source: 'server', op: existing ? 'update' : 'add', pods: [pod] });
      return send(res, existing ? 200 : 201, pod);
    }
    return send(res, 405, status(405, 'MethodNotAllowed', `${req.method} is not allowed on ${url.pathname}`));
  }

  async stop(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}

function status(code: number, reason: string, message: string) {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message };
}

function send(res: ServerResponse, code: number, body: unknown): void {
  res.writeHead(code, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body) + '\n');
}

function readBody(req: IncomingMessage, max: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > max) {
        reject(new Error(`body larger than ${max} bytes`));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
