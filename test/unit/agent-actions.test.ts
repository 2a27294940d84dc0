// computePodActions: the pure decision of what to create, start and kill, in kubelet's shape.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { computePodActions } from '../../agent/pods/actions.js';
import { containerHash } from '../../agent/pods/container-hash.js';
import { findNextInitContainerToRun } from '../../agent/pods/init-container-actions.js';
import type { PodRuntimeStatus, RuntimeContainer, RuntimeSandbox } from '../../agent/runtime/types.js';
import { sandboxNetworkProblem } from '../../agent/runtime/network-state.js';

const at = (s: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, s));

function pod(spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod {
  return {
    metadata: { name: 'p', namespace: 'ns', uid: 'u1' },
    spec: {
      restartPolicy: 'Always',
      containers: [
        { name: 'a', image: 'img' },
        { name: 'b', image: 'img' },
      ],
      ...spec,
    },
  };
}

function sandbox(state: 'ready' | 'notready', attempt = 0, id = `sb${attempt}`): RuntimeSandbox {
  return { id, podUid: 'u1', attempt, state, createdAt: at(attempt), hostNetwork: false, labels: {} };
}

function ctr(
  p: V1Pod,
  name: string,
  state: RuntimeContainer['state'],
  extra: Partial<RuntimeContainer> = {},
): RuntimeContainer {
  const spec = [...(p.spec!.initContainers ?? []), ...p.spec!.containers, ...(p.spec!.ephemeralContainers ?? [])].find(
    (c) => c.name === name,
  )!;
  return {
    id: `${name}-${extra.attempt ?? 0}`,
    name,
    podUid: 'u1',
    attempt: 0,
    hash: containerHash(spec),
    isInit: false,
    image: 'img',
    imageId: 'sha256:x',
    state,
    createdAt: at(10 + (extra.attempt ?? 0)),
    labels: {},
    ...(state === 'exited' ? { exitCode: 1, finishedAt: at(20) } : {}),
    ...extra,
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

t.test('a running sandbox without its network (agent killed before CNI ADD finished) is replaced', async (t) => {
  const p = pod();
  const noNet = {
    ...sandbox('ready', 0),
    networkProblem: 'the sandbox has no IP address (its CNI ADD never completed)',
  };
  const a = computePodActions(p, status([noNet], []));
  t.equal(a.killPod, true, 'the sandbox is stopped (CNI DEL) first');
  t.equal(a.createSandbox, true);
  t.equal(a.attempt, 1);
  t.equal(a.sandboxId, 'sb0', 'the old one is named: SandboxChanged');
  t.match(a.reason, /no IP address/);
  t.same(a.containersToStart, [0, 1]);
  const host = computePodActions(pod({ hostNetwork: true }), status([{ ...noNet, hostNetwork: true }], []));
  t.equal(host.createSandbox, false, 'a hostNetwork sandbox has no pod network to lack');
});

t.test('two running sandboxes: recreate', async (t) => {
  const a = computePodActions(pod(), status([sandbox('ready', 1, 'x'), sandbox('ready', 0, 'y')], []));
  t.equal(a.createSandbox, true);
  t.match(a.reason, /2 sandboxes/);
});

t.test('restartPolicy decides which exited containers start again', async (t) => {
  for (const [policy, exitCode, restart] of [
    ['Always', 0, true],
    ['Always', 1, true],
    ['OnFailure', 0, false],
    ['OnFailure', 2, true],
    ['Never', 0, false],
    ['Never', 1, false],
  ] as const) {
    const p = pod({ restartPolicy: policy });
    const a = computePodActions(
      p,
      status([sandbox('ready')], [ctr(p, 'a', 'exited', { exitCode }), ctr(p, 'b', 'running')]),
    );
    t.same(a.containersToStart, restart ? [0] : [], `${policy} exit ${exitCode}`);
    t.equal(a.killPod, false, 'b still runs: the pod stays');
  }
});

t.test('everything finished and nothing to restart: kill the pod (sandbox goes, IP is released)', async (t) => {
  const p = pod({ restartPolicy: 'Never' });
  const a = computePodActions(
    p,
    status([sandbox('ready')], [ctr(p, 'a', 'exited', { exitCode: 0 }), ctr(p, 'b', 'exited', { exitCode: 1 })]),
  );
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
  const a = computePodActions(
    p,
    status([sandbox('notready')], [ctr(p, 'a', 'exited', { exitCode: 0 }), ctr(p, 'b', 'exited', { exitCode: 0 })]),
  );
  t.equal(a.createSandbox, false);
  const b = computePodActions(
    p,
    status([sandbox('notready')], [ctr(p, 'a', 'exited', { exitCode: 0 }), ctr(p, 'b', 'exited', { exitCode: 3 })]),
  );
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
  const failures = new Map([
    ['a', { containerId: a1.id, type: 'liveness' as const, message: 'HTTP probe failed with statuscode: 500' }],
  ]);
  const a = computePodActions(p, status([sandbox('ready')], [a1, ctr(p, 'b', 'running')]), failures);
  t.same(a.containersToStart, [0]);
  t.equal(a.containersToKill[0]!.reason, 'LivenessProbeFailed');
  t.match(
    a.containersToKill[0]!.message,
    /failed liveness probe: HTTP probe failed with statuscode: 500, will be restarted/,
  );
  const stale = new Map([['a', { containerId: 'an-older-instance', type: 'liveness' as const, message: 'x' }]]);
  t.same(computePodActions(p, status([sandbox('ready')], [a1, ctr(p, 'b', 'running')]), stale).containersToKill, []);
  const never = pod({ restartPolicy: 'Never' });
  const n = computePodActions(
    never,
    status([sandbox('ready')], [ctr(never, 'a', 'running'), ctr(never, 'b', 'running')]),
    failures,
  );
  t.same(n.containersToStart, [], 'Never: killed, not restarted');
  t.equal(n.containersToKill.length, 1);
});

t.test('init containers run one at a time, in order, before app containers', async (t) => {
  const p = pod({
    initContainers: [
      { name: 'i1', image: 'img' },
      { name: 'i2', image: 'img' },
    ],
  });
  const s0 = status([], []);
  const create = computePodActions(p, s0);
  t.same(create.initContainersToStart, [0]);
  t.same(create.containersToStart, []);

  const running = computePodActions(p, status([sandbox('ready')], [ctr(p, 'i1', 'running', { isInit: true })]));
  t.same(running.initContainersToStart, [], 'wait for i1 to finish');
  t.same(running.containersToStart, []);

  const next = computePodActions(
    p,
    status([sandbox('ready')], [ctr(p, 'i1', 'exited', { exitCode: 0, isInit: true })]),
  );
  t.same(next.initContainersToStart, [1]);

  const done = computePodActions(
    p,
    status(
      [sandbox('ready')],
      [ctr(p, 'i2', 'exited', { exitCode: 0, isInit: true }), ctr(p, 'i1', 'exited', { exitCode: 0, isInit: true })],
    ),
  );
  t.same(done.initContainersToStart, []);
  t.same(done.containersToStart, [0, 1]);

  const failed = computePodActions(
    p,
    status([sandbox('ready')], [ctr(p, 'i1', 'exited', { exitCode: 1, isInit: true })]),
  );
  t.same(failed.initContainersToStart, [0], 'a failed init container is retried');
  const never = pod({ restartPolicy: 'Never', initContainers: [{ name: 'i1', image: 'img' }] });
  const nf = computePodActions(
    never,
    status([sandbox('ready')], [ctr(never, 'i1', 'exited', { exitCode: 1, isInit: true })]),
  );
  t.equal(nf.killPod, true, 'Never: a failed init container fails the pod');
  t.equal(
    findNextInitContainerToRun(p, status([sandbox('ready')], [ctr(p, 'a', 'running')])).done,
    true,
    'a running app container means init is done',
  );
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
  t.same(
    [added.ephemeralContainersToStart, added.containersToStart, added.killPod],
    [[0], [], false],
    'added to a running pod: start it, touch nothing else',
  );
  for (const state of ['running', 'exited', 'created'] as const) {
    const seen = computePodActions(
      p,
      status([sandbox('ready')], [ctr(p, 'debugger', state), ctr(p, 'a', 'running'), ctr(p, 'b', 'running')]),
    );
    t.same(
      seen.ephemeralContainersToStart,
      [],
      `an ephemeral container the runtime knows (${state}) is not started again`,
    );
  }
  const exitedOk = computePodActions(
    p,
    status(
      [sandbox('ready')],
      [ctr(p, 'debugger', 'exited', { exitCode: 0 }), ctr(p, 'a', 'running'), ctr(p, 'b', 'running')],
    ),
  );
  t.same([exitedOk.containersToKill, exitedOk.killPod], [[], false], 'its exit neither kills nor restarts anything');

  const withInit = pod({
    restartPolicy: 'Always',
    initContainers: [{ name: 'init', image: 'img' }],
    ephemeralContainers: [{ name: 'debugger', image: 'busybox' }],
  });
  const initRunning = computePodActions(
    withInit,
    status([sandbox('ready')], [ctr(withInit, 'init', 'running', { isInit: true })]),
  );
  t.same(initRunning.ephemeralContainersToStart, [0], 'started while an init container still runs');

  const fresh = computePodActions(p, status([], []));
  t.same(
    [fresh.createSandbox, fresh.ephemeralContainersToStart],
    [true, []],
    'not with a new sandbox (kubelet returns before them)',
  );
  const never = pod({ restartPolicy: 'Never', ephemeralContainers: [{ name: 'debugger', image: 'busybox' }] });
  const done = computePodActions(
    never,
    status([sandbox('ready')], [ctr(never, 'a', 'exited'), ctr(never, 'b', 'exited')]),
  );
  t.same([done.killPod, done.ephemeralContainersToStart], [true, []], 'not in a pod being killed');
});

// Native sidecars (init containers with restartPolicy Always), as kubelet's computeInitContainerActions.
const sidecarPod = (restartPolicy: 'Always' | 'OnFailure' | 'Never' = 'Always', startupProbe = false) =>
  pod({
    restartPolicy,
    initContainers: [
      {
        name: 'sc',
        image: 'img',
        restartPolicy: 'Always',
        ...(startupProbe ? { startupProbe: { exec: { command: ['true'] } } } : {}),
      },
      { name: 'init', image: 'img' },
    ],
    containers: [{ name: 'a', image: 'img' }],
  });

t.test('sidecars: the next init container starts once the sidecar is started, not when it exits', async (t) => {
  const p = sidecarPod();
  t.same(computePodActions(p, status([], [])).initContainersToStart, [0], 'a new pod starts the sidecar first');
  const scRunning = ctr(p, 'sc', 'running', { isInit: true });
  const a = computePodActions(p, status([sandbox('ready')], [scRunning]));
  t.same(
    [a.initContainersToStart, a.containersToStart, a.containersToKill, a.killPod],
    [[1], [], [], false],
    'sidecar running: start the regular init container',
  );
  const initRunning = computePodActions(
    p,
    status([sandbox('ready')], [ctr(p, 'init', 'running', { isInit: true }), scRunning]),
  );
  t.same(
    [initRunning.initContainersToStart, initRunning.containersToStart],
    [[], []],
    'the regular init container runs: wait',
  );
  const initDone = computePodActions(
    p,
    status([sandbox('ready')], [ctr(p, 'init', 'exited', { isInit: true, exitCode: 0 }), scRunning]),
  );
  t.same(
    [initDone.initContainersToStart, initDone.containersToStart, initDone.killPod],
    [[], [0], false],
    'initialised: the app starts, the sidecar keeps running',
  );
  const all = computePodActions(
    p,
    status(
      [sandbox('ready')],
      [ctr(p, 'a', 'running'), ctr(p, 'init', 'exited', { isInit: true, exitCode: 0 }), scRunning],
    ),
  );
  t.same(
    [all.initContainersToStart, all.containersToStart, all.containersToKill, all.killPod],
    [[], [], [], false],
    'steady state: nothing to do',
  );
});

t.test(
  'sidecars: a startupProbe holds the next init container until it succeeds; its failure restarts the sidecar',
  async (t) => {
    const p = sidecarPod('Always', true);
    const sc = ctr(p, 'sc', 'running', { isInit: true });
    const s = status([sandbox('ready')], [sc]);
    t.same(computePodActions(p, s).initContainersToStart, [], 'startup probe not yet passed: wait');
    t.same(
      computePodActions(p, s, { failures: new Map(), startupSucceeded: new Set(['other']) }).initContainersToStart,
      [],
      'another instance passing does not count',
    );
    t.same(
      computePodActions(p, s, { failures: new Map(), startupSucceeded: new Set([sc.id]) }).initContainersToStart,
      [1],
      'passed: next init container',
    );
    const failed = computePodActions(p, s, {
      failures: new Map([['sc', { containerId: sc.id, type: 'startup' as const, message: 'exit 1' }]]),
      startupSucceeded: new Set(),
    });
    t.same(failed.initContainersToStart, [0]);
    t.match(failed.containersToKill, [{ id: sc.id, name: 'sc', reason: 'StartupProbeFailed' }]);
  },
);

t.test(
  'sidecars: restarted when they exit, whatever the pod restartPolicy; liveness failures and spec changes restart them',
  async (t) => {
    for (const policy of ['Always', 'OnFailure', 'Never'] as const) {
      const p = sidecarPod(policy);
      for (const exitCode of [0, 137]) {
        const a = computePodActions(
          p,
          status(
            [sandbox('ready')],
            [
              ctr(p, 'a', 'running'),
              ctr(p, 'init', 'exited', { isInit: true, exitCode: 0 }),
              ctr(p, 'sc', 'exited', { isInit: true, exitCode }),
            ],
          ),
        );
        t.same(
          [a.initContainersToStart, a.containersToStart, a.killPod],
          [[0], [], false],
          `${policy}, exit ${exitCode}: the sidecar alone is restarted`,
        );
      }
      // Its instance removed from the runtime after initialisation: started again, the regular init container not.
      const gone = computePodActions(p, status([sandbox('ready')], [ctr(p, 'a', 'running')]));
      t.same(
        gone.initContainersToStart,
        [0],
        `${policy}: a sidecar gone from the runtime is started again, not the init container`,
      );
    }
    const p = sidecarPod();
    const sc = ctr(p, 'sc', 'running', { isInit: true });
    const base = [ctr(p, 'a', 'running'), ctr(p, 'init', 'exited', { isInit: true, exitCode: 0 }), sc];
    const live = computePodActions(
      p,
      status([sandbox('ready')], base),
      new Map([['sc', { containerId: sc.id, type: 'liveness' as const, message: 'timeout' }]]),
    );
    t.same(live.initContainersToStart, [0], 'liveness failure: restart');
    t.match(live.containersToKill, [{ id: sc.id, reason: 'LivenessProbeFailed' }]);
    t.equal(live.killPod, false);
    const changed = computePodActions(p, status([sandbox('ready')], [base[0]!, base[1]!, { ...sc, hash: 'old' }]));
    t.same(
      [changed.initContainersToStart, changed.containersToKill.map((k) => k.id)],
      [[0], [sc.id]],
      'definition changed: replaced',
    );
    // Before initialisation, a sidecar that exited is restarted and the next init container waits for it.
    const early = computePodActions(
      p,
      status([sandbox('ready')], [ctr(p, 'sc', 'exited', { isInit: true, exitCode: 1 })]),
    );
    t.same(early.initContainersToStart, [0]);
  },
);

t.test(
  'sidecars: the app containers done (Never/OnFailure) kills the pod, sidecars included, and they are not restarted',
  async (t) => {
    for (const policy of ['OnFailure', 'Never'] as const) {
      const p = sidecarPod(policy);
      const a = computePodActions(
        p,
        status(
          [sandbox('ready')],
          [
            ctr(p, 'a', 'exited', { exitCode: 0 }),
            ctr(p, 'init', 'exited', { isInit: true, exitCode: 0 }),
            ctr(p, 'sc', 'running', { isInit: true }),
          ],
        ),
      );
      t.same([a.killPod, a.initContainersToStart, a.containersToStart], [true, [], []], `${policy}: the pod is done`);
      // Afterwards (sandbox stopped, sidecar killed with 137): no new sandbox, nothing started.
      const after = computePodActions(
        p,
        status(
          [sandbox('notready')],
          [
            ctr(p, 'a', 'exited', { exitCode: 0 }),
            ctr(p, 'init', 'exited', { isInit: true, exitCode: 0 }),
            ctr(p, 'sc', 'exited', { isInit: true, exitCode: 137 }),
          ],
        ),
      );
      t.same(
        [after.createSandbox, after.initContainersToStart, after.containersToStart],
        [false, [], []],
        `${policy}: a stopped sidecar does not make the pod unfinished`,
      );
    }
    const never = sidecarPod('Never');
    const failedInit = computePodActions(
      never,
      status(
        [sandbox('ready')],
        [ctr(never, 'init', 'exited', { isInit: true, exitCode: 2 }), ctr(never, 'sc', 'running', { isInit: true })],
      ),
    );
    t.same(
      [failedInit.killPod, failedInit.initContainersToStart],
      [true, []],
      'Never: a failed regular init container fails the pod, sidecar and all',
    );
  },
);

t.test("sandboxNetworkProblem: what makes a running sandbox's network unusable", async (t) => {
  const net = { podUid: 'u1', ips: ['10.0.0.2'], netnsPath: '/proc/42/ns/net', tornDown: false };
  t.equal(sandboxNetworkProblem(net, 42), undefined, 'recorded IPs, same process: set up');
  t.match(sandboxNetworkProblem({ ...net, ips: [] }, 42), /no IP address/, 'ADD never recorded its result');
  t.match(
    sandboxNetworkProblem(net, 43),
    /namespace is not the one/,
    'the sandbox process (and its namespace) was replaced',
  );
  t.match(sandboxNetworkProblem({ ...net, tornDown: true }, 42), /torn down/);
});
