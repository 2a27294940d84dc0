// Writes correlated Events to the apiserver with the node's credentials, off the pod workers'
// path: record() only enqueues; one loop sends, in order (a create before the patches of the same
// Event). When the apiserver is away an event is retried as client-go's recordToSink (v1.34) does
// for kubelet: up to 12 tries, the first retry after a random part of 10 s (so that nodes do not
// all come back at once), then every 10 s; the events behind it wait in the queue. So an outage of
// up to ~100 s loses no event: they are all delivered once the apiserver is back. After that the
// event is dropped and counted: events are best-effort, pods must never wait for them and memory
// must stay bounded (maxQueue, client-go's 1000).
// Loaded only with --kubeconfig (it imports @kubernetes/client-node at run time).
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { apiErrorMessage, httpStatus, requestOptions } from '../kube/client.js';
import type { EventOutcome, EventSink, SinkItem } from './types.js';

export interface ApiEventSinkOptions {
  core: CoreV1Api;
  logger: Logger;
  /** Events waiting beyond this are dropped (default 1000). */
  maxQueue?: number;
  /** Tries per event when the apiserver cannot be reached or answers 5xx/429 (client-go's 12). */
  attempts?: number;
  /** Pause between tries; the first one is a random part of it (client-go's 10 s). */
  sleepMs?: number;
  requestTimeoutMs?: number;
  count?: (outcome: EventOutcome) => void;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done);
  });
}

/** Worth trying again: the apiserver away (no HTTP status), overloaded (429) or failing (5xx).
 * client-go's recordEvent gives up on any status answer, but its REST client has already retried
 * 429s and 5xx answers that carry Retry-After (as an apiserver still starting sends them). */
function retriable(err: unknown): boolean {
  const s = httpStatus(err);
  return s === undefined || s === 429 || s >= 500;
}

export class ApiEventSink implements EventSink {
  private readonly queue: SinkItem[] = [];
  private draining?: Promise<void>;
  private stopped = false;
  private readonly abort = new AbortController();
  private readonly log: Logger;
  sent = 0;
  dropped = 0;

  constructor(private readonly o: ApiEventSinkOptions) {
    this.log = o.logger.with({ component: 'events' });
  }

  get pending(): number {
    return this.queue.length;
  }

  enqueue(item: SinkItem): void {
    if (this.stopped) {
      this.drop(item, 'the agent is stopping');
      return;
    }
    if (this.queue.length >= (this.o.maxQueue ?? 1000)) {
      this.drop(item, 'the event queue is full');
      return;
    }
    this.queue.push(item);
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
  }

  async stop(timeoutMs = 2000): Promise<void> {
    this.stopped = true;
    const timer = new AbortController();
    await Promise.race([this.draining, sleep(timeoutMs, timer.signal)]);
    timer.abort();
    // No more retries; a request still in flight ends by itself (its own timeout) and is not waited for.
    this.abort.abort();
    for (const item of this.queue.splice(0)) this.drop(item, 'the agent stopped');
  }

  private async drain(): Promise<void> {
    while (this.queue.length && !this.abort.signal.aborted) await this.send(this.queue.shift()!);
  }

  private async send(item: SinkItem): Promise<void> {
    const attempts = this.o.attempts ?? 12;
    const pause = this.o.sleepMs ?? 10_000;
    for (let i = 1; ; i++) {
      try {
        await this.write(item);
        this.sent++;
        this.o.count?.('sent');
        return;
      } catch (err) {
        if (!retriable(err) || i >= attempts || this.abort.signal.aborted) return this.drop(item, apiErrorMessage(err));
        await sleep(i === 1 ? Math.random() * pause : pause, this.abort.signal);
      }
    }
  }

  private async write(item: SinkItem): Promise<void> {
    const { namespace, name } = item.event.metadata;
    const timeoutMs = this.o.requestTimeoutMs ?? 10_000;
    if (item.action === 'patch') {
      try {
        // kubelet's (client-go's) update of a repeated event: a strategic merge patch of these three fields.
        await this.o.core.patchNamespacedEvent(
          { name, namespace, body: item.patch },
          requestOptions({ timeoutMs, patch: 'StrategicMergePatch' }),
        );
        return;
      } catch (err) {
        // Gone (Events expire after the apiserver's --event-ttl, or its create was dropped):
        // create it again, with the count so far.
        if (httpStatus(err) !== 404) throw err;
      }
    }
    try {
      await this.o.core.createNamespacedEvent(
        { namespace, body: item.event as unknown as CoreV1Event },
        requestOptions({ timeoutMs }),
      );
    } catch (err) {
      // A retry of a create whose answer was lost: it is there.
      if (httpStatus(err) !== 409) throw err;
    }
  }

  private drop(item: SinkItem, why: string): void {
    this.dropped++;
    this.o.count?.('dropped');
    // The first drop and then every 100th: a long apiserver outage must not flood the log either.
    if (this.dropped === 1 || this.dropped % 100 === 0) {
      this.log.warn('event dropped', {
        reason: item.event.reason,
        object: `${item.event.involvedObject.kind} ${item.event.metadata.namespace}/${item.event.involvedObject.name}`,
        why,
        droppedTotal: this.dropped,
      });
    }
  }
}
