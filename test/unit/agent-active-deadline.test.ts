// spec.activeDeadlineSeconds: when it falls due, and the Failed/DeadlineExceeded status it leads to.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { activeDeadlineRemainingMs, DEADLINE_EXCEEDED } from '../../agent/pods/active-deadline.js';
import { generatePodStatus } from '../../agent/status/status.js';
import type { RuntimeContainer } from '../../agent/runtime/types.js';

const start = new Date('2026-01-01T00:00:00Z');
const pod = (activeDeadlineSeconds?: number): V1Pod => ({
  metadata: { name: 'p', namespace: 'n', uid: 'u' },
  spec: { activeDeadlineSeconds, containers: [{ name: 'a', image: 'i' }] },
});

t.test('remaining time: from status.startTime; none without a deadline or a start time', async (t) => {
  t.equal(activeDeadlineRemainingMs(pod(30), start, start.getTime() + 10_000), 20_000);
  t.equal(
    activeDeadlineRemainingMs(pod(30), start.toISOString(), start.getTime() + 30_000),
    0,
    'due at exactly the deadline (kubelet: duration >= allowed)',
  );
  t.equal(
    activeDeadlineRemainingMs(pod(5), start, start.getTime() + 60_000),
    -55_000,
    'lowered on a running pod: already past',
  );
  t.equal(activeDeadlineRemainingMs(pod(), start, start.getTime()), undefined);
  t.equal(activeDeadlineRemainingMs(pod(30), undefined, start.getTime()), undefined, 'not started: not counted');
});

t.test('an evicted pod: phase Failed, reason DeadlineExceeded, its stopped containers terminated', async (t) => {
  const killed: RuntimeContainer = {
    id: 'a0',
    name: 'a',
    podUid: 'u',
    attempt: 0,
    hash: '',
    isInit: false,
    image: 'i',
    imageId: 'sha256:x',
    state: 'exited',
    createdAt: start,
    startedAt: start,
    finishedAt: new Date(start.getTime() + 5000),
    exitCode: 137,
    labels: {},
  };
  const s = generatePodStatus({
    pod: pod(5),
    runtime: { uid: 'u', name: 'p', namespace: 'n', sandboxes: [], containers: [killed] },
    waiting: new Map([['a', { reason: 'CrashLoopBackOff' }]]),
    killed: new Map(),
    isReady: () => false,
    isStarted: () => false,
    podIPs: [],
    hostIPs: ['192.168.0.1'],
    sandboxReady: false,
    qosClass: 'BestEffort',
    now: new Date(start.getTime() + 6000),
    firstSeen: start,
    podIsTerminal: true,
    evicted: { ...DEADLINE_EXCEEDED },
  });
  t.match(s, {
    phase: 'Failed',
    reason: 'DeadlineExceeded',
    message: 'Pod was active on the node longer than the specified deadline',
  });
  t.match(s.containerStatuses![0]!.state, { terminated: { exitCode: 137 } }, 'not waiting: it will not run again');
  t.match(
    s.conditions!.find((c) => c.type === 'Ready'),
    { status: 'False', reason: 'PodCompleted' },
  );
  const succeeded = generatePodStatus({
    pod: pod(5),
    runtime: { uid: 'u', name: 'p', namespace: 'n', sandboxes: [], containers: [{ ...killed, exitCode: 0 }] },
    waiting: new Map(),
    killed: new Map(),
    isReady: () => false,
    isStarted: () => false,
    podIPs: [],
    hostIPs: [],
    sandboxReady: false,
    qosClass: 'BestEffort',
    now: start,
    firstSeen: start,
    previous: { phase: 'Succeeded' },
    evicted: { ...DEADLINE_EXCEEDED },
  });
  t.match(succeeded, { phase: 'Succeeded', reason: undefined }, 'a terminal phase is never changed');
});
