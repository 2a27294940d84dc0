// The agent's EventRecorder: every event goes to the JSON log (info for Normal, warn for Warning),
// and, when the agent has an apiserver, through the correlator to a sink that writes it there.
// Callers never wait: correlation is a few map look-ups, the sink only enqueues.
import type { V1ObjectReference } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { EventCorrelator } from './correlator.js';
import type { EventOutcome, EventRecorder, EventSink, EventSource, EventType } from './types.js';
import { errorMessage } from '../../lib/errors.js';

/**
 * source.component is "kubelet", not "kubenode": kubectl, dashboards and alerting rules select
 * node events with `source=kubelet` / reportingComponent=kubelet, and kubenode plays that role.
 * source.host is the node name, as kubelet's.
 */
export const EVENT_COMPONENT = 'kubelet';

/** Longer messages (an HTTP probe's whole body...) are cut: an Event is for people to read. */
export const MAX_MESSAGE = 1024;

// The sink's side of the contract lives in types.ts, beside the events it carries.

export interface RecorderOptions {
  nodeName: string;
  logger: Logger;
  /** Without a sink events are only logged (the standalone agent). */
  sink?: EventSink;
  correlator?: EventCorrelator;
  /** Counts for a metric. */
  count?: (outcome: EventOutcome) => void;
  now?: () => number;
}

/** Remembers when each key was last let through (bounded: the oldest half is dropped past 4096). */
export class RepeatFilter {
  private readonly last = new Map<string, number>();
  allow(key: string, nowMs: number, minIntervalMs: number): boolean {
    const at = this.last.get(key);
    if (at !== undefined && nowMs - at < minIntervalMs) return false;
    this.last.delete(key);
    this.last.set(key, nowMs);
    if (this.last.size > 4096) for (const k of [...this.last.keys()].slice(0, 2048)) this.last.delete(k);
    return true;
  }
}

export function truncateMessage(message: string): string {
  return message.length <= MAX_MESSAGE ? message : `${message.slice(0, MAX_MESSAGE - 3)}...`;
}

export class Recorder implements EventRecorder {
  private readonly correlator?: EventCorrelator;
  private readonly log: Logger;
  private readonly repeats = new RepeatFilter();
  private readonly now: () => number;

  constructor(private readonly o: RecorderOptions) {
    this.log = o.logger.with({ component: 'events' });
    this.now = o.now ?? Date.now;
    const source: EventSource = { component: EVENT_COMPONENT, host: o.nodeName };
    if (o.sink) this.correlator = o.correlator ?? new EventCorrelator({ source });
  }

  event(
    ref: V1ObjectReference,
    type: EventType,
    reason: string,
    message: string,
    opts: { repeatAfterMs?: number } = {},
  ): void {
    try {
      const msg = truncateMessage(message);
      if (
        opts.repeatAfterMs &&
        !this.repeats.allow(
          [ref.uid, ref.name, ref.fieldPath, type, reason, msg].join('\u0001'),
          this.now(),
          opts.repeatAfterMs,
        )
      )
        return;
      const object = `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
      this.log[type === 'Warning' ? 'warn' : 'info']('event', {
        object,
        fieldPath: ref.fieldPath,
        type,
        reason,
        message: msg,
      });
      if (!this.o.sink || !this.correlator) return;
      const c = this.correlator.correlate(ref, type, reason, msg);
      if (c.action === 'skip') {
        this.o.count?.('spam');
        this.log.debug('event not sent: too many for this object (spam filter)', { object, reason });
        return;
      }
      this.o.count?.('queued');
      this.o.sink.enqueue(c);
    } catch (e) {
      // Recording must never take down the caller.
      this.log.error('cannot record event', { reason, error: errorMessage(e) });
    }
  }

  stop(timeoutMs = 2000): Promise<void> {
    return this.o.sink?.stop(timeoutMs) ?? Promise.resolve();
  }
}

/**
 * The agent's recorder: log-only without a kubeconfig; with one, also the apiserver sink (whose
 * code, and @kubernetes/client-node with it, is imported only then).
 */
export async function createEventRecorder(o: {
  nodeName: string;
  logger: Logger;
  kubeconfig?: string;
  count?: (outcome: EventOutcome) => void;
}): Promise<Recorder> {
  if (!o.kubeconfig) return new Recorder({ nodeName: o.nodeName, logger: o.logger, count: o.count });
  const [{ apiClients }, { ApiEventSink }] = await Promise.all([import('../kube/client.js'), import('./api-sink.js')]);
  const sink = new ApiEventSink({ core: apiClients(o.kubeconfig).core, logger: o.logger, count: o.count });
  return new Recorder({ nodeName: o.nodeName, logger: o.logger, sink, count: o.count });
}
