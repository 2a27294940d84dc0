// The apiserver source: list and watch Services and discovery.k8s.io/v1 EndpointSlices with
// @kubernetes/client-node informers (ListWatch relists on 410 Gone by itself). Services and
// slices labelled service.kubernetes.io/service-proxy-name belong to another proxy and are not
// ours to program, as upstream kube-proxy's label selector says.
import type { KubernetesObject, V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { Source, SourceHandler } from './source.js';

const LABEL_SELECTOR = '!service.kubernetes.io/service-proxy-name';

interface InformerLike<T> {
  latestResourceVersion?(): string;
  on(verb: 'add' | 'update' | 'delete', cb: (obj: T) => void): void;
  on(verb: 'error' | 'connect', cb: (err?: unknown) => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export class ApiserverSource implements Source {
  private informers: InformerLike<KubernetesObject>[] = [];
  private stopped = false;
  private timers = new Set<NodeJS.Timeout>();

  constructor(
    private readonly kubeconfigPath: string,
    private readonly log: Logger,
  ) {}

  async start(h: SourceHandler): Promise<void> {
    // Loaded only in this mode: the client is large and the standalone mode does not need it.
    const k8s = await import('@kubernetes/client-node');
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.kubeconfigPath);
    const core = kc.makeApiClient(k8s.CoreV1Api);
    const discovery = kc.makeApiClient(k8s.DiscoveryV1Api);

    const watch = new k8s.Watch(kc);
    // ListWatch is what makeInformer builds; made directly (autoStart false) so that start()
    // is ours to call and the resource version tells whether the first list succeeded.
    const services = new k8s.ListWatch<V1Service>(
      '/api/v1/services',
      watch,
      () => core.listServiceForAllNamespaces({ labelSelector: LABEL_SELECTOR }),
      false,
      LABEL_SELECTOR,
    );
    services.on('add', (o) => h.serviceUpdated(o));
    services.on('update', (o) => h.serviceUpdated(o));
    services.on('delete', (o) => h.serviceDeleted(o));
    const slices = new k8s.ListWatch<V1EndpointSlice>(
      '/apis/discovery.k8s.io/v1/endpointslices',
      watch,
      () => discovery.listEndpointSliceForAllNamespaces({ labelSelector: LABEL_SELECTOR }),
      false,
      LABEL_SELECTOR,
    );
    slices.on('add', (o) => h.endpointSliceUpdated(o));
    slices.on('update', (o) => h.endpointSliceUpdated(o));
    slices.on('delete', (o) => h.endpointSliceDeleted(o));
    this.informers = [services as InformerLike<KubernetesObject>, slices as InformerLike<KubernetesObject>];

    // An informer stops on an error (apiserver away, watch broken): restart it with back-off.
    // Rules stay as they are meanwhile.
    const listed = new Set<string>();
    const lastError = new Map<string, string>();
    for (const [inf, what] of [
      [services, 'Services'],
      [slices, 'EndpointSlices'],
    ] as const) {
      let delay = 1000;
      (inf as InformerLike<KubernetesObject>).on('connect', () => {
        delay = 1000;
      });
      (inf as InformerLike<KubernetesObject>).on('error', (err) => {
        lastError.set(what, describe(err));
        // Before the first successful list, startWithRetry below owns the retries.
        if (this.stopped || !listed.has(what)) return;
        this.log.warn('watch failed; restarting', { resource: what, error: describe(err), retryInMs: delay });
        const t = setTimeout(() => {
          this.timers.delete(t);
          if (!this.stopped) inf.start().catch(() => {});
        }, delay);
        this.timers.add(t);
        delay = Math.min(delay * 2, 30_000);
      });
    }
    // start() resolves once the initial list has been delivered.
    await Promise.all([
      startWithRetry(
        services,
        'Services',
        this.log,
        () => this.stopped,
        () => lastError.get('Services'),
      ).then(() => listed.add('Services')),
      startWithRetry(
        slices,
        'EndpointSlices',
        this.log,
        () => this.stopped,
        () => lastError.get('EndpointSlices'),
      ).then(() => listed.add('EndpointSlices')),
    ]);
    if (this.stopped) return;
    h.synced();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearTimeout(t);
    await Promise.all(this.informers.map((i) => i.stop().catch(() => {})));
  }
}

/**
 * Start an informer and wait until its first list succeeded (ListWatch reports a failed list to
 * its error callbacks and resolves anyway; a resource version is only set by a successful one).
 * Until then the proxy must not sync: an empty picture would remove every Service's rules.
 */
async function startWithRetry(
  inf: { start(): Promise<void>; latestResourceVersion(): string },
  what: string,
  log: Logger,
  stopped: () => boolean,
  lastError: () => string | undefined,
): Promise<void> {
  for (let delay = 1000; !stopped(); delay = Math.min(delay * 2, 30_000)) {
    const error = await inf.start().then(
      () => undefined,
      (e: unknown) => describe(e),
    );
    if (!error && inf.latestResourceVersion() !== '') return;
    log.warn('initial list failed; retrying', {
      resource: what,
      error: error ?? lastError() ?? 'list failed',
      retryInMs: delay,
    });
    await new Promise((r) => setTimeout(r, delay));
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
