// A client-node ListWatch that keeps going. The ListWatch keeps the cache, relists on 410 Gone and
// resumes watches, but gives up on any other error (apiserver away, connection reset); this
// restarts it after a back-off capped at 7 s, as the node Lease retries, so a watch resumes soon
// after the apiserver is back. Shared by the apiserver pod source and the Service cache.
import { ListWatch, Watch, type KubeConfig, type KubernetesObject, type ListPromise } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { ApiRetryBackoff } from './backoff.js';
import { apiErrorMessage } from './client.js';

export interface ReconnectingListWatchOptions<T extends KubernetesObject> {
  kubeConfig: KubeConfig;
  /** The collection, e.g. /api/v1/pods. */
  path: string;
  list: ListPromise<T>;
  fieldSelector?: string;
  logger: Logger;
  /** What the warning names when the watch fails, e.g. "pod watch". */
  what: string;
  /** Appended to the warning (e.g. that running pods keep running). */
  note?: string;
}

export class ReconnectingListWatch<T extends KubernetesObject> {
  readonly informer: ListWatch<T>;
  private readonly backoff = new ApiRetryBackoff(500, 7000);
  private retry?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: ReconnectingListWatchOptions<T>) {
    this.informer = new ListWatch<T>(o.path, new Watch(o.kubeConfig), o.list, false, undefined, o.fieldSelector);
    this.informer.on('error', (err: unknown) => this.reconnect(err));
  }

  /** Not awaited by callers: the first list may take as long as the apiserver is away. */
  start(): void {
    void this.run();
  }

  /** A list or an event arrived: the next failure starts the back-off from its beginning. */
  resetBackoff(): void {
    this.backoff.reset();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retry) clearTimeout(this.retry);
    await this.informer.stop();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    try {
      await this.informer.start(); // list failures and watch ends come back through 'error'
    } catch (err) {
      this.reconnect(err);
    }
  }

  private reconnect(err: unknown): void {
    if (this.stopped || this.retry) return;
    const delay = this.backoff.next();
    this.o.logger.warn(`${this.o.what} failed; reconnecting${this.o.note ? ` (${this.o.note})` : ''}`, {
      error: apiErrorMessage(err),
      retryInMs: delay,
    });
    this.retry = setTimeout(() => {
      this.retry = undefined;
      void this.run();
    }, delay);
    this.retry.unref();
  }
}
