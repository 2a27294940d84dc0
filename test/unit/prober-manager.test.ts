// The prober's decisions, on a clock the test moves: thresholds, the startup gate, timing
// (initial delay, jitter, no drift), no stacked attempts, no timers left behind, metrics, logs.
// Probe outcomes are scripted here; the handlers meet real servers in prober-handlers.test.ts
// and real containers in test/integration/prober-*.test.ts.
import t from 'tap';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import { ProbeManager, type ProbeChange, type ProbeTarget, type ProbeTiming } from '../../agent/prober/manager.js';
import type { ProbeType } from '../../agent/podspec/probe-spec.js';
import { ManualScheduler, TimerScheduler } from '../../agent/prober/scheduler.js';
import type { ProbeRunner } from '../../agent/prober/run.js';
import { initialThresholdState, observeResult } from '../../agent/prober/thresholds.js';
import { workerTiming } from '../../agent/prober/container-probes.js';
import { probeSpec } from '../../agent/podspec/probe-spec.js';
import type { ProbeOutcome } from '../../agent/prober/types.js';

const flush = () => new Promise<void>((r) => setImmediate(r));

/** Move the manual clock in 10 ms steps, letting promise callbacks run in between. */
async function advance(s: ManualScheduler, ms: number): Promise<void> {
  let left = ms;
  do {
    s.advance(Math.min(10, left));
    await flush();
    left -= 10;
  } while (left > 0);
}

type Script = (type: ProbeType, n: number) => ProbeOutcome | 'hang' | { after: number; outcome: ProbeOutcome };

/** A runner whose outcomes the test decides; it records every attempt. */
function scripted(s: ManualScheduler, script: Script) {
  const calls: { type: ProbeType; at: number }[] = [];
  const counts = new Map<ProbeType, number>();
  const run: ProbeRunner = (spec, target) => {
    // The test's probes carry their type in the exec command.
    const type = (spec.handler.kind === 'exec' ? spec.handler.command[0] : 'readiness') as ProbeType;
    const n = (counts.get(type) ?? 0) + 1;
    counts.set(type, n);
    calls.push({ type, at: s.now() });
    const r = script(type, n);
    void target;
    if (r === 'hang') return { outcome: new Promise(() => {}), done: new Promise(() => {}), cancel: () => {} };
    if ('after' in r) {
      let resolve!: (o: ProbeOutcome) => void;
      const outcome = new Promise<ProbeOutcome>((res) => (resolve = res));
      const cancel = s.at(s.now() + r.after, () => resolve(r.outcome));
      return { outcome, done: outcome.then(() => {}), cancel };
    }
    return { outcome: Promise.resolve(r), done: Promise.resolve(), cancel: () => {} };
  };
  return { run, calls, count: (type: ProbeType) => counts.get(type) ?? 0 };
}

const ok: ProbeOutcome = { result: 'success', message: 'exit code 0' };
const bad: ProbeOutcome = { result: 'failure', message: 'exit code 1: boom' };

function target(container: Partial<V1Container>, containerId = 'c1'): ProbeTarget {
  const c: V1Container = { name: 'app', image: 'x', ...container };
  const pod: V1Pod = { metadata: { name: 'web', namespace: 'shop', uid: 'u1' }, spec: { containers: [c] } };
  return { pod, container: c, containerId, podIP: () => '10.0.0.1', exec: async () => ({ exitCode: 0, output: '' }) };
}
const probe = (type: ProbeType, extra: Record<string, number> = {}) => ({
  exec: { command: [type] },
  periodSeconds: 1,
  ...extra,
});

function setup(
  t: { teardown(fn: () => unknown): void },
  script: Script,
  opts: { random?: () => number; ageMs?: number } = {},
) {
  const s = new ManualScheduler(1000);
  const r = scripted(s, script);
  const changes: ProbeChange[] = [];
  const timings: ProbeTiming[] = [];
  const lines: string[] = [];
  const m = new ProbeManager({
    logger: createLogger('agent', { sink: (l) => lines.push(l), level: 'debug' }),
    onChange: (c) => changes.push(c),
    onProbe: (x) => timings.push(x),
    scheduler: s,
    run: r.run,
    random: opts.random ?? (() => 0),
  });
  // By default the manager is old enough that workers start without jitter.
  s.advance(opts.ageMs ?? 60_000);
  t.teardown(() => m.stop());
  return { s, m, r, changes, timings, lines };
}

t.test('threshold state machine', async (t) => {
  const th = { successThreshold: 2, failureThreshold: 3 };
  let st = initialThresholdState('readiness');
  t.equal(st.reported, 'failure', 'readiness starts not ready');
  t.equal(initialThresholdState('liveness').reported, 'success', 'liveness starts alive');
  t.equal(initialThresholdState('startup').reported, 'unknown', 'startup starts not started');
  const seq: ['success' | 'failure', boolean, string][] = [
    ['success', false, 'failure'], // 1 of 2
    ['success', true, 'success'], // 2 of 2: ready
    ['failure', false, 'success'],
    ['failure', false, 'success'],
    ['success', false, 'success'], // run broken
    ['failure', false, 'success'],
    ['failure', false, 'success'],
    ['failure', true, 'failure'], // 3 in a row
    ['failure', false, 'failure'], // no news
  ];
  for (const [i, [res, changed, reported]] of seq.entries()) {
    const r = observeResult(st, res, th);
    t.equal(r.changed, changed, `step ${i} changed`);
    t.equal(r.state.reported, reported, `step ${i} reported`);
    st = r.state;
  }
});

t.test('readiness: not ready until it passes, failure after failureThreshold, reported once per change', async (t) => {
  let healthy = true;
  const { s, m, changes, r } = setup(t, () => (healthy ? ok : bad));
  m.addContainer('u1', target({ readinessProbe: probe('readiness', { failureThreshold: 3 }) }));
  t.notOk(m.isReady('u1', 'app'), 'not ready before the first probe');
  t.ok(m.isStarted('u1', 'app'), 'started: no startup probe');
  await advance(s, 0);
  await flush();
  t.equal(r.count('readiness'), 1, 'first probe at once (no initial delay, manager not young)');
  t.ok(m.isReady('u1', 'app'));
  t.same(
    changes.map((c) => [c.type, c.result]),
    [['readiness', 'success']],
  );
  healthy = false;
  await advance(s, 2000);
  t.ok(m.isReady('u1', 'app'), 'two failures are not three');
  await advance(s, 1000);
  t.notOk(m.isReady('u1', 'app'), 'three failures: not ready');
  await advance(s, 5000);
  t.same(
    changes.map((c) => [c.type, c.result, c.message]),
    [
      ['readiness', 'success', 'exit code 0'],
      ['readiness', 'failure', 'exit code 1: boom'],
    ],
    'one change each way',
  );
  t.equal(changes[1]!.containerId, 'c1');
  t.equal(changes[1]!.podUid, 'u1');
  healthy = true;
  await advance(s, 1000);
  t.ok(m.isReady('u1', 'app'), 'ready again after one success');
  t.equal(changes.length, 3);
  t.notOk(m.isReady('u1', 'other'), 'unknown container is not ready');
  t.notOk(m.isStarted('nope', 'app'), 'unknown pod is not started');
});

t.test('liveness: failure reported once, then on hold; a new container instance starts over', async (t) => {
  let healthy = true;
  const { s, m, changes, r } = setup(t, () => (healthy ? ok : bad));
  m.addContainer('u1', target({ livenessProbe: probe('liveness', { failureThreshold: 2 }) }));
  t.ok(m.isReady('u1', 'app'), 'no readiness probe: ready');
  await advance(s, 3000);
  t.same(changes, [], 'liveness success is not news');
  healthy = false;
  await advance(s, 10_000);
  t.same(
    changes.map((c) => [c.type, c.result, c.containerId]),
    [['liveness', 'failure', 'c1']],
  );
  const probesAfterFailure = r.count('liveness');
  await advance(s, 5000);
  t.equal(r.count('liveness'), probesAfterFailure, 'no probing while on hold');
  m.addContainer('u1', target({ livenessProbe: probe('liveness', { failureThreshold: 2 }) }, 'c1'));
  await advance(s, 3000);
  t.equal(r.count('liveness'), probesAfterFailure, 'same containerId: nothing restarts');
  m.addContainer('u1', target({ livenessProbe: probe('liveness', { failureThreshold: 2 }) }, 'c2'));
  await advance(s, 500);
  t.equal(r.count('liveness'), probesAfterFailure + 1, 'new instance probed again, at once');
  t.equal(changes.length, 1, 'one failure of c2 is below the threshold');
  await advance(s, 500);
  t.same(
    changes.map((c) => [c.type, c.result, c.containerId]),
    [
      ['liveness', 'failure', 'c1'],
      ['liveness', 'failure', 'c2'],
    ],
  );
});

t.test('startup holds liveness and readiness back; success triggers readiness at once', async (t) => {
  let up = false;
  const { s, m, changes, r } = setup(t, (type) => (type === 'liveness' ? bad : up || type === 'readiness' ? ok : bad));
  m.addContainer(
    'u1',
    target({
      startupProbe: probe('startup', { failureThreshold: 10, periodSeconds: 1 }),
      livenessProbe: probe('liveness', { failureThreshold: 1 }),
      readinessProbe: probe('readiness', { periodSeconds: 10 }),
    }),
  );
  await advance(s, 4000);
  t.equal(r.count('liveness'), 0, 'liveness not run before startup succeeds');
  t.equal(r.count('readiness'), 0, 'readiness not run before startup succeeds');
  t.notOk(m.isStarted('u1', 'app'));
  t.notOk(m.isReady('u1', 'app'), 'not started: not ready');
  t.same(changes, []);
  up = true;
  await advance(s, 1000);
  await flush();
  t.ok(m.isStarted('u1', 'app'));
  t.equal(r.count('readiness'), 1, 'readiness ran right after startup, not a 10 s period later');
  t.ok(m.isReady('u1', 'app'));
  t.same(changes.map((c) => [c.type, c.result]).slice(0, 2), [
    ['startup', 'success'],
    ['readiness', 'success'],
  ]);
  const startupRuns = r.count('startup');
  await advance(s, 3000);
  t.equal(r.count('startup'), startupRuns, 'startup probe stops after success');
  t.ok(r.count('liveness') >= 1, 'liveness runs after startup');
  t.same(
    changes.map((c) => [c.type, c.result]),
    [
      ['startup', 'success'],
      ['readiness', 'success'],
      ['liveness', 'failure'],
    ],
  );
});

t.test('startup failure after failureThreshold is reported like liveness', async (t) => {
  const { s, m, changes, r } = setup(t, () => bad);
  m.addContainer(
    'u1',
    target({ startupProbe: probe('startup', { failureThreshold: 3 }), livenessProbe: probe('liveness') }),
  );
  await advance(s, 10_000);
  t.same(
    changes.map((c) => [c.type, c.result]),
    [['startup', 'failure']],
  );
  t.equal(r.count('startup'), 3, 'on hold after the failure');
  t.equal(r.count('liveness'), 0);
  t.notOk(m.isStarted('u1', 'app'));
});

t.test('initialDelaySeconds, jitter and a schedule that does not drift', async (t) => {
  const spec = probeSpec({ exec: { command: ['x'] }, periodSeconds: 10, initialDelaySeconds: 5 });
  const old = workerTiming(spec, 100_000, 100_000, false, () => 0.3);
  t.equal(old.firstDue, 105_000, 'not young: first probe right at initialDelay');
  t.equal(old.phase, 103_000, 'later probes on a grid with a random phase');
  const young = workerTiming(spec, 100_000, 100_000, true, () => 0.3);
  t.equal(young.firstDue, 113_000, 'young manager: first probe waits for the jittered grid, after the delay');
  const adopted = workerTiming(spec, 100_000, 40_000, true, () => 0.3);
  t.equal(adopted.firstDue, 103_000, 'container running long before: delay already over, jitter only');
  for (const x of [0, 0.25, 0.5, 0.999]) {
    const j = workerTiming(probeSpec({ exec: { command: ['x'] }, periodSeconds: 1 }), 0, 0, true, () => x);
    t.ok(j.firstDue >= 0 && j.firstDue < 1000, `jitter ${x} stays within one period (${j.firstDue})`);
  }

  // Probes take 450 ms of clock each; they still start on the grid, not 450 ms later each time.
  const { s, m, timings } = setup(t, () => ({ after: 450, outcome: ok }), { random: () => 0.5 });
  const t0 = s.now();
  m.addContainer('u1', target({ readinessProbe: probe('readiness', { periodSeconds: 1, initialDelaySeconds: 2 }) }));
  await advance(s, 1990);
  t.equal(timings.length, 0, 'nothing before initialDelaySeconds');
  await advance(s, 12_020);
  const starts = timings.map((x) => x.startedAt - t0);
  t.equal(starts[0], 2000, 'first probe at the initial delay');
  t.same(
    starts.slice(1, 6),
    [2500, 3500, 4500, 5500, 6500],
    'then on the grid, phase 0.5 s, no drift from 450 ms probes',
  );
  t.ok(
    timings.slice(1).every((x) => x.intendedAt !== undefined && x.startedAt - x.intendedAt! === 0),
    'never late on a manual clock',
  );
});

t.test('young manager: workers of many containers spread over the period', async (t) => {
  let i = 0;
  const { s, m, timings } = setup(t, () => ok, { random: () => (i++ % 10) / 10, ageMs: 0 });
  for (let n = 0; n < 10; n++) m.addContainer(`u${n}`, target({ readinessProbe: probe('readiness') }, `c${n}`));
  await advance(s, 999);
  const offsets = timings.map((x) => Math.round(x.startedAt - 1000)).sort((a, b) => a - b);
  t.same(offsets, [0, 100, 200, 300, 400, 500, 600, 700, 800, 900], 'one probe per 100 ms, not 10 at once');
});

t.test('a hung attempt is never doubled; later slots count as failures; nothing left after removal', async (t) => {
  const { s, m, r, changes, lines } = setup(t, () => 'hang');
  m.addContainer('u1', target({ livenessProbe: probe('liveness', { failureThreshold: 3, timeoutSeconds: 1 }) }));
  await advance(s, 1500);
  t.equal(r.count('liveness'), 1, 'one attempt in flight');
  await advance(s, 2000);
  t.equal(r.count('liveness'), 1, 'still one: no stacking');
  t.same(
    changes.map((c) => [c.type, c.result]),
    [['liveness', 'failure']],
    'the wedged probe still crosses failureThreshold',
  );
  t.match(changes[0]!.message, /still running/);
  t.ok(
    lines.some((l) => /"msg":"Unhealthy"/.test(l) && /Liveness probe failed: timeout after 1s/.test(l)),
    'Unhealthy log line with the reason',
  );
  m.removeContainer('u1', 'app');
  t.equal(s.pending(), 0, 'no timer left after removeContainer');
  t.notOk(m.isReady('u1', 'app'));
});

t.test('an attempt within its timeout defers the next slot instead of overlapping it', async (t) => {
  const { s, m, r, timings } = setup(t, () => ({ after: 1500, outcome: ok }));
  m.addContainer('u1', target({ readinessProbe: probe('readiness', { periodSeconds: 1, timeoutSeconds: 3 }) }));
  await advance(s, 5000);
  const starts = r.calls.map((c) => c.at - r.calls[0]!.at);
  t.same(starts, [0, 1500, 3000, 4500], 'each attempt starts when the previous one ends');
  t.ok(timings.every((x) => x.durationMs === 1500));
});

t.test('metrics and removal', async (t) => {
  let n = 0;
  const { s, m } = setup(t, () => (n++ % 2 === 0 ? ok : bad));
  m.addContainer('u1', target({ readinessProbe: probe('readiness') }));
  await advance(s, 3500);
  const text = m.metricsText();
  t.match(text, /# TYPE prober_probe_total counter/);
  t.match(
    text,
    /prober_probe_total\{probe_type="Readiness",result="successful",container="app",pod="web",namespace="shop"\} 2\n/,
  );
  t.match(
    text,
    /prober_probe_total\{probe_type="Readiness",result="failed",container="app",pod="web",namespace="shop"\} 2\n/,
  );
  m.removePod('u1');
  t.notMatch(m.metricsText(), /container="app"/, 'series go with the pod');
  t.equal(s.pending(), 0);
});

t.test('an invalid probe never passes and says so', async (t) => {
  const { s, m, lines, r } = setup(t, () => ok);
  m.addContainer('u1', target({ readinessProbe: { exec: { command: ['readiness'] }, periodSeconds: 0 } }));
  await advance(s, 3000);
  t.notOk(m.isReady('u1', 'app'));
  t.equal(r.calls.length, 0);
  t.ok(lines.some((l) => l.includes('spec.containers[0].readinessProbe.periodSeconds')));
});

t.test(
  'real timers: stop() and removeContainer() leave no timer behind, even with an exec that never returns',
  async (t) => {
    const before = process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length;
    const changes: ProbeChange[] = [];
    const m = new ProbeManager({ logger: createLogger('agent', { sink: () => {} }), onChange: (c) => changes.push(c) });
    let execs = 0;
    const hang: ProbeTarget = {
      ...target({
        livenessProbe: {
          exec: { command: ['sleep', '1000'] },
          periodSeconds: 1,
          timeoutSeconds: 1,
          failureThreshold: 2,
        },
      }),
      exec: () => (execs++, new Promise(() => {})),
    };
    m.addContainer('u1', hang);
    m.addContainer('u2', target({ readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }));
    await new Promise((r) => setTimeout(r, 3300));
    t.equal(execs, 1, 'the hung exec was started once, never stacked');
    t.same(
      changes.filter((c) => c.podUid === 'u1').map((c) => [c.type, c.result]),
      [['liveness', 'failure']],
    );
    t.ok(m.isReady('u2', 'app'));
    m.removeContainer('u1', 'app');
    m.stop();
    await flush();
    const after = process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length;
    t.equal(after, before, 'no Timeout handles left');
  },
);

t.test('TimerScheduler: due order, cancellation, one timer, none left', async (t) => {
  const before = process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length;
  const s = new TimerScheduler();
  const t0 = s.now();
  const ran: [string, number][] = [];
  s.at(t0 + 60, () => ran.push(['c', s.now() - t0]));
  s.at(t0 + 30, () => ran.push(['a', s.now() - t0]));
  s.at(t0 + 30, () => ran.push(['b', s.now() - t0]));
  const cancel = s.at(t0 + 40, () => ran.push(['cancelled', s.now() - t0]));
  t.equal(s.pending(), 4);
  t.equal(process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length, before + 1, 'one timer for all');
  cancel();
  t.equal(s.pending(), 3);
  await new Promise((r) => setTimeout(r, 120));
  t.same(
    ran.map(([n]) => n),
    ['a', 'b', 'c'],
    'in due order, equal times in the order asked',
  );
  t.ok(
    ran.every(([n, at]) => at >= (n === 'c' ? 59 : 29) && at < (n === 'c' ? 60 : 30) + 40),
    `on time: ${JSON.stringify(ran)}`,
  );
  t.equal(s.pending(), 0);
  t.equal(
    process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length,
    before,
    'no timer left when nothing is due',
  );
  const c2 = s.at(s.now() + 10_000, () => {});
  c2();
  t.equal(
    process.getActiveResourcesInfo().filter((x) => x === 'Timeout').length,
    before,
    'cancelling the last entry disarms the timer',
  );
});
