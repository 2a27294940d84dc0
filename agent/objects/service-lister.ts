// Services for the environment variables of pods (pods/service-env.ts), as kubelet's
// serviceLister: one list+watch of every Service (the Node authorizer lets a node list and watch
// them), kept as a cache that container starts read without asking the apiserver. client-node's
// ListWatch keeps the cache, relists on 410 Gone and resumes watches; this adds reconnection
// with back-off (it gives up on any other error), as the apiserver pod source does.
//
// `hasSynced()` is false until the first list succeeded: kubelet refuses to build the environment
// of an apiserver pod before that (so KUBERNETES_SERVICE_HOST is never silently missing after a
// restart), and so does the agent (pods/containers.ts).
import { CoreV1Api, ListWatch, Watch, type KubeConfig, type V1Service, type V1ServiceList } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { Backoff } from '../node/backoff.js';
import { apiErrorMessage, requestOptions } from '../node/client.js';
import type { ServiceLister } from './types.js';

export class ApiServiceLister implements ServiceLister {
  private informer?: ListWatch<V1Service>;
  private synced = false;
  private stopped = false;
  private retry?: NodeJS.Timeout;
  private readonly backoff = new Backoff(500, 7000);

  constructor(private readonly o: { kubeConfig: KubeConfig; logger: Logger }) {}

  start(): void {
    const core = this.o.kubeConfig.makeApiClient(CoreV1Api);
    const list = async (): Promise<V1ServiceList> => {
      const l = await core.listServiceForAllNamespaces({}, requestOptions({ timeoutMs: 30_000 }));
      if (!this.synced) this.o.logger.info('listed services; watching', { services: l.items.length });
      this.synced = true;
      this.backoff.reset();
      return l;
    };
    this.informer = new ListWatch<V1Service>('/api/v1/services', new Watch(this.o.kubeConfig), list, false);
    this.informer.on('error', (err: unknown) => this.reconnect(err));
    void this.run();
  }

  hasSynced(): boolean {
    return this.synced;
  }

  list(): V1Service[] {
    return [...(this.informer?.list() ?? [])];
  }

  private async run(): Promise<void> {
    if (this.stopped || !this.informer) return;
    try {
      await this.informer.start(); // list failures and watch ends come back through 'error'
    } catch (err) {
      this.reconnect(err);
    }
  }

  private reconnect(err: unknown): void {
    if (this.stopped || this.retry) return;
    const delay = this.backoff.next();
    this.o.logger.warn('service watch failed; reconnecting', { error: apiErrorMessage(err), retryInMs: delay });
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.run();
    }, delay);
    this.retry.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.informer?.stop();
  }
}
