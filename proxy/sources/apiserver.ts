// The apiserver source: list and watch Services and discovery.k8s.io/v1 EndpointSlices, one
// Reflector each (reflector.ts: why not client-node's ListWatch). Services and slices labelled
// service.kubernetes.io/service-proxy-name belong to another proxy and are not ours to
// program, as upstream kube-proxy's label selector says.
import type { KubernetesObject, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { Reflector } from './reflector.js';
import type { Source, SourceHandler } from './source.js';

const LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name';
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 30_000;

export class ApiserverSource implements Source {
  private reflectors: Reflector<KubernetesObject>[] = [];
  private stopped = false;
  private wake = new Set<() => void>();

  constructor(
    private readonly kubeconfigPath: string,
    private readonly log: Logger,
  ) {}

  async start(h: SourceHandler): Promise<void> {
    // Loaded only in this mode: the client is large and the standalone mode does not need it.
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    const watch = new k8s.Watch(kc);
    const services = new Reflector<V1Service>(kc, watch, '/api/v1/services', LABEL_SELECTOR, {
      updated: (o) => h.serviceUpdated(o),
      deleted: (o) => h.serviceDeleted(o),
    });
    const slices = new Reflector<V1EndpointSlice>(
      kc,
      watch,
      '/apis/discovery.k8s.io/v1/endpointslices',
      LABEL_SELECTOR,
      {
        updated: (o) => h.endpointSliceUpdated(o),
        deleted: (o) => h.endpointSliceDeleted(o),
      },
    );
    this.reflectors = [services, slices];
    // start() resolves once both initial lists have been delivered; the loops go on after.
    await Promise.all([this.keepRunning(services, 'Services'), this.keepRunning(slices, 'EndpointSlices')]);
    if (this.stopped) return;
    h.synced();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const r of this.reflectors) r.stop();
    for (const w of this.wake) w();
  }

  /**
   * Runs a reflector for as long as the proxy runs, and resolves after its first list. A failed
   * list or a broken watch (apiserver away, RBAC) is retried with back-off from 1 s to 30 s;
   * rules stay as they are meanwhile. Until the first list succeeds the proxy must not sync: an
   * empty picture would remove every Service's rules.
   */
  private keepRunning(r: Reflector<KubernetesObject>, what: string): Promise<void> {
    return new Promise<void>((firstListed) => {
      void (async () => {
        let delay = FIRST_RETRY_MS;
        while (!this.stopped) {
          const began = Date.now();
          try {
            await r.run(firstListed);
            delay = FIRST_RETRY_MS; // the apiserver ended the watch (its timeout): resume at once
            continue;
          } catch (err) {
            if (this.stopped) break;
            // A watch that ran for a while before it broke starts the back-off over.
            if (Date.now() - began > MAX_RETRY_MS) delay = FIRST_RETRY_MS;
            const message = r.listed ? 'watch failed; restarting' : 'list failed; retrying';
            this.log.warn(message, { resource: what, error: describe(err), retryInMs: delay });
          }
          await this.sleep(delay);
          delay = Math.min(delay * 2, MAX_RETRY_MS);
        }
        firstListed();
      })();
    });
  }

  /** A wait that stop() cuts short. */
  private sleep(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.wake.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wake.add(done);
    });
  }
}

/** An API error as a person needs it: the HTTP code and the apiserver's message (e.g. RBAC). */
function describe(err: unknown): string {
  const e = err as { code?: number; statusCode?: number; body?: unknown; message?: string };
  let body = typeof e?.body === 'string' ? e.body : '';
  try {
    const parsed = JSON.parse(body) as { message?: string };
    if (parsed.message) body = parsed.message;
  } catch {
    /* not JSON */
  }
  const code = e?.code ?? e?.statusCode;
  return [code ? `HTTP ${code}` : '', body || e?.message || String(err)].filter(Boolean).join(': ').slice(0, 500);
}
