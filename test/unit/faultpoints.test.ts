// Fault points (lib/faultpoints.ts): the syntax of KUBENODE_FAULTPOINTS, errors that name the bad
// entry, each action's effect (exit and panic in a child process, as they end it), and that an
// unset variable leaves every point inert.
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { faultPoint, FAULT_POINTS, loadFaultPoints, parseFaultPoints } from '../../lib/faultpoints.js';

const LIB = resolve(dirname(fileURLToPath(import.meta.url)), '../../lib/faultpoints.js');

t.test('parse: points, actions, counts', async (t) => {
  t.same(
    [...parseFaultPoints('after-cni-add:exit, before-cni-add:sleep(250),during-pre-stop:2*throw')],
    [
      ['after-cni-add', { kind: 'exit' }],
      ['before-cni-add', { kind: 'sleep', ms: 250 }],
      ['during-pre-stop', { kind: 'throw', times: 2 }],
    ],
  );
  t.same([...parseFaultPoints('')], [], 'empty: nothing armed');
  t.ok(FAULT_POINTS.includes('before-sandbox-teardown'));
});

t.test('parse: a bad entry is named with what is wrong', async (t) => {
  t.throws(
    () => parseFaultPoints('after-cni-ad:exit'),
    /entry "after-cni-ad:exit": unknown fault point "after-cni-ad" \(known: before-cni-add, /,
  );
  t.throws(() => parseFaultPoints('after-cni-add'), /entry "after-cni-add": expected <point>:<action>/);
  t.throws(() => parseFaultPoints('after-cni-add:kill'), /unknown action "kill"/);
  t.throws(() => parseFaultPoints('after-cni-add:sleep(x)'), /unknown action "sleep\(x\)"/);
  t.throws(() => parseFaultPoints('after-cni-add:0*exit'), /count before \* must be at least 1/);
  t.throws(() => parseFaultPoints('after-cni-add:exit,after-cni-add:panic'), /given twice/);
});

t.test('unset: every point is inert and returns nothing to wait for', async (t) => {
  t.same(loadFaultPoints({}), []);
  for (const p of FAULT_POINTS) t.equal(faultPoint(p), undefined, p);
});

t.test('throw, N*, sleep: in this process', async (t) => {
  const lines: string[] = [];
  t.same(
    loadFaultPoints({ KUBENODE_FAULTPOINTS: 'during-pre-stop:1*throw,after-cni-add:sleep(120)' }, (l) => lines.push(l)),
    ['during-pre-stop', 'after-cni-add'],
  );
  t.teardown(() => loadFaultPoints({}));
  await t.rejects(
    faultPoint('during-pre-stop')!,
    { name: 'FaultPointError', point: 'during-pre-stop' },
    'the first time it throws',
  );
  t.equal(faultPoint('during-pre-stop'), undefined, 'then it is inert (1*)');
  t.equal(faultPoint('before-cni-add'), undefined, 'a point not named is inert');
  const t0 = Date.now();
  await faultPoint('after-cni-add');
  t.ok(Date.now() - t0 >= 100, `sleep(120) waited ${Date.now() - t0} ms`);
  t.equal(lines.length, 2, 'one log line per point reached');
  t.match(JSON.parse(lines[0]!), { msg: 'fault point reached', point: 'during-pre-stop', action: 'throw' });
});

// A process armed with one action that reaches the point: how does it end?
function reach(action: string): ReturnType<typeof spawnSync> {
  const script = `const f = await import(${JSON.stringify(LIB)}); f.loadFaultPoints(); try { await f.faultPoint('after-cni-add'); } catch {} console.log('survived');`;
  return spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    env: { ...process.env, KUBENODE_FAULTPOINTS: `after-cni-add:${action}` },
    encoding: 'utf8',
    timeout: 20_000,
  });
}

t.test('exit: the process SIGKILLs itself at the point, after saying so', async (t) => {
  const r = reach('exit');
  t.equal(r.signal, 'SIGKILL');
  t.notMatch(r.stdout, /survived/, 'no code after the point ran');
  t.match(r.stderr, /"point":"after-cni-add","action":"exit"/);
});

t.test('panic: an uncaught exception no try/catch around the point can stop', async (t) => {
  const r = reach('panic');
  t.equal(r.status, 1);
  t.notMatch(r.stdout, /survived/);
  t.match(r.stderr, /FaultPointError: fault point after-cni-add: injected failure/);
});
