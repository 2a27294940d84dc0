// Pod status as Kubernetes defines it, from runtime state, waiting reasons and probe results.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { generatePodStatus, type StatusInput } from '../../agent/status/status.js';
import type { RuntimeContainer } from '../../agent/runtime/types.js';

const at = (s: number) => new Date(Date.UTC(2024, 0, 1, 0, 0, s));
const pod = (spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod => ({
  metadata: { name: 'p', namespace: 'n', uid: 'u' },
  spec: { restartPolicy: 'Always', containers: [{ name: 'a', image: 'img' }], ...spec },
});
const ctr = (
  name: string,
  state: RuntimeContainer['state'],
  attempt = 0,
  extra: Partial<RuntimeContainer> = {},
): RuntimeContainer => ({
  id: `${name}${attempt}`,
  name,
  podUid: 'u',
  attempt,
  hash: '',
  isInit: false,
  image: 'img',
  imageId: 'sha256:abc',
  state,
  createdAt: at(attempt * 10),
  startedAt: at(attempt * 10 + 1),
  ...(state === 'exited' ? { finishedAt: at(attempt * 10 + 5), exitCode: 1 } : {}),
  labels: {},
  ...extra,
});
function input(p: V1Pod, containers: RuntimeContainer[], more: Partial<StatusInput> = {}): StatusInput {
  return {
    pod: p,
    runtime: {
      uid: 'u',
      name: 'p',
      namespace: 'n',
      sandboxes: [
        { id: 's', podUid: 'u', attempt: 0, state: 'ready', createdAt: at(0), hostNetwork: false, labels: {} },
      ],
      containers,
    },
    waiting: new Map(),
    killed: new Map(),
    isReady: () => true,
    isStarted: () => true,
    podIPs: ['10.0.0.2'],
    hostIPs: ['192.168.0.1'],
    sandboxReady: true,
    qosClass: 'BestEffort',
    now: at(100),
    firstSeen: at(0),
    ...more,
  };
}
const cond = (s: ReturnType<typeof generatePodStatus>, type: string) => s.conditions!.find((c) => c.type === type)!;

t.test('a running, ready pod', async (t) => {
  const s = generatePodStatus(input(pod(), [ctr('a', 'running')]));
  t.equal(s.phase, 'Running');
  t.same(
    s.conditions!.map((c) => [c.type, c.status]),
    [
      ['PodReadyToStartContainers', 'True'],
      ['Initialized', 'True'],
      ['Ready', 'True'],
      ['ContainersReady', 'True'],
      ['PodScheduled', 'True'],
    ],
  );
  const c = s.containerStatuses![0]!;
  t.match(c, {
    name: 'a',
    image: 'img',
    imageID: 'docker://sha256:abc',
    containerID: 'docker://a0',
    ready: true,
    started: true,
    restartCount: 0,
    state: { running: { startedAt: at(1) } },
  });
  t.equal(s.podIP, '10.0.0.2');
  t.same(s.podIPs, [{ ip: '10.0.0.2' }]);
  t.equal(s.hostIP, '192.168.0.1');
  t.equal(s.qosClass, 'BestEffort');
  t.same(s.startTime, at(0));
});

t.test('readiness from the prober', async (t) => {
  const s = generatePodStatus(input(pod(), [ctr('a', 'running')], { isReady: () => false }));
  t.equal(s.containerStatuses![0]!.ready, false);
  t.match(cond(s, 'Ready'), {
    status: 'False',
    reason: 'ContainersNotReady',
    message: 'containers with unready status: [a]',
  });
  const notStarted = generatePodStatus(input(pod(), [ctr('a', 'running')], { isStarted: () => false }));
  t.equal(notStarted.containerStatuses![0]!.started, false);
  t.equal(notStarted.containerStatuses![0]!.ready, false, 'not ready before the startup probe succeeds');
});

t.test('crash loop: waiting CrashLoopBackOff, lastState terminated, restartCount', async (t) => {
  const s = generatePodStatus(
    input(pod(), [ctr('a', 'exited', 3)], {
      waiting: new Map([['a', { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=a' }]]),
    }),
  );
  const c = s.containerStatuses![0]!;
  t.equal(c.restartCount, 3);
  t.same(c.state, { waiting: { reason: 'CrashLoopBackOff', message: 'back-off 40s restarting failed container=a' } });
  t.match(c.lastState, { terminated: { exitCode: 1, reason: 'Error', containerID: 'docker://a3' } });
  t.equal(s.phase, 'Running', 'Always: a crash-looping pod is Running');
  const restarted = generatePodStatus(
    input(pod(), [ctr('a', 'running', 4), ctr('a', 'exited', 3, { oomKilled: true, exitCode: 137 })]),
  );
  t.match(restarted.containerStatuses![0]!.lastState, { terminated: { reason: 'OOMKilled', exitCode: 137 } });
});

t.test('phases for finished pods', async (t) => {
  const never = pod({
    restartPolicy: 'Never',
    containers: [
      { name: 'a', image: 'i' },
      { name: 'b', image: 'i' },
    ],
  });
  const ok = generatePodStatus(
    input(never, [ctr('a', 'exited', 0, { exitCode: 0 }), ctr('b', 'exited', 0, { exitCode: 0 })], {
      sandboxReady: false,
    }),
  );
  t.equal(ok.phase, 'Succeeded');
  t.match(cond(ok, 'Ready'), { status: 'False', reason: 'PodCompleted' });
  t.match(ok.containerStatuses![0]!.state, { terminated: { reason: 'Completed', exitCode: 0 } });
  t.equal(
    generatePodStatus(input(never, [ctr('a', 'exited', 0, { exitCode: 0 }), ctr('b', 'exited')])).phase,
    'Failed',
  );
  t.equal(
    generatePodStatus(input(never, [ctr('a', 'exited', 0, { exitCode: 0 }), ctr('b', 'running')])).phase,
    'Running',
  );
  t.equal(
    generatePodStatus(input(pod({ restartPolicy: 'OnFailure' }), [ctr('a', 'exited')])).phase,
    'Running',
    'OnFailure: a failed container will run again',
  );
  t.equal(
    generatePodStatus(input(never, [ctr('a', 'running')], { previous: { phase: 'Succeeded' } })).phase,
    'Succeeded',
    'terminal phases stay',
  );
});

t.test('pending: waiting reasons, init containers, transition times kept', async (t) => {
  const p = pod({ initContainers: [{ name: 'i', image: 'img' }] });
  const s = generatePodStatus(input(p, [ctr('i', 'running', 0, { isInit: true })]));
  t.equal(s.phase, 'Pending');
  t.match(cond(s, 'Initialized'), {
    status: 'False',
    reason: 'ContainersNotInitialized',
    message: 'containers with incomplete status: [i]',
  });
  t.same(s.containerStatuses![0]!.state, { waiting: { reason: 'PodInitializing' } });
  t.match(s.initContainerStatuses![0]!.state, { running: {} });
  const pull = generatePodStatus(
    input(pod(), [], {
      waiting: new Map([['a', { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' }]]),
    }),
  );
  t.equal(pull.phase, 'Pending');
  t.same(pull.containerStatuses![0]!.state, {
    waiting: { reason: 'ImagePullBackOff', message: 'Back-off pulling image "x"' },
  });
  const later = generatePodStatus(input(p, [ctr('i', 'running', 0, { isInit: true })], { previous: s, now: at(200) }));
  t.same(cond(later, 'Initialized').lastTransitionTime, at(100), 'unchanged condition keeps its transition time');
  const done = generatePodStatus(
    input(p, [ctr('a', 'running'), ctr('i', 'exited', 0, { exitCode: 0, isInit: true })], {
      previous: s,
      now: at(300),
    }),
  );
  t.match(cond(done, 'Initialized'), { status: 'True', lastTransitionTime: at(300) });
});

t.test('init containers: ready once completed (exit 0), as kubelet', async (t) => {
  const p = pod({
    initContainers: [
      { name: 'i1', image: 'img' },
      { name: 'i2', image: 'img' },
    ],
  });
  const running = generatePodStatus(
    input(p, [ctr('i2', 'running', 0, { isInit: true }), ctr('i1', 'exited', 0, { exitCode: 0, isInit: true })]),
  );
  t.same(
    running.initContainerStatuses!.map((s) => [s.name, s.ready, s.started]),
    [
      ['i1', true, false],
      ['i2', false, true],
    ],
    'completed: ready, not started; running: not ready yet',
  );
  const failed = generatePodStatus(input(p, [ctr('i1', 'exited', 0, { exitCode: 1, isInit: true })]));
  t.equal(failed.initContainerStatuses![0]!.ready, false, 'failed: not ready');
  const done = generatePodStatus(
    input(p, [
      ctr('a', 'running'),
      ctr('i2', 'exited', 0, { exitCode: 0, isInit: true }),
      ctr('i1', 'exited', 0, { exitCode: 0, isInit: true }),
    ]),
  );
  t.same(
    done.initContainerStatuses!.map((s) => s.ready),
    [true, true],
  );
  const final = generatePodStatus(
    input(
      p,
      [
        ctr('a', 'exited', 0, { exitCode: 0 }),
        ctr('i2', 'exited', 0, { exitCode: 0, isInit: true }),
        ctr('i1', 'exited', 0, { exitCode: 0, isInit: true }),
      ],
      { podIsTerminal: true, isReady: () => false },
    ),
  );
  t.same(
    [final.initContainerStatuses!.map((s) => s.ready), final.containerStatuses![0]!.ready],
    [[true, true], false],
    'in the final status too (app containers are not)',
  );
  const sidecar = generatePodStatus(
    input(
      pod({ initContainers: [{ name: 's', image: 'img', restartPolicy: 'Always' }] }),
      [ctr('s', 'exited', 0, { exitCode: 0, isInit: true })],
      { waiting: new Map() },
    ),
  );
  t.equal(sidecar.initContainerStatuses![0]!.ready, false, 'a sidecar that exited is not ready');
});

t.test('termination and kill messages', async (t) => {
  const p = pod({ restartPolicy: 'Never' });
  const s = generatePodStatus(
    input(p, [ctr('a', 'exited')], {
      killed: new Map([['a0', { message: 'Container a failed liveness probe: timeout' }]]),
    }),
  );
  t.match(s.containerStatuses![0]!.state, { terminated: { message: 'Container a failed liveness probe: timeout' } });
  const m = generatePodStatus(input(p, [ctr('a', 'exited')], { terminationMessages: new Map([['a0', 'disk full']]) }));
  t.match(m.containerStatuses![0]!.state, { terminated: { message: 'disk full' } });
});

t.test('the final status of a terminated pod: terminal phase whatever the restart policy', async (t) => {
  const term = { podIsTerminal: true, sandboxReady: false, isReady: () => false };
  // restartPolicy Always, a container that trapped SIGTERM and exited 0: Succeeded.
  const clean = generatePodStatus(input(pod(), [ctr('a', 'exited', 0, { exitCode: 0 })], term));
  t.equal(clean.phase, 'Succeeded', 'all exited 0: Succeeded, although restartPolicy is Always');
  t.match(clean.containerStatuses![0]!, {
    ready: false,
    started: false,
    state: { terminated: { exitCode: 0, reason: 'Completed', finishedAt: at(5), containerID: 'docker://a0' } },
  });
  t.match(cond(clean, 'Ready'), { status: 'False', reason: 'PodCompleted' });
  t.match(cond(clean, 'ContainersReady'), { status: 'False', reason: 'PodCompleted' });
  // Killed by SIGTERM (143) or SIGKILL (137): Failed, the exit code and Error reason kept.
  for (const code of [143, 137]) {
    const s = generatePodStatus(input(pod(), [ctr('a', 'exited', 0, { exitCode: code })], term));
    t.equal(s.phase, 'Failed', `exit ${code}: Failed`);
    t.match(s.containerStatuses![0]!.state, { terminated: { exitCode: code, reason: 'Error' } });
  }
  // One of two failed.
  const two = pod({
    containers: [
      { name: 'a', image: 'i' },
      { name: 'b', image: 'i' },
    ],
  });
  t.equal(
    generatePodStatus(
      input(two, [ctr('a', 'exited', 0, { exitCode: 0 }), ctr('b', 'exited', 0, { exitCode: 2 })], term),
    ).phase,
    'Failed',
  );
  // A back-off waiting reason does not hide the end of the last instance.
  const looping = generatePodStatus(
    input(pod(), [ctr('a', 'exited', 2, { exitCode: 1 })], {
      ...term,
      waiting: new Map([['a', { reason: 'CrashLoopBackOff' }]]),
    }),
  );
  t.match(looping.containerStatuses![0]!.state, { terminated: { exitCode: 1, containerID: 'docker://a2' } });
  t.equal(looping.phase, 'Failed');
  // A container that never ran: ContainerStatusUnknown 137, and the pod Failed.
  const never = generatePodStatus(input(two, [ctr('a', 'exited', 0, { exitCode: 0 })], term));
  t.match(never.containerStatuses![1]!.state, { terminated: { exitCode: 137, reason: 'ContainerStatusUnknown' } });
  t.equal(never.phase, 'Failed');
  // The same pod not terminal: Always restarts it, so it is Running.
  t.equal(
    generatePodStatus(input(pod(), [ctr('a', 'exited', 0, { exitCode: 0 })], { sandboxReady: false })).phase,
    'Running',
  );
  // A phase once terminal stays.
  const prev = generatePodStatus(input(pod(), [ctr('a', 'exited', 0, { exitCode: 1 })], term));
  t.equal(
    generatePodStatus(input(pod(), [ctr('a', 'exited', 0, { exitCode: 0 })], { ...term, previous: prev })).phase,
    'Failed',
  );
});

t.test(
  'ephemeral containers: reported in ephemeralContainerStatuses, never ready, outside phase and readiness',
  async (t) => {
    const p = pod({
      ephemeralContainers: [
        { name: 'debugger', image: 'busybox' },
        { name: 'later', image: 'busybox' },
      ],
    });
    const s = generatePodStatus(input(p, [ctr('a', 'running'), ctr('debugger', 'running')]));
    t.same(
      s.ephemeralContainerStatuses!.map((c) => [c.name, Object.keys(c.state!)[0], c.ready, c.started]),
      [
        ['debugger', 'running', false, undefined],
        ['later', 'waiting', false, undefined],
      ],
    );
    t.equal(s.ephemeralContainerStatuses![1]!.state!.waiting!.reason, 'ContainerCreating');
    t.same(
      [s.phase, cond(s, 'Ready').status],
      ['Running', 'True'],
      'an unready or waiting debugger does not make the pod unready or pending',
    );
    const ended = generatePodStatus(input(p, [ctr('a', 'running'), { ...ctr('debugger', 'exited'), exitCode: 0 }]));
    t.match(
      ended.ephemeralContainerStatuses![0]!.state,
      { terminated: { exitCode: 0, reason: 'Completed' } },
      'its end is terminated, as any container',
    );
    t.equal(ended.phase, 'Running', 'and does not end the pod');
    t.equal(
      generatePodStatus(input(pod(), [ctr('a', 'running')])).ephemeralContainerStatuses,
      undefined,
      'no ephemeral containers: no field',
    );
  },
);

t.test(
  "native sidecars: started/ready from probes, Initialized once started, counted in ContainersReady, ignored for a finished pod's phase",
  async (t) => {
    const spec = (restartPolicy: 'Always' | 'Never') =>
      pod({
        restartPolicy,
        initContainers: [
          { name: 'sc', image: 'img', restartPolicy: 'Always' },
          { name: 'init', image: 'img' },
        ],
      });
    const p = spec('Always');
    // The sidecar started, the regular init container runs: what kubectl shows as Init:1/2.
    const initRunning = generatePodStatus(input(p, [ctr('init', 'running'), ctr('sc', 'running')]));
    t.equal(initRunning.phase, 'Pending');
    t.match(initRunning.initContainerStatuses, [
      { name: 'sc', started: true, ready: true, state: { running: {} } },
      { name: 'init', ready: false, state: { running: {} } },
    ]);
    const unprobed = generatePodStatus(
      input(p, [ctr('init', 'running'), ctr('sc', 'running')], { isStarted: (n) => n === 'sc' }),
    );
    t.equal(
      unprobed.initContainerStatuses![1]!.started,
      true,
      'a running regular init container is started (it has no probes), as kubelet reports it',
    );
    t.match(cond(initRunning, 'Initialized'), {
      status: 'False',
      message: 'containers with incomplete status: [init]',
    });
    // Not started yet (startup probe pending): Pending, not initialised, not ready.
    const notStarted = generatePodStatus(input(p, [ctr('sc', 'running')], { isStarted: (n) => n !== 'sc' }));
    t.equal(notStarted.phase, 'Pending');
    t.match(notStarted.initContainerStatuses![0], { started: false, ready: false });
    t.match(cond(notStarted, 'Initialized'), {
      status: 'False',
      message: 'containers with incomplete status: [sc init]',
    });
    // Running: app and sidecar ready; the sidecar's readiness counts.
    const running = [ctr('a', 'running'), ctr('init', 'exited', 0, { exitCode: 0 }), ctr('sc', 'running')];
    const ok = generatePodStatus(input(p, running));
    t.equal(ok.phase, 'Running');
    t.match(
      [cond(ok, 'Initialized').status, cond(ok, 'Ready').status, cond(ok, 'ContainersReady').status],
      ['True', 'True', 'True'],
    );
    const scUnready = generatePodStatus(input(p, running, { isReady: (n) => n !== 'sc' }));
    t.match(scUnready.initContainerStatuses![0], { ready: false, started: true });
    t.match(cond(scUnready, 'Ready'), {
      status: 'False',
      reason: 'ContainersNotReady',
      message: 'containers with unready status: [sc]',
    });
    t.match(cond(scUnready, 'ContainersReady'), { status: 'False', message: 'containers with unready status: [sc]' });
    // A sidecar restarting after initialisation keeps the pod Running and Initialized.
    const restarting = generatePodStatus(
      input(
        p,
        [ctr('a', 'running'), ctr('init', 'exited', 0, { exitCode: 0 }), ctr('sc', 'exited', 1, { exitCode: 137 })],
        { waiting: new Map([['sc', { reason: 'CrashLoopBackOff' }]]) },
      ),
    );
    t.equal(restarting.phase, 'Running');
    t.equal(cond(restarting, 'Initialized').status, 'True');
    t.match(cond(restarting, 'Ready'), { status: 'False', message: 'containers with unready status: [sc]' });
    // Never: the app completed, the sidecar still runs (Running), then is stopped (Succeeded by the app alone).
    const never = spec('Never');
    const appDone = [ctr('a', 'exited', 0, { exitCode: 0 }), ctr('init', 'exited', 0, { exitCode: 0 })];
    t.equal(generatePodStatus(input(never, [...appDone, ctr('sc', 'running')])).phase, 'Running');
    t.equal(
      generatePodStatus(input(never, [...appDone, ctr('sc', 'exited', 0, { exitCode: 137 })])).phase,
      'Succeeded',
    );
    t.equal(
      generatePodStatus(
        input(never, [ctr('a', 'exited', 0, { exitCode: 2 }), appDone[1]!, ctr('sc', 'exited', 0, { exitCode: 0 })]),
      ).phase,
      'Failed',
    );
    t.equal(
      generatePodStatus(input(never, [...appDone, ctr('sc', 'exited', 0, { exitCode: 137 })], { podIsTerminal: true }))
        .phase,
      'Succeeded',
      'terminal: the sidecar stopped by the kill does not fail the pod',
    );
  },
);
