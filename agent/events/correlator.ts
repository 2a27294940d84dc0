// Event correlation, as client-go's tools/record EventCorrelator, so that a node repeating
// itself (a probe failing every second, a crash loop) costs the apiserver a few objects and
// patches, not a flood of new Events. Pure: the clock is injected, nothing is sent from here.
// https://github.com/kubernetes/client-go/blob/master/tools/record/events_cache.go
//
// Three steps, in client-go's order:
//  1. aggregate: events alike in everything but the message (same source, object, type, reason)
//     that come with more than `aggregateMaxEvents` distinct messages within `windowMs` fold into
//     one Event whose message is prefixed "(combined from similar events): ".
//  2. dedupe: the same event (same source, object incl. fieldPath, type, reason, message) seen
//     again within `windowMs` becomes a PATCH of the existing Event (count + 1, lastTimestamp),
//     not a new object.
//  3. spam filter: a token bucket per source + involved object (client-go's defaults: burst 25,
//     one token back every 5 minutes). An event without a token is dropped; its occurrence still
//     counts, so the next patch that gets through carries the true count.
import type { V1ObjectReference } from '@kubernetes/client-node';
import type { Correlated, CoreEvent, EventSource, EventType } from './types.js';

export interface CorrelatorOptions {
  source: EventSource;
  now?: () => number;
  /** Dedupe and aggregation window (client-go: 10 minutes). */
  windowMs?: number;
  /** Distinct messages of one kind before they are combined (client-go: 10). */
  aggregateMaxEvents?: number;
  /** Spam filter: bucket size and refill interval (client-go: 25, 5 minutes). */
  burst?: number;
  refillMs?: number;
  /** Cache entries kept per map, oldest dropped first (client-go: 4096, LRU). */
  maxEntries?: number;
}

export const AGGREGATE_PREFIX = '(combined from similar events): ';

interface Seen {
  name: string;
  namespace: string;
  count: number;
  first: string;
  lastMs: number;
}
interface Similar {
  messages: Set<string>;
  lastMs: number;
}
interface Bucket {
  tokens: number;
  atMs: number;
}

/** A Map used as a small LRU: get() refreshes, set() evicts the oldest past `max`. */
class Lru<V> {
  private readonly m = new Map<string, V>();
  constructor(private readonly max: number) {}
  get(k: string): V | undefined {
    const v = this.m.get(k);
    if (v !== undefined) {
      this.m.delete(k);
      this.m.set(k, v);
    }
    return v;
  }
  set(k: string, v: V): void {
    this.m.delete(k);
    this.m.set(k, v);
    if (this.m.size > this.max) this.m.delete(this.m.keys().next().value!);
  }
  get size(): number {
    return this.m.size;
  }
  entries(): IterableIterator<[string, V]> {
    return this.m.entries();
  }
}

const objectKey = (r: V1ObjectReference) =>
  [r.kind, r.namespace ?? '', r.name, r.uid ?? '', r.apiVersion ?? ''].join('\u0000');

/** RFC 3339 at second precision, as metav1.Time serialises. */
export function rfc3339(ms: number): string {
  return new Date(Math.floor(ms / 1000) * 1000).toISOString().replace('.000Z', 'Z');
}

export class EventCorrelator {
  private readonly now: () => number;
  private readonly windowMs: number;
  private readonly aggregateMax: number;
  private readonly burst: number;
  private readonly refillMs: number;
  private readonly seen: Lru<Seen>;
  private readonly similar: Lru<Similar>;
  private readonly buckets: Lru<Bucket>;
  private lastNanos = 0n;

  constructor(private readonly o: CorrelatorOptions) {
    this.now = o.now ?? Date.now;
    this.windowMs = o.windowMs ?? 10 * 60_000;
    this.aggregateMax = o.aggregateMaxEvents ?? 10;
    this.burst = o.burst ?? 25;
    this.refillMs = o.refillMs ?? 5 * 60_000;
    const max = o.maxEntries ?? 4096;
    this.seen = new Lru(max);
    this.similar = new Lru(max);
    this.buckets = new Lru(max);
  }

  /**
   * client-go's event name: `<object name>.<unix nanoseconds in hex>`; strictly increasing here,
   * so two events in the same millisecond still get distinct names.
   */
  eventName(objectName: string, ms: number): string {
    let nanos = BigInt(Math.floor(ms)) * 1_000_000n;
    if (nanos <= this.lastNanos) nanos = this.lastNanos + 1n;
    this.lastNanos = nanos;
    return `${objectName}.${nanos.toString(16)}`;
  }

  correlate(ref: V1ObjectReference, type: EventType, reason: string, message: string): Correlated {
    const nowMs = this.now();
    const src = this.o.source;
    const ts = rfc3339(nowMs);

    // 1. aggregate by everything but the message.
    const aggKey = [src.component, src.host, objectKey(ref), type, reason].join('\u0001');
    let similar = this.similar.get(aggKey);
    if (!similar || nowMs - similar.lastMs > this.windowMs) similar = { messages: new Set(), lastMs: nowMs };
    similar.messages.add(message);
    similar.lastMs = nowMs;
    this.similar.set(aggKey, similar);
    const combined = similar.messages.size >= this.aggregateMax;
    const msg = combined ? AGGREGATE_PREFIX + message : message;
    // Once combined, the key leaves the message out: every variant counts on one Event.
    const key = combined ? aggKey : [aggKey, ref.fieldPath ?? '', message].join('\u0001');

    // 2. dedupe.
    const prev = this.seen.get(key);
    let result: Correlated;
    if (prev && nowMs - prev.lastMs <= this.windowMs) {
      prev.count++;
      prev.lastMs = nowMs;
      const event = this.build(ref, type, reason, msg, prev.name, prev.namespace, prev.first, ts, prev.count);
      result = { action: 'patch', event, patch: { count: prev.count, lastTimestamp: ts, message: msg } };
    } else {
      const namespace = ref.namespace || 'default';
      const name = this.eventName(ref.name ?? 'unknown', nowMs);
      this.seen.set(key, { name, namespace, count: 1, first: ts, lastMs: nowMs });
      result = { action: 'create', event: this.build(ref, type, reason, msg, name, namespace, ts, ts, 1) };
    }

    // 3. spam filter, per source + object.
    if (!this.take([src.component, src.host, objectKey(ref)].join('\u0001'), nowMs))
      return { action: 'skip', event: result.event, why: 'spam' };
    return result;
  }

  /** Forget an Event the apiserver does not have (a patch answered 404): the next one is created. */
  forget(event: CoreEvent): void {
    // Cheap enough: the caller only does this on the rare 404.
    for (const [k, v] of [...this.seen.entries()])
      if (v.name === event.metadata.name && v.namespace === event.metadata.namespace)
        this.seen.set(k, { ...v, lastMs: -Infinity });
  }

  private take(key: string, nowMs: number): boolean {
    let b = this.buckets.get(key);
    if (!b) b = { tokens: this.burst, atMs: nowMs };
    const refill = Math.floor((nowMs - b.atMs) / this.refillMs);
    if (refill > 0) b = { tokens: Math.min(this.burst, b.tokens + refill), atMs: b.atMs + refill * this.refillMs };
    if (b.tokens >= this.burst) b.atMs = nowMs; // a full bucket does not bank time
    const ok = b.tokens > 0;
    if (ok) b.tokens--;
    this.buckets.set(key, b);
    return ok;
  }

  private build(
    ref: V1ObjectReference,
    type: EventType,
    reason: string,
    message: string,
    name: string,
    namespace: string,
    first: string,
    last: string,
    count: number,
  ): CoreEvent {
    const { component, host } = this.o.source;
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace },
      involvedObject: ref,
      reason,
      message,
      type,
      source: { component, host },
      reportingComponent: component,
      reportingInstance: host,
      firstTimestamp: first,
      lastTimestamp: last,
      count,
    };
  }
}
