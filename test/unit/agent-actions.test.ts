// computePodActions: the pure decision of what to create, start and kill, in kubelet's shape.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { computePodActions, containerHash, findNextInitContainerToRun } from '../../agent/pods/actions.js';
import type { PodRuntimeStatus, RuntimeContainer, RuntimeSandbox } from '../../agent/runtime/types.js';

const at = (s: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, s));

function pod(spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u1' },
    spec: { restartPolicy: 'Always', containers: [{ name: 'a', image: 'img' }, { name: 'b', image: 'img' }], ...spec },
  };
}

function sandbox(state: 'ready' | 'notready', attempt = 0, id = `sb${attempt}`): RuntimeSandbox {
  return { id, podUid: 'u1', attempt, state, createdAt: at(attempt), hostNetwork: false, labels: {} };
}

function ctr(p: V1Pod, name: string, state: RuntimeContainer['state'], extra: Partial<RuntimeContainer> = {}): RuntimeContainer {
  const spec = [...(p.spec!.initContainers ?? []), ...p.spec!.containers, ...(p.spec!.ephemeralContainers ?? [])].find((c) => c.name === name)!;
  return {
    id: `${name}-${extra.attempt ?? 0}`, name, podUid: 'u1', attempt: 0, hash: containerHash(spec), isInit: false,
    image: 'img', imageId: 'sha256:x', state, createdAt: at(10 + (extra.attempt ?? 0)), labels: {},
    ...(state === 'exited' ? { exitCode: 1, finishedAt: at(20) } : {}), ...extra,
  };
}

function status(sandboxes: RuntimeSandbox[], containers: RuntimeContainer[]): PodRuntimeStatus {
  return { uid: 'u1', name: 'p', namespace: 'ns', sandboxes, containers };
}

t.test('a new pod: create the sandbox and start every container', async (t) => {
  const a = computePodActions(pod(), status([], []));
  t.equal(a.createSandbox, true);
  t.equal(a.attempt, 0);
  t.same(a.containersToStart, [0, 1]);
  t.same(a.containersToKill, []);
});

t.test('all running and unchanged: nothing to do', async (t) => {
  const p = pod();
  const a = computePodActions(p, status([sandbox('ready')], [ctr(p, 'a', 'running'), ctr(p, 'b', 'running')]));
  t.equal(a.createSandbox, false);
  t.equal(a.killPod, false);
  t.same(a.containersToStart, []);
  t.same(a.containersToKill, []);
  t.equal(a.sandboxId, 'sb0');
});

t.test('a dead sandbox means a new one (attempt+1) and killing the old containers', async (t) => {
  const p = pod();
  const a = computePodActions(p, status([sandbox('notready', 2)], [ctr(p, 'a', 'running'), ctr(p, 'b', 'running')]));
  t.equal(a.createSandbox, true);
  t.equal(a.killPod, true);
  t.equal(a.attempt, 3);
  t.same(a.containersToStart, [0, 1]);
});

t.test('two running sandboxes: recreate', async (t) => {
  const a = computePodActions(pod(), status([sandbox('ready', 1, 'x'), sandbox('ready', 0, 'y')], []));
  t.equal(a.createSandbox, true);
  t.match(a.reason, /2 sandboxes/);
});

t.test('restartPolicy decides which exited containers start again', async (t) => {
  for (const [policy, exitCode, restart] of [
    ['Always', 0, true], ['Always', 1, true], ['OnFailure', 0, false], ['OnFailure', 2, true], ['Never', 0, false], ['Never', 1, false],
  ] as const) {
    const p = pod({ restartPolicy: policy });
    const a = computePodActions(p, status([sandbox('ready')], [ctr(p, 'a', 'exited', { exitCode }), ctr(p, 'b', 'running')]));
    t.same(a.containersToStart, restart ? [0] : [], `${policy} exit ${exitCode}`);
    t.equal(a.killPod, false, 'b still runs: the pod stays');
  }
});

t.test('everything finished and nothing to restart: kill the pod (sandbox goes, IP is released)', async (t) => {
  const p = pod({ restartPolicy: 'Never' });
  const a = computePodActions(p, status([sandbox('ready')], [ctr(p, 'a', 'exited', { exitCode: 0 }), ctr(p, 'b', 'exited', { exitCode: 1 })]));
  t.equal(a.killPod, true);
  t.equal(a.createSandbox, false);
  t.same(a.containersToStart, []);
});

t.test('a Never pod whose sandbox died after running is not recreated', async (t) => {
  const p = pod({ restartPolicy: 'Never' });
  const a = computePodActions(p, status([sandbox('notready')], [ctr(p, 'a', 'exited', { exitCode: 0 })]));
  t.equal(a.createSandbox, false);
  t.equal(a.killPod, true);
});

t.test('OnFailure with every container succeeded: no new sandbox', async (t) => {
  const p = pod({ restartPolicy: 'OnFailure' });
  const a = computePodActions(p, status([sandbox('notready')], [ctr(p, 'a', 'exited', { exitCode: 0 }), ctr(p, 'b', 'exited', { exitCode: 0 })]));
  t.equal(a.createSandbox, false);
  const b = computePodActions(p, status([sandbox('notready')], [ctr(p, 'a', 'exited', { exitCode: 0 }), ctr(p, 'b', 'exited', { exitCode: 3 })]));
  t.equal(b.createSandbox, true);
  t.same(b.containersToStart, [1], 'only the failed one runs again');
});

t.test('a changed container spec replaces the running container, even with restartPolicy Never', async (t) => {
  const p = pod({ restartPolicy: 'Never' });
  const running = ctr(p, 'a', 'running', { hash: 'old' });
  const a = computePodActions(p, status([sandbox('ready')], [running, ctr(p, 'b', 'running')]));
  t.same(a.containersToStart, [0]);
  t.equal(a.containersToKill.length, 1);
  t.equal(a.containersToKill[0]!.id, running.id);
  t.match(a.containersToKill[0]!.message, /definition changed, will be restarted/);
});

t.test('a liveness failure of the running instance kills and restarts it; a stale one is ignored', async (t) => {
  const p = pod();
  const a1 = ctr(p, 'a', 'running');
  const failures = new Map([['a', { containerId: a1.id, type: 'liveness' as const, message: 'HTTP probe failed with statuscode: 500' }]]);
  const a = computePodActions(p, status([sandbox('ready')], [a1, ctr(p, 'b', 'running')]), failures);
  t.same(a.containersToStart, [0]);
  t.equal(a.containersToKill[0]!.reason, 'LivenessProbeFailed');
  t.match(a.containersToKill[0]!.message, /failed liveness probe: HTTP probe failed with statuscode: 500, will be restarted/);
  const stale = new Map([['a', { containerId: 'an-older-instance', type: 'liveness' as const, message: 'x' }]]);
  t.same(computePodActions(p, status([sandbox('ready')], [a1, ctr(p, 'b', 'running')]), stale).containersToKill, []);
  const never = pod({ restartPolicy: 'Never' });
  const n = computePodActions(never, status([sandbox('ready')], [ctr(never, 'a', 'running'), ctr(never, 'b', 'running')]), failures);
  t.same(n.containersToStart, [], 'Never: killed, not restarted');
  t.equal(n.containersToKill.length, 1);
});

t.test('init containers run one at a time, in order, before app containers', async (t) => {
  const p = pod({ initContainers: [{ name: 'i1', image: 'img' }, { name: 'i2', image: 'img' }] });
  const s0 = status([], []);
  const create = computePodActions(p, s0);
  t.equal(create.nextInitContainerToStart?.name, 'i1');
  t.same(create.containersToStart, []);

  const running = computePodActions(p, status([sandbox('ready')], [ctr(p, 'i1', 'running', { isInit: true })]));
  t.equal(running.nextInitContainerToStart, undefined, 'wait for i1 to finish');
  t.same(running.containersToStart, []);

  const next = computePodActions(p, status([sandbox('ready')], [ctr(p, 'i1', 'exited', { exitCode: 0, isInit: true })]));
  t.equal(next.nextInitContainerToStart?.name, 'i2');

  const done = computePodActions(p, status([sandbox('ready')], [ctr(p, 'i2', 'exited', { exitCode: 0, isInit: true }), ctr(p, 'i1', 'exited', { exitCode: 0, isInit: true })]));
  t.equal(done.nextInitContainerToStart, undefined);
  t.same(done.containersToStart, [0, 1]);

  const failed = computePodActions(p, status([sandbox('ready')], [ctr(p, 'i1', 'exited', { exitCode: 1, isInit: true })]));
  t.equal(failed.nextInitContainerToStart?.name, 'i1', 'a failed init container is retried');
  const never = pod({ restartPolicy: 'Never', initContainers: [{ name: 'i1', image: 'img' }] });
  const nf = computePodActions(never, status([sandbox('ready')], [ctr(never, 'i1', 'exited', { exitCode: 1, isInit: true })]));
  t.equal(nf.killPod, true, 'Never: a failed init container fails the pod');
  t.equal(findNextInitContainerToRun(p, status([sandbox('ready')], [ctr(p, 'a', 'running')])).done, true, 'a running app container means init is done');
});

t.test('a container stuck in created is replaced', async (t) => {
  const p = pod();
  const stuck = ctr(p, 'a', 'created');
  const a = computePodActions(p, status([sandbox('ready')], [stuck, ctr(p, 'b', 'running')]));
  t.same(a.containersToStart, [0]);
  t.equal(a.containersToKill[0]?.id, stuck.id);
});

t.test('ephemeral containers (kubectl debug): started once, never restarted, even before initialisation', async (t) => {
  const p = pod({ ephemeralContainers: [{ name: 'debugger', image: 'busybox', targetContainerName: 'a' }] });
  const added = computePodActions(p, status([sandbox('ready')], [ctr(p, 'a', 'running'), ctr(p, 'b', 'running')]));
  t.same([added.ephemeralContainersToStart, added.containersToStart, added.killPod], [[0], [], false], 'added to a running pod: start it, touch nothing else');
  for (const state of ['running', 'exited', 'created'] as const) {
    const seen = computePodActions(p, status([sandbox('ready')], [ctr(p, 'debugger', state), ctr(p, 'a', 'running'), ctr(p, 'b', 'running')]));
    t.same(seen.ephemeralContainersToStart, [], `an ephemeral container the runtime knows (${state}) is not started again`);
  }
  const exitedOk = computePodActions(p, status([sandbox('ready')], [ctr(p, 'debugger', 'exited', { exitCode: 0 }), ctr(p, 'a', 'running'), ctr(p, 'b', 'running')]));
  t.same([exitedOk.containersToKill, exitedOk.killPod], [[], false], 'its exit neither kills nor restarts anything');

  const withInit = pod({ restartPolicy: 'Always', initContainers: [{ name: 'init', image: 'img' }], ephemeralContainers: [{ name: 'debugger', image: 'busybox' }] });
  const initRunning = computePodActions(withInit, status([sandbox('ready')], [ctr(withInit, 'init', 'running', { isInit: true })]));
  t.same(initRunning.ephemeralContainersToStart, [0], 'started while an init container still runs');

  const fresh = computePodActions(p, status([], []));
  t.same([fresh.createSandbox, fresh.ephemeralContainersToStart], [true, []], 'not with a new sandbox (kubelet returns before them)');
  const never = pod({ restartPolicy: 'Never', ephemeralContainers: [{ name: 'debugger', image: 'busybox' }] });
  const done = computePodActions(never, status([sandbox('ready')], [ctr(never, 'a', 'exited'), ctr(never, 'b', 'exited')]));
  t.same([done.killPod, done.ephemeralContainersToStart], [true, []], 'not in a pod being killed');
});
