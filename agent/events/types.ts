// What the agent records about the objects it acts on, as kubelet's EventRecorder: an Event is
// (object, type, reason, message). Reasons are kubelet's own words (reasons.ts), because
// `kubectl describe`, `kubectl get events --field-selector reason=BackOff` and alerting rules look
// for exactly those. Pure: no apiserver here (the sink is api-sink.ts, loaded only with a kubeconfig).
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/events/event.go
import type { V1ObjectReference, V1Pod } from '@kubernetes/client-node';

export type EventType = 'Normal' | 'Warning';

export interface EventRecorder {
  /**
   * Never blocks and never throws: recording is best effort, the caller's work goes on.
   * `repeatAfterMs`: the same event again sooner than this is not recorded at all. For failures
   * our pod worker retries faster than kubelet's (2 s against its ~10 s back-off), so that a
   * retry loop shows as a slowly growing count, not a burst that uses up the spam filter's tokens.
   */
  event(
    ref: V1ObjectReference,
    type: EventType,
    reason: string,
    message: string,
    opts?: { repeatAfterMs?: number },
  ): void;
}

/** A recorder that drops everything (tests, and code paths that have none yet). */
export const noopRecorder: EventRecorder = { event: () => {} };

/**
 * The reference to a pod, or to one of its containers: kubelet points container events at the
 * pod with fieldPath `spec.containers{name}` (or `spec.initContainers{name}`), which is what
 * `kubectl describe pod` prints in the From/SubObject column.
 */
export function podRef(
  pod: V1Pod,
  container?: { name: string; init?: boolean; ephemeral?: boolean },
): V1ObjectReference {
  const md = pod.metadata ?? {};
  const ref: V1ObjectReference = {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: md.namespace ?? 'default',
    name: md.name ?? '',
    uid: md.uid,
  };
  if (md.resourceVersion) ref.resourceVersion = md.resourceVersion;
  if (container)
    ref.fieldPath = `spec.${container.ephemeral ? 'ephemeralContainers' : container.init ? 'initContainers' : 'containers'}{${container.name}}`;
  return ref;
}

/** Is `name` one of the pod's init containers (for the fieldPath)? */
export function isInitContainer(pod: V1Pod, name: string): boolean {
  return (
    (pod.spec?.initContainers ?? []).some((c) => c.name === name) &&
    !(pod.spec?.containers ?? []).some((c) => c.name === name)
  );
}

/** A container of the pod, by name, with the right fieldPath. */
export function containerRef(pod: V1Pod, name: string): V1ObjectReference {
  return podRef(pod, { name, init: isInitContainer(pod, name) });
}

/**
 * The Node, as kubelet names it: no namespace (the Event lands in "default") and the node's name
 * as UID. kubectl describe node searches events with uid = name for exactly this reason, so the
 * Node object's real UID would make them invisible there.
 */
export function nodeRef(nodeName: string): V1ObjectReference {
  return { kind: 'Node', name: nodeName, uid: nodeName, namespace: '' };
}

export interface EventSource {
  component: string;
  host: string;
}

/** A core/v1 Event as sent (timestamps as RFC 3339 strings: what the apiserver stores). */
export interface CoreEvent {
  apiVersion: 'v1';
  kind: 'Event';
  metadata: { name: string; namespace: string };
  involvedObject: V1ObjectReference;
  reason: string;
  message: string;
  type: EventType;
  source: EventSource;
  reportingComponent: string;
  reportingInstance: string;
  firstTimestamp: string;
  lastTimestamp: string;
  count: number;
}

export type Correlated =
  | { action: 'create'; event: CoreEvent }
  | { action: 'patch'; event: CoreEvent; patch: { count: number; lastTimestamp: string; message: string } }
  | { action: 'skip'; event: CoreEvent; why: 'spam' };

export type SinkItem = Exclude<Correlated, { action: 'skip' }>;

export interface EventSink {
  /** Queue for sending; never blocks. */
  enqueue(item: SinkItem): void;
  /** Send what is queued, for at most `timeoutMs`, then stop. */
  stop(timeoutMs?: number): Promise<void>;
}

export type EventOutcome = 'queued' | 'spam' | 'sent' | 'dropped';
