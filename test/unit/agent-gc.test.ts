// Container garbage collection policy: newest dead instances kept per container, nothing of deleted
// pods, never running containers, pods being terminated left to their worker.
import t from 'tap';
import { planGarbageCollection, type GcPolicy } from '../../agent/runtime/gc.js';
import type { PodRuntimeStatus, RuntimeContainer, RuntimeSandbox } from '../../agent/runtime/types.js';

const at = (s: number) => new Date(s * 1000);
const dead = (uid: string, name: string, attempt: number, sandbox = 'sb'): RuntimeContainer => ({
  id: `${uid}-${name}-${attempt}`,
  name,
  podUid: uid,
  attempt,
  hash: '',
  isInit: false,
  image: '',
  imageId: '',
  state: 'exited',
  createdAt: at(attempt * 10),
  finishedAt: at(attempt * 10 + 5),
  exitCode: 1,
  labels: { 'io.kubernetes.sandbox.id': sandbox },
});
const running = (uid: string, name: string, attempt: number): RuntimeContainer => ({
  ...dead(uid, name, attempt),
  state: 'running',
  finishedAt: undefined,
  exitCode: undefined,
});
const sb = (uid: string, id: string, attempt: number, state: RuntimeSandbox['state']): RuntimeSandbox => ({
  id,
  podUid: uid,
  attempt,
  state,
  createdAt: at(attempt),
  hostNetwork: false,
  labels: {},
});
const podStatus = (uid: string, sandboxes: RuntimeSandbox[], containers: RuntimeContainer[]): PodRuntimeStatus => ({
  uid,
  name: uid,
  namespace: 'n',
  sandboxes,
  containers: containers.sort((a, b) => b.attempt - a.attempt),
});
const policy: GcPolicy = { minAgeMs: 0, maxPerPodContainer: 1, maxContainers: -1 };

t.test('keep the newest dead instance per container of an active pod', async (t) => {
  const p = podStatus(
    'u1',
    [sb('u1', 'sb', 0, 'ready')],
    [running('u1', 'a', 3), dead('u1', 'a', 2), dead('u1', 'a', 1), dead('u1', 'a', 0), dead('u1', 'b', 0)],
  );
  const plan = planGarbageCollection([p], () => 'active', policy, 1e6);
  t.same(plan.containers.sort(), ['u1-a-0', 'u1-a-1']);
  t.same(plan.sandboxes, []);
});

t.test('deleted pods lose every dead container and sandbox; running ones are never touched', async (t) => {
  const p = podStatus('u2', [sb('u2', 'sb', 0, 'notready')], [dead('u2', 'a', 1), dead('u2', 'a', 0)]);
  const plan = planGarbageCollection([p], () => 'deleted', policy, 1e6);
  t.same(plan.containers.sort(), ['u2-a-0', 'u2-a-1']);
  t.same(plan.sandboxes, ['sb']);
  const live = podStatus('u3', [sb('u3', 'sb3', 0, 'ready')], [running('u3', 'a', 0)]);
  t.same(
    planGarbageCollection([live], () => 'deleted', policy, 1e6),
    { containers: [], sandboxes: [] },
  );
  t.same(
    planGarbageCollection([p], () => 'busy', policy, 1e6),
    { containers: [], sandboxes: [] },
    'a worker is terminating it',
  );
});

t.test('old dead sandboxes go unless still referenced or the newest', async (t) => {
  const p = podStatus(
    'u4',
    [sb('u4', 'new', 2, 'ready'), sb('u4', 'mid', 1, 'notready'), sb('u4', 'old', 0, 'notready')],
    [running('u4', 'a', 2), dead('u4', 'a', 1, 'mid')],
  );
  const plan = planGarbageCollection([p], () => 'active', policy, 1e6);
  t.same(plan.sandboxes, ['old'], '"mid" still has the kept dead container');
  const q = podStatus('u5', [sb('u5', 'only', 0, 'notready')], [dead('u5', 'a', 0, 'only')]);
  t.same(
    planGarbageCollection([q], () => 'active', policy, 1e6).sandboxes,
    [],
    'the newest sandbox of an active pod stays',
  );
});

t.test('minimum age and a global maximum', async (t) => {
  const p = podStatus(
    'u6',
    [sb('u6', 'sb', 0, 'ready')],
    [dead('u6', 'a', 1), dead('u6', 'a', 0), dead('u6', 'b', 5), dead('u6', 'c', 3)],
  );
  t.same(
    planGarbageCollection([p], () => 'active', { ...policy, minAgeMs: 100_000 }, 60_000).containers,
    [],
    'all too young',
  );
  const plan = planGarbageCollection([p], () => 'active', { ...policy, maxContainers: 1 }, 1e6);
  t.same(plan.containers.sort(), ['u6-a-0', 'u6-a-1', 'u6-c-3'], 'only the most recently ended one is kept overall');
});
