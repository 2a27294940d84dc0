// kubelet-style Events, the pure parts: client-go's correlation (dedupe into count + PATCH,
// aggregation of similar messages, the per-object spam filter), event names, object references,
// node condition events, Killing messages, the repeat filter, the recorder (log, then queue), the
// prober's per-attempt Unhealthy callback, and the apiserver sink giving up (bounded, counted)
// when no apiserver answers (a real client against a closed loopback port).
import t from 'tap';
import { createServer } from 'node:net';
import { CoreV1Api, KubeConfig, type V1Pod } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import { AGGREGATE_PREFIX, EventCorrelator, rfc3339 } from '../../agent/events/correlator.js';
import { containerRef, nodeRef, podRef, type EventSink, type SinkItem } from '../../agent/events/types.js';
import { nodeConditionEvents } from '../../agent/events/node-events.js';
import { formatPod, killingMessage } from '../../agent/events/messages.js';
import { Recorder, RepeatFilter, truncateMessage, MAX_MESSAGE } from '../../agent/events/recorder.js';
import { ApiEventSink } from '../../agent/events/api-sink.js';
import { ProbeManager, type ProbeEvent } from '../../agent/prober/manager.js';
import { ManualScheduler } from '../../agent/prober/scheduler.js';
import type { ProbeRunner } from '../../agent/prober/run.js';

const pod: V1Pod = {
  metadata: { name: 'web', namespace: 'shop', uid: 'u-1', resourceVersion: '42' },
  spec: { initContainers: [{ name: 'setup', image: 'x' }], containers: [{ name: 'app', image: 'x' }] },
};
const source = { component: 'kubelet', host: 'node-a' };

function clock(start = Date.UTC(2026, 10, 22, 6, 0, 0)) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

t.test('object references: the pod, its containers with kubelet fieldPaths, the node', async (t) => {
  t.same(podRef(pod), {
    apiVersion: 'v1',
    kind: 'Pod',
    namespace: 'shop',
    name: 'web',
    uid: 'u-1',
    resourceVersion: '42',
  });
  t.equal(podRef(pod, { name: 'app' }).fieldPath, 'spec.containers{app}');
  t.equal(podRef(pod, { name: 'setup', init: true }).fieldPath, 'spec.initContainers{setup}');
  t.equal(
    containerRef(pod, 'setup').fieldPath,
    'spec.initContainers{setup}',
    'containerRef finds init containers by name',
  );
  t.equal(containerRef(pod, 'app').fieldPath, 'spec.containers{app}');
  t.same(
    nodeRef('node-a'),
    { kind: 'Node', name: 'node-a', uid: 'node-a', namespace: '' },
    'node events carry uid = name, as kubectl describe node expects',
  );
});

t.test('the same event again within 10 minutes is a patch of the same Event, count + 1', async (t) => {
  const c = clock();
  const cor = new EventCorrelator({ source, now: c.now });
  const ref = containerRef(pod, 'app');
  const first = cor.correlate(ref, 'Warning', 'Unhealthy', 'Liveness probe failed: boom');
  t.equal(first.action, 'create');
  t.equal(first.event.count, 1);
  t.equal(first.event.metadata.namespace, 'shop');
  t.same(first.event.source, source);
  t.equal(first.event.reportingComponent, 'kubelet');
  t.equal(first.event.reportingInstance, 'node-a');
  t.match(first.event.metadata.name, /^web\.[0-9a-f]+$/, 'named <object>.<hex nanos>');
  t.equal(
    BigInt(`0x${first.event.metadata.name.split('.')[1]}`),
    BigInt(c.now()) * 1_000_000n,
    'the hex is unix nanoseconds',
  );
  c.advance(5_000);
  const second = cor.correlate(ref, 'Warning', 'Unhealthy', 'Liveness probe failed: boom');
  t.equal(second.action, 'patch');
  if (second.action !== 'patch') return;
  t.equal(second.event.metadata.name, first.event.metadata.name, 'same object');
  t.same(second.patch, { count: 2, lastTimestamp: rfc3339(c.now()), message: 'Liveness probe failed: boom' });
  t.equal(second.event.firstTimestamp, first.event.firstTimestamp);
  // Another message, another container, another reason: other Events.
  t.equal(cor.correlate(ref, 'Warning', 'Unhealthy', 'Liveness probe failed: other').action, 'create');
  t.equal(
    cor.correlate(containerRef(pod, 'setup'), 'Warning', 'Unhealthy', 'Liveness probe failed: boom').action,
    'create',
  );
  t.equal(cor.correlate(ref, 'Normal', 'Killing', 'Liveness probe failed: boom').action, 'create');
  // More than 10 minutes later: a new Event.
  c.advance(10 * 60_000 + 1);
  const later = cor.correlate(ref, 'Warning', 'Unhealthy', 'Liveness probe failed: boom');
  t.equal(later.action, 'create');
  t.not(later.event.metadata.name, first.event.metadata.name);
});

t.test('names are unique even within one millisecond', async (t) => {
  const c = clock();
  const cor = new EventCorrelator({ source, now: c.now });
  const names = new Set<string>();
  for (let i = 0; i < 20; i++) names.add(cor.correlate(podRef(pod), 'Normal', `R${i}`, 'm').event.metadata.name);
  t.equal(names.size, 20);
});

t.test('more than 10 different messages alike otherwise are combined into one Event', async (t) => {
  const c = clock();
  const cor = new EventCorrelator({ source, now: c.now, burst: 1000 });
  const ref = containerRef(pod, 'app');
  const actions = [];
  for (let i = 1; i <= 9; i++)
    actions.push(cor.correlate(ref, 'Warning', 'Unhealthy', `Readiness probe failed: body ${i}`).action);
  t.same(actions, Array(9).fill('create'), 'nine distinct messages are nine Events');
  const tenth = cor.correlate(ref, 'Warning', 'Unhealthy', 'Readiness probe failed: body 10');
  t.equal(tenth.action, 'create');
  t.equal(tenth.event.message, `${AGGREGATE_PREFIX}Readiness probe failed: body 10`);
  const eleventh = cor.correlate(ref, 'Warning', 'Unhealthy', 'Readiness probe failed: body 11');
  t.equal(eleventh.action, 'patch', 'from then on every variant patches the combined Event');
  t.equal(eleventh.event.metadata.name, tenth.event.metadata.name);
  t.equal(eleventh.event.count, 2);
  t.equal(eleventh.event.message, `${AGGREGATE_PREFIX}Readiness probe failed: body 11`);
});

t.test('spam filter: 25 events per object, then one more every 5 minutes', async (t) => {
  const c = clock();
  const cor = new EventCorrelator({ source, now: c.now });
  const ref = containerRef(pod, 'app');
  const results = [];
  for (let i = 0; i < 30; i++) results.push(cor.correlate(ref, 'Warning', 'Unhealthy', 'Liveness probe failed: boom'));
  t.equal(results.filter((r) => r.action !== 'skip').length, 25);
  t.equal(results[25]!.action, 'skip');
  // Another object has its own bucket.
  t.equal(
    cor.correlate(podRef({ metadata: { name: 'other', namespace: 'shop', uid: 'u-2' } }), 'Normal', 'Started', 'x')
      .action,
    'create',
  );
  c.advance(5 * 60_000);
  const next = cor.correlate(ref, 'Warning', 'Unhealthy', 'Liveness probe failed: boom');
  t.equal(next.action, 'patch', 'a token came back after 5 minutes');
  if (next.action === 'patch') t.equal(next.patch.count, 31, 'the count includes the occurrences the filter held back');
  t.equal(cor.correlate(ref, 'Warning', 'Unhealthy', 'Liveness probe failed: boom').action, 'skip');
});

t.test('node condition events, as kubelet names them', async (t) => {
  const none = new Map<string, string>();
  const up = new Map([
    ['MemoryPressure', 'False'],
    ['DiskPressure', 'False'],
    ['PIDPressure', 'False'],
    ['Ready', 'True'],
  ]);
  t.same(
    nodeConditionEvents('n1', none, up).map((e) => e.reason),
    ['NodeHasSufficientMemory', 'NodeHasNoDiskPressure', 'NodeHasSufficientPID', 'NodeReady'],
  );
  t.equal(nodeConditionEvents('n1', none, up)[3]!.message, 'Node n1 status is now: NodeReady');
  t.same(nodeConditionEvents('n1', up, up), [], 'nothing changed, nothing recorded');
  const down = new Map(up).set('Ready', 'False');
  t.same(
    nodeConditionEvents('n1', up, down).map((e) => e.reason),
    ['NodeNotReady'],
  );
  t.same(
    nodeConditionEvents('n1', down, new Map(up).set('Ready', 'Unknown')),
    [],
    'False to Unknown is still NotReady',
  );
  t.same(
    nodeConditionEvents('n1', down, up).map((e) => `${e.type} ${e.reason}`),
    ['Normal NodeReady'],
  );
});

t.test('Killing messages and pod formatting', async (t) => {
  t.equal(
    killingMessage('app', 'Container app failed liveness probe: exit code 1, will be restarted', 'LivenessProbeFailed'),
    'Container app failed liveness probe, will be restarted',
  );
  t.equal(killingMessage('app', 'pod removed'), 'Stopping container app');
  t.equal(
    killingMessage('app', 'Container app failed startup probe: timeout, will be restarted', 'StartupProbeFailed'),
    'Container app failed startup probe, will be restarted',
  );
  t.equal(
    killingMessage('app', 'Container app definition changed, will be restarted'),
    'Container app definition changed, will be restarted',
  );
  t.equal(killingMessage('app', 'PostStartHookError: exit 1', 'PostStartHookError'), 'FailedPostStartHook');
  t.equal(formatPod(pod), 'web_shop(u-1)');
});

t.test('repeat filter and message length', async (t) => {
  const f = new RepeatFilter();
  t.ok(f.allow('k', 0, 10_000));
  t.notOk(f.allow('k', 9_999, 10_000));
  t.ok(f.allow('k', 10_000, 10_000));
  t.ok(f.allow('other', 10_001, 10_000));
  t.equal(truncateMessage('x'.repeat(5000)).length, MAX_MESSAGE);
  t.equal(truncateMessage('short'), 'short');
});

t.test('the recorder logs every event and queues correlated ones; the log-only recorder just logs', async (t) => {
  const lines: string[] = [];
  const logger = createLogger('agent', { sink: (l) => lines.push(l), level: 'debug' });
  const queued: SinkItem[] = [];
  const sink: EventSink = { enqueue: (i) => queued.push(i), stop: async () => {} };
  const outcomes: string[] = [];
  const c = clock();
  const rec = new Recorder({ nodeName: 'node-a', logger, sink, count: (o) => outcomes.push(o), now: c.now });
  rec.event(containerRef(pod, 'app'), 'Normal', 'Started', 'Started container app');
  rec.event(containerRef(pod, 'app'), 'Warning', 'BackOff', 'Back-off restarting failed container app', {
    repeatAfterMs: 10_000,
  });
  rec.event(containerRef(pod, 'app'), 'Warning', 'BackOff', 'Back-off restarting failed container app', {
    repeatAfterMs: 10_000,
  });
  c.advance(10_000);
  rec.event(containerRef(pod, 'app'), 'Warning', 'BackOff', 'Back-off restarting failed container app', {
    repeatAfterMs: 10_000,
  });
  t.same(
    queued.map((q) => `${q.action} ${q.event.reason}`),
    ['create Started', 'create BackOff', 'patch BackOff'],
    'the repeat within 10 s is not recorded at all',
  );
  const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'event');
  t.same(
    logged.map((l) => `${l.level} ${l.reason}`),
    ['info Started', 'warn BackOff', 'warn BackOff'],
  );
  t.equal(logged[0]!.object, 'Pod shop/web');
  t.equal(logged[0]!.fieldPath, 'spec.containers{app}');
  t.same(outcomes, ['queued', 'queued', 'queued']);
  t.equal(queued[0]!.event.source.component, 'kubelet');

  const only: string[] = [];
  const plain = new Recorder({ nodeName: 'node-a', logger: createLogger('agent', { sink: (l) => only.push(l) }) });
  plain.event(nodeRef('node-a'), 'Normal', 'Starting', 'Starting kubenode agent.');
  t.match(JSON.parse(only[0]!), { level: 'info', msg: 'event', object: 'Node node-a', reason: 'Starting' });
  await plain.stop();
});

t.test('the prober reports every failed attempt (Unhealthy), keeping onChange as it was', async (t) => {
  const s = new ManualScheduler(0);
  let n = 0;
  const run: ProbeRunner = () => {
    n++;
    const o = { result: 'failure' as const, message: `exit code 1: try ${n}` };
    return { outcome: Promise.resolve(o), done: Promise.resolve(), cancel: () => {} };
  };
  const events: ProbeEvent[] = [];
  const changes: string[] = [];
  const m = new ProbeManager({
    logger: createLogger('t', { sink: () => {} }),
    scheduler: s,
    run,
    random: () => 0,
    onChange: (c) => changes.push(`${c.type} ${c.result}`),
    onEvent: (e) => events.push(e),
  });
  t.teardown(() => m.stop());
  const c = {
    name: 'app',
    image: 'x',
    livenessProbe: { exec: { command: ['liveness'] }, periodSeconds: 1, failureThreshold: 3 },
  };
  const p: V1Pod = { metadata: { name: 'web', namespace: 'shop', uid: 'u1' }, spec: { containers: [c] } };
  m.addContainer('u1', {
    pod: p,
    container: c,
    containerId: 'c1',
    podIP: () => '10.0.0.1',
    exec: async () => ({ exitCode: 0, output: '' }),
  });
  for (let i = 0; i < 400; i++) {
    s.advance(10);
    await new Promise<void>((r) => setImmediate(r));
  }
  t.ok(events.length >= 3, `an event per failed attempt (${events.length})`);
  t.same(
    events.slice(0, 2).map((e) => `${e.reason} ${e.message}`),
    ['Unhealthy Liveness probe failed: exit code 1: try 1', 'Unhealthy Liveness probe failed: exit code 1: try 2'],
  );
  t.equal(events[0]!.pod, p);
  t.same(changes, ['liveness failure'], 'onChange still fires once, at the threshold');
});

t.test('the apiserver sink never blocks, retries a few times and then drops, counted', async (t) => {
  // A loopback port nobody listens on: the apiserver is away.
  const port = await new Promise<number>((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => resolve(p));
    });
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'c', server: `http://127.0.0.1:${port}` }],
    users: [{ name: 'u' }],
    contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
    currentContext: 'x',
  });
  const outcomes: string[] = [];
  const sink = new ApiEventSink({
    core: kc.makeApiClient(CoreV1Api),
    logger: createLogger('t', { sink: () => {} }),
    maxQueue: 3,
    attempts: 3,
    sleepMs: 20,
    count: (o) => outcomes.push(o),
  });
  const cor = new EventCorrelator({ source });
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) {
    const c = cor.correlate(podRef(pod), 'Normal', 'Started', `m${i}`);
    if (c.action !== 'skip') sink.enqueue(c);
  }
  t.ok(performance.now() - t0 < 50, 'enqueue returns at once');
  t.equal(sink.dropped, 1, 'beyond the queue bound (3 waiting, 1 in flight) an event is dropped at once');
  const deadline = Date.now() + 10_000;
  while (sink.pending > 0 || sink.dropped < 5) {
    if (Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  t.equal(sink.dropped, 5, 'every event dropped after its retries');
  t.equal(sink.sent, 0);
  t.equal(outcomes.filter((o) => o === 'dropped').length, 5);
  await sink.stop(100);
});
