// What the cluster itself said during a failover scenario, as timeline events: pure functions
// from what failover-record.ts observed (kubectl watch output of Pods, EndpointSlices and
// Events, each stamped with when it arrived; the nodes' proxy log lines) to FailoverEvents.
// Times are loop milliseconds (0 = the request loop's start), like the request samples'.

export type EventKind = 'action' | 'container' | 'probe' | 'unready' | 'endpoint' | 'sync' | 'ready' | 'node';

export interface FailoverEvent {
  at: number;
  kind: EventKind;
  /** Who said so: "script", "apiserver: Pod watch", "apiserver: EndpointSlice watch",
   * "apiserver: Event", "kn-node2 proxy log". */
  source: string;
  text: string;
}

/** One object from a kubectl --watch --output-watch-events stream, stamped on arrival. */
export interface Observed {
  at: number;
  type: string;
  object: any;
}

/**
 * Splits kubectl's `-o json` watch output (pretty-printed objects one after another) into
 * complete JSON texts; returns them and the unfinished rest to prepend to the next chunk.
 */
export function splitJsonObjects(buffer: string): { objects: string[]; rest: string } {
  const objects: string[] = [];
  let depth = 0,
    inString = false,
    escaped = false,
    start = -1;
  for (let i = 0; i < buffer.length; i++) {
    const ch = buffer[i];
    if (inString) {
      if (escaped) escaped = false;
      else if (ch === '\\') escaped = true;
      else if (ch === '"') inString = false;
    } else if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}' && depth > 0 && --depth === 0) {
      objects.push(buffer.slice(start, i + 1));
      start = -1;
    }
  }
  return { objects, rest: start >= 0 ? buffer.slice(start) : '' };
}

const podReady = (p: any) => (p?.status?.conditions ?? []).some((c: any) => c.type === 'Ready' && c.status === 'True');
const readyReason = (p: any) => {
  const c = (p?.status?.conditions ?? []).find((x: any) => x.type === 'Ready');
  return c?.reason ? ` (${c.reason}${c.message ? `: ${c.message}` : ''})` : '';
};
const restarts = (p: any) =>
  (p?.status?.containerStatuses ?? []).reduce((n: number, s: any) => n + (s.restartCount ?? 0), 0);
const terminated = (p: any) =>
  (p?.status?.containerStatuses ?? [])
    .map((s: any) => (s.state?.terminated ? `${s.name}:${s.state.terminated.finishedAt ?? ''}` : ''))
    .join();

function describeTermination(p: any): string {
  for (const s of p?.status?.containerStatuses ?? []) {
    const t = s.state?.terminated ?? s.lastState?.terminated;
    if (t)
      return `container ${s.name} of ${p.metadata.name} ended (${t.reason ?? 'terminated'}, exit code ${t.exitCode})`;
  }
  return `a container of ${p.metadata.name} ended`;
}

/**
 * Pod watch -> events: a container ending or restarting, Ready turning False or True (True on a
 * pod that was not in the first list is the replacement), deletion started, node changes.
 * The first observation of each pod is its baseline; only changes become events.
 */
export function podEvents(observed: readonly Observed[], initialNames: ReadonlySet<string>): FailoverEvent[] {
  const out: FailoverEvent[] = [];
  const last = new Map<string, any>();
  const source = 'apiserver: Pod watch';
  for (const o of observed) {
    const p = o.object,
      name: string = p?.metadata?.name;
    if (!name) continue;
    const prev = last.get(name);
    last.set(name, p);
    const add = (kind: EventKind, text: string) => out.push({ at: o.at, kind, source, text });
    if (o.type === 'DELETED') {
      add('endpoint', `pod ${name} deleted`);
      continue;
    }
    if (!prev) {
      if (!initialNames.has(name))
        add('action', `pod ${name} created${p.spec?.nodeName ? ` on ${p.spec.nodeName}` : ''}`);
      if (!initialNames.has(name) && podReady(p)) add('ready', `replacement ${name} Ready`);
      continue;
    }
    if (!prev.spec?.nodeName && p.spec?.nodeName) add('action', `pod ${name} scheduled to ${p.spec.nodeName}`);
    if (!prev.metadata?.deletionTimestamp && p.metadata?.deletionTimestamp)
      add('action', `pod ${name} deleting (grace ${p.metadata.deletionGracePeriodSeconds ?? '?'} s)`);
    const ended = terminated(p) !== terminated(prev) && terminated(p).replace(/,/g, '') !== '';
    if (ended) add('container', describeTermination(p));
    // A restart seen without its end (the status went from running straight to running again).
    if (restarts(p) > restarts(prev) && !ended) {
      if (terminated(prev).replace(/,/g, ''))
        add('action', `a container of ${name} restarted (restartCount ${restarts(p)})`);
      else add('container', `${describeTermination(p)}; restarted (restartCount ${restarts(p)})`);
    }
    if (podReady(prev) && !podReady(p)) add('unready', `pod ${name} Ready=False${readyReason(p)}`);
    if (!podReady(prev) && podReady(p))
      add('ready', initialNames.has(name) ? `pod ${name} Ready again` : `replacement ${name} Ready`);
  }
  return out;
}

type EndpointState = 'ready' | 'serving, not ready' | 'terminating' | 'not ready';

/** Every endpoint of the Service (all its slices) by pod name, with its conditions in words. */
function endpointStates(slices: ReadonlyMap<string, any>): Map<string, EndpointState> {
  const out = new Map<string, EndpointState>();
  for (const s of slices.values()) {
    for (const e of s.endpoints ?? []) {
      const pod = e.targetRef?.name ?? (e.addresses ?? []).join(',');
      const c = e.conditions ?? {};
      // Upstream's EndpointSlice controller: ready=false while unready or terminating; serving
      // says whether a terminating endpoint still passes its readiness probe.
      const state: EndpointState =
        c.ready !== false ? 'ready' : c.terminating ? 'terminating' : c.serving ? 'serving, not ready' : 'not ready';
      out.set(pod, state);
    }
  }
  return out;
}

/** EndpointSlice watch -> events: an endpoint added, removed, or changing its conditions. */
export function endpointSliceEvents(observed: readonly Observed[]): FailoverEvent[] {
  const out: FailoverEvent[] = [];
  const slices = new Map<string, any>();
  let before: Map<string, EndpointState> | undefined;
  for (const o of observed) {
    const name = o.object?.metadata?.name;
    if (!name) continue;
    if (o.type === 'DELETED') slices.delete(name);
    else slices.set(name, o.object);
    const now = endpointStates(slices);
    if (before) {
      const add = (text: string) =>
        out.push({ at: o.at, kind: 'endpoint', source: 'apiserver: EndpointSlice watch', text });
      for (const [pod, st] of now) {
        const was = before.get(pod);
        if (was === undefined) add(`endpoint ${pod} added to the EndpointSlice (${st})`);
        else if (was !== st) add(`endpoint ${pod}: ${was} -> ${st}`);
      }
      for (const pod of before.keys()) if (!now.has(pod)) add(`endpoint ${pod} removed from the EndpointSlice`);
    }
    before = now;
  }
  return out;
}

/** Kubernetes Events about the demo pods (the agent's Unhealthy, Killing, Started...): the
 * first of each reason for each pod, when it happened at or after `sinceWallMs`. */
export function kubernetesEvents(observed: readonly Observed[], sinceWallMs: number): FailoverEvent[] {
  const out: FailoverEvent[] = [];
  const seen = new Set<string>();
  for (const o of observed) {
    const e = o.object,
      pod = e?.involvedObject?.name ?? e?.regarding?.name;
    const when = Date.parse(e?.lastTimestamp ?? e?.eventTime ?? e?.metadata?.creationTimestamp ?? '');
    // Event times have one-second resolution: allow the second the loop started in.
    if (!pod || !(when >= sinceWallMs - 1000)) continue;
    const key = `${pod}/${e.reason}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      at: o.at,
      kind: e.reason === 'Unhealthy' ? 'probe' : e.reason === 'Killing' ? 'container' : 'action',
      source: 'apiserver: Event',
      text: `${pod}: ${e.reason}: ${e.message ?? e.note ?? ''}`.trim(),
    });
  }
  return out;
}

/** A node's proxy log (JSON lines) -> its syncs (and failed syncs) between two wall times. */
export function proxySyncEvents(
  node: string,
  log: string,
  fromWallMs: number,
  toWallMs: number,
  t0WallMs: number,
): FailoverEvent[] {
  const out: FailoverEvent[] = [];
  for (const line of log.split('\n')) {
    if (!line.startsWith('{')) continue;
    let l: any;
    try {
      l = JSON.parse(line);
    } catch {
      continue;
    }
    const ts = Date.parse(l.ts ?? '');
    if (!(ts >= fromWallMs && ts <= toWallMs)) continue;
    const source = `${node} proxy log`;
    if (l.msg === 'synced proxy rules')
      out.push({
        at: ts - t0WallMs,
        kind: 'sync',
        source,
        text: `${node}: proxy rules synced (${l.kind ?? (l.full ? 'full' : 'partial')}, ${l.changedServices ?? 0} changed Services, ${l.ms ?? '?'} ms)`,
      });
    else if (l.level === 'error' && /sync/.test(l.msg))
      out.push({ at: ts - t0WallMs, kind: 'sync', source, text: `${node}: ${l.msg}: ${l.error ?? ''}` });
  }
  return out;
}
