// One resource's list and watch for the proxy (upstream: client-go's tools/cache Reflector with
// its pager). It lists in pages of 500, as client-go's pager does, handing each page's objects
// on before the next is read, then watches from the list's resourceVersion with bookmarks; a
// 410 Gone (the version is older than etcd keeps) means list again, and whatever vanished
// between two lists is reported deleted.
//
// Why not client-node's ListWatch, which the proxy used before: it keeps every object it saw in
// a cache of its own, and its list call turns each object into typed model classes. The proxy's
// change tracker already keeps what it needs of each Service and EndpointSlice, so at 10,000
// Services that cache was a second copy of 20,000 full objects (managedFields included) and the
// typed conversion a large part of the cold start. This keeps only each object's namespace and
// name, which is all a relist needs to find deletions.
import { request } from 'node:https';
import { type ClientRequest, request as httpRequest } from 'node:http';
// Types only: the client is loaded by whoever makes a reflector (apiserver.ts, in apiserver mode
// only), so that the --services-dir mode never loads it (it takes seconds under emulation).
import type { KubeConfig, KubernetesObject, Watch } from '@kubernetes/client-node';

/** Where the objects go; `deleted` gets at least metadata.name and metadata.namespace. */
export interface ReflectorHandler<T extends KubernetesObject> {
  updated(obj: T): void;
  deleted(obj: T): void;
}

/** An apiserver answer other than 200, with its status code as ListWatch's errors carry it. */
export class ApiStatusError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
  }
}

const PAGE_SIZE = 500;

export class Reflector<T extends KubernetesObject> {
  /** namespace/name of every object the handler has been given and not seen deleted. */
  private readonly known = new Set<string>();
  private resourceVersion = '';
  private abort: AbortController | undefined;
  private listRequest: ClientRequest | undefined;
  private stopped = false;

  constructor(
    private readonly kc: KubeConfig,
    /** client-node's Watch on the same kubeconfig: the watch stream. */
    private readonly watcher: Watch,
    /** The collection, e.g. /api/v1/services. */
    private readonly path: string,
    private readonly labelSelector: string,
    private readonly handler: ReflectorHandler<T>,
    private readonly pageSize = PAGE_SIZE,
  ) {}

  /** Whether a list has completed (the handler has seen the whole collection once). */
  get listed(): boolean {
    return this.resourceVersion !== '';
  }

  /**
   * Lists (when there is no resourceVersion to resume from) and watches until the watch ends.
   * Resolves when the apiserver closed the watch normally (call again to resume), rejects on
   * an error (the caller backs off and calls again); `onListed` runs after each list.
   */
  async run(onListed: () => void): Promise<void> {
    if (!this.resourceVersion) {
      await this.list();
      onListed();
    }
    if (this.stopped) return;
    await this.watch();
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
    this.listRequest?.destroy(new Error('stopped'));
  }

  private async list(): Promise<void> {
    const seen = new Set<string>();
    let cont = '';
    let rv = '';
    do {
      const q = new URLSearchParams({ labelSelector: this.labelSelector, limit: String(this.pageSize) });
      if (cont) q.set('continue', cont);
      let page: { metadata?: { resourceVersion?: string; continue?: string }; items?: T[] };
      try {
        page = JSON.parse(await this.get(`${this.path}?${q}`));
      } catch (err) {
        // The continue token expired (410) mid-way: start the list over, as client-go's pager
        // falls back to a full list. Objects already handed on are simply handed on again.
        if (cont && err instanceof ApiStatusError && err.statusCode === 410) {
          cont = '';
          continue;
        }
        throw err;
      }
      for (const obj of page.items ?? []) {
        const key = objectKey(obj);
        seen.add(key);
        this.known.add(key);
        this.handler.updated(obj);
      }
      rv = page.metadata?.resourceVersion ?? '';
      cont = page.metadata?.continue ?? '';
    } while (cont && !this.stopped);
    // Stopped mid-way: what was not listed is unknown, not deleted.
    if (this.stopped) return;
    for (const key of [...this.known]) {
      if (seen.has(key)) continue;
      this.known.delete(key);
      this.handler.deleted(stub<T>(key));
    }
    this.resourceVersion = rv;
  }

  private watch(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const query = {
        resourceVersion: this.resourceVersion,
        labelSelector: this.labelSelector,
        allowWatchBookmarks: true,
      };
      const onEvent = (type: string, obj: T & { code?: number }) => {
        switch (type) {
          case 'ADDED':
          case 'MODIFIED':
            this.known.add(objectKey(obj));
            this.handler.updated(obj);
            break;
          case 'DELETED':
            this.known.delete(objectKey(obj));
            this.handler.deleted(obj);
            break;
          case 'ERROR':
            // A Status object; 410: our version is too old to resume from, list again.
            if (obj.code === 410) this.resourceVersion = '';
            return;
        }
        // BOOKMARK carries only a newer resourceVersion to resume from.
        if (obj.metadata?.resourceVersion) this.resourceVersion = obj.metadata.resourceVersion;
      };
      const done = (err: unknown) => {
        this.abort = undefined;
        const status = (err as { statusCode?: number } | null)?.statusCode;
        if (status === 410) this.resourceVersion = '';
        if (!err || status === 410 || this.stopped) resolve();
        else reject(err);
      };
      this.watcher.watch(this.path, query, onEvent, done).then((controller) => {
        this.abort = controller;
        if (this.stopped) controller.abort();
      }, reject);
    });
  }

  /** One GET with the kubeconfig's credentials; the body as text, or an ApiStatusError. */
  private async get(pathAndQuery: string): Promise<string> {
    const cluster = this.kc.getCurrentCluster();
    if (!cluster) throw new Error('the kubeconfig has no current cluster');
    const url = new URL(cluster.server + pathAndQuery);
    const opts: import('node:https').RequestOptions = { method: 'GET', headers: { Accept: 'application/json' } };
    await this.kc.applyToHTTPSOptions(opts);
    const send = url.protocol === 'http:' ? httpRequest : request;
    return new Promise<string>((resolve, reject) => {
      const req = send(url, { ...opts, timeout: 60_000 }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode === 200) return resolve(body);
          reject(
            new ApiStatusError(
              res.statusCode ?? 0,
              `GET ${url.pathname}: HTTP ${res.statusCode}: ${statusMessage(body)}`,
            ),
          );
        });
      });
      this.listRequest = req;
      req.on('close', () => {
        if (this.listRequest === req) this.listRequest = undefined;
      });
      req.on('timeout', () => req.destroy(new Error(`GET ${url.pathname}: no answer in 60 s`)));
      req.on('error', reject);
      req.end();
    });
  }
}

function objectKey(obj: KubernetesObject): string {
  return `${obj.metadata?.namespace ?? ''}/${obj.metadata?.name ?? ''}`;
}

function stub<T extends KubernetesObject>(key: string): T {
  const slash = key.indexOf('/');
  return { metadata: { namespace: key.slice(0, slash) || undefined, name: key.slice(slash + 1) } } as T;
}

/** The apiserver's Status message when the body is one (e.g. RBAC's "forbidden: ..."). */
function statusMessage(body: string): string {
  try {
    const s = JSON.parse(body) as { message?: string };
    if (s.message) return s.message;
  } catch {
    /* not JSON */
  }
  return body.slice(0, 300);
}
