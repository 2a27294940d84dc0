// The failover page's pure parts: turning what the watches and proxy logs said into events, and
// rendering recorded scenarios into one self-contained HTML page.
import t from 'tap';
import { launchChromium } from '../../test/harness/browser.js';
import {
  endpointSliceEvents,
  kubernetesEvents,
  podEvents,
  proxySyncEvents,
  splitJsonObjects,
  type Observed,
} from '../../test/harness/failover-events.js';
import { renderFailoverPage, type ScenarioRecord } from '../../test/harness/failover-page.js';
import { summarize, type Sample } from '../../test/harness/traffic.js';

const pod = (
  name: string,
  ready: boolean,
  extra: { restarts?: number; terminated?: any; deleting?: boolean; node?: string } = {},
) => ({
  metadata: {
    name,
    ...(extra.deleting ? { deletionTimestamp: '2026-01-01T00:00:00Z', deletionGracePeriodSeconds: 30 } : {}),
  },
  spec: { nodeName: extra.node ?? 'kn-node2' },
  status: {
    conditions: [
      { type: 'Ready', status: ready ? 'True' : 'False', ...(ready ? {} : { reason: 'ContainersNotReady' }) },
    ],
    containerStatuses: [
      {
        name: 'demo',
        restartCount: extra.restarts ?? 0,
        state: extra.terminated ? { terminated: extra.terminated } : { running: {} },
      },
    ],
  },
});
const slice = (eps: [string, { ready?: boolean; serving?: boolean; terminating?: boolean }][]) => ({
  metadata: { name: 'demo-abcde' },
  endpoints: eps.map(([p, conditions]) => ({
    addresses: ['10.244.1.2'],
    targetRef: { kind: 'Pod', name: p },
    conditions,
  })),
});

t.test('kubectl watch output (pretty-printed objects back to back) splits into whole objects', async (t) => {
  const a = JSON.stringify({ type: 'ADDED', object: { s: 'a } " { \\" x' } }, null, 2);
  const b = JSON.stringify({ type: 'MODIFIED', object: { n: [1, { m: 2 }] } }, null, 2);
  const first = splitJsonObjects(a + '\n' + b.slice(0, 10));
  t.same(
    first.objects.map((o) => JSON.parse(o).type),
    ['ADDED'],
    'braces and quotes inside strings do not count',
  );
  const second = splitJsonObjects(first.rest + b.slice(10) + '\n');
  t.same(
    second.objects.map((o) => JSON.parse(o)),
    [JSON.parse(b)],
    'an object cut between chunks is completed by the next one',
  );
  t.equal(second.rest, '');
});

t.test('the Pod watch: a container ending, unready, Ready again, a replacement', async (t) => {
  const obs: Observed[] = [
    { at: -200, type: 'ADDED', object: pod('demo-1', true) },
    { at: -200, type: 'ADDED', object: pod('demo-2', true) },
    {
      at: 1000,
      type: 'MODIFIED',
      object: pod('demo-1', false, { terminated: { exitCode: 137, reason: 'Error', finishedAt: 'x' } }),
    },
    { at: 1500, type: 'MODIFIED', object: pod('demo-1', true, { restarts: 1 }) },
    { at: 2000, type: 'MODIFIED', object: pod('demo-2', true, { deleting: true }) },
    { at: 2100, type: 'ADDED', object: pod('demo-3', false, { node: 'kn-node3' }) },
    { at: 3000, type: 'MODIFIED', object: pod('demo-3', true, { node: 'kn-node3' }) },
    { at: 5000, type: 'DELETED', object: pod('demo-2', false, { deleting: true }) },
  ];
  const ev = podEvents(obs, new Set(['demo-1', 'demo-2']));
  t.same(
    ev.map((e) => [e.at, e.kind, e.text]),
    [
      [1000, 'container', 'container demo of demo-1 ended (Error, exit code 137)'],
      [1000, 'unready', 'pod demo-1 Ready=False (ContainersNotReady)'],
      [1500, 'action', 'a container of demo-1 restarted (restartCount 1)'],
      [1500, 'ready', 'pod demo-1 Ready again'],
      [2000, 'action', 'pod demo-2 deleting (grace 30 s)'],
      [2100, 'action', 'pod demo-3 created on kn-node3'],
      [3000, 'ready', 'replacement demo-3 Ready'],
      [5000, 'endpoint', 'pod demo-2 deleted'],
    ],
  );
  t.ok(ev.every((e) => e.source === 'apiserver: Pod watch'));
});

t.test('the EndpointSlice watch: conditions changing, endpoints added and removed', async (t) => {
  const obs: Observed[] = [
    {
      at: 0,
      type: 'ADDED',
      object: slice([
        ['demo-1', { ready: true }],
        ['demo-2', { ready: true }],
      ]),
    },
    {
      at: 800,
      type: 'MODIFIED',
      object: slice([
        ['demo-1', { ready: false, serving: false }],
        ['demo-2', { ready: true }],
      ]),
    },
    {
      at: 900,
      type: 'MODIFIED',
      object: slice([
        ['demo-1', { ready: false, serving: false }],
        ['demo-2', { ready: false, serving: true, terminating: true }],
        ['demo-3', { ready: false }],
      ]),
    },
    {
      at: 1200,
      type: 'MODIFIED',
      object: slice([
        ['demo-1', { ready: true }],
        ['demo-3', { ready: true }],
      ]),
    },
  ];
  t.same(
    endpointSliceEvents(obs).map((e) => [e.at, e.text]),
    [
      [800, 'endpoint demo-1: ready -> not ready'],
      [900, 'endpoint demo-2: ready -> terminating'],
      [900, 'endpoint demo-3 added to the EndpointSlice (not ready)'],
      [1200, 'endpoint demo-1: not ready -> ready'],
      [1200, 'endpoint demo-3: not ready -> ready'],
      [1200, 'endpoint demo-2 removed from the EndpointSlice'],
    ],
  );
});

t.test('Kubernetes Events: the first of each reason per pod, none from before the loop', async (t) => {
  const since = Date.parse('2026-12-07T10:00:10Z');
  const ev = (at: number, reason: string, ts: string) => ({
    at,
    type: 'ADDED',
    object: { involvedObject: { name: 'demo-1' }, reason, message: `${reason} message`, lastTimestamp: ts },
  });
  const out = kubernetesEvents(
    [
      ev(0, 'Started', '2026-12-07T09:59:00Z'),
      ev(100, 'Unhealthy', '2026-12-07T10:00:11Z'),
      ev(1100, 'Unhealthy', '2026-12-07T10:00:12Z'),
      ev(1200, 'Killing', '2026-12-07T10:00:12Z'),
    ],
    since,
  );
  t.same(
    out.map((e) => [e.at, e.kind, e.text]),
    [
      [100, 'probe', 'demo-1: Unhealthy: Unhealthy message'],
      [1200, 'container', 'demo-1: Killing: Killing message'],
    ],
  );
});

t.test("a node's proxy log: its syncs inside the window, at loop times", async (t) => {
  const t0 = Date.parse('2026-12-07T10:00:00.000Z');
  const log = [
    JSON.stringify({ ts: '2026-12-07T09:59:59.000Z', msg: 'synced proxy rules', kind: 'periodic', ms: 3 }),
    'not json',
    JSON.stringify({
      ts: '2026-12-07T10:00:01.250Z',
      msg: 'synced proxy rules',
      kind: 'partial',
      changedServices: 1,
      ms: 4,
    }),
    JSON.stringify({
      ts: '2026-12-07T10:00:02.000Z',
      level: 'error',
      msg: 'sync failed; retrying',
      error: 'iptables-restore: exit 1',
    }),
    JSON.stringify({ ts: '2026-12-07T10:00:09.000Z', msg: 'synced proxy rules', kind: 'partial' }),
  ].join('\n');
  const out = proxySyncEvents('kn-node2', log, t0, t0 + 5000, t0);
  t.same(
    out.map((e) => [e.at, e.text]),
    [
      [1250, 'kn-node2: proxy rules synced (partial, 1 changed Services, 4 ms)'],
      [2000, 'kn-node2: sync failed; retrying: iptables-restore: exit 1'],
    ],
  );
  t.ok(out.every((e) => e.kind === 'sync' && e.source === 'kn-node2 proxy log'));
});

t.test(
  'the page: a chart per scenario with a mark per request, event lines, the window, the data as JSON',
  async (t) => {
    const samples: Sample[] = [
      { start: 0, end: 5, ok: true, pod: 'demo-1', node: 'kn-node1' },
      { start: 50, end: 55, ok: true, pod: 'demo-2', node: 'kn-node2' },
      { start: 1000, end: 1003, ok: false, error: 'connect ECONNREFUSED <script>alert(1)</script>' },
      { start: 1050, end: 1100, ok: true, pod: 'demo-1', node: 'kn-node1' },
    ];
    const rec = (scenario: string): ScenarioRecord => ({
      scenario,
      title: `title ${scenario}`,
      target: 'demo-2',
      summary: summarize(samples, 500, 1050),
      samples,
      actionAt: 500,
      settledFrom: 1050,
      window: { from: 1000, to: 1003, label: '1 failed request' },
      events: [
        { at: 500, kind: 'action', source: 'script', text: 'docker kill' },
        {
          at: 900,
          kind: 'endpoint',
          source: 'apiserver: EndpointSlice watch',
          text: 'endpoint demo-2: ready -> not ready',
        },
      ],
    });
    const html = renderFailoverPage({
      cluster: 'kn',
      proxyMode: 'iptables',
      ratePerSecond: 20,
      generatedAt: 'now',
      scenarios: [rec('a'), rec('b')],
    });
    t.match(html, /^<!DOCTYPE html>/);
    t.notMatch(html, /<script(?! type="application\/json")/, 'no script runs in the page');
    t.notMatch(html, /(src|href)="http/, 'no external asset');
    for (const sc of ['a', 'b']) {
      const svg = new RegExp(`<svg class="timeline" data-scenario="${sc}"[\\s\\S]*?</svg>`).exec(html)?.[0] ?? '';
      t.equal((svg.match(/class="req /g) ?? []).length, 4, `(${sc}) a mark per request`);
      t.equal((svg.match(/class="req fail"/g) ?? []).length, 1, `(${sc}) one red mark`);
      t.equal((svg.match(/<g class="event /g) ?? []).length, 2, `(${sc}) a line per event`);
      t.equal((svg.match(/class="window"/g) ?? []).length, 1, `(${sc}) the window`);
    }
    t.match(
      html,
      /FAILED: connect ECONNREFUSED &lt;script&gt;alert\(1\)&lt;\/script&gt;/,
      "the error is in the mark's title, escaped",
    );
    const json = /<script type="application\/json" id="failover-data">([\s\S]*?)<\/script>/.exec(html)![1]!;
    const data = JSON.parse(json);
    t.equal(data.scenarios.length, 2);
    t.same(data.scenarios[0].samples, samples, 'the recorded data round-trips through the page');
  },
);

t.test('without Chromium the browser check fails, saying what to install', async (t) => {
  await t.rejects(
    launchChromium('/nonexistent/chromium'),
    /no Chromium at \/nonexistent\/chromium: install Debian's chromium \(sudo scripts\/setup.sh/,
  );
});
