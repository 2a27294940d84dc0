// Pure parts of the agent's apiserver side: how an API pod becomes a desired pod (source
// annotation, deletion grace period), the final status of a terminated pod, the mirror pod of a
// static pod, and the status cache key.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { desiredFromApi, isMirror } from '../../agent/apiserver/pod-source.js';
import { terminalPodStatus } from '../../agent/status/terminal.js';
import { mirrorPodFor } from '../../agent/apiserver/mirror-pods.js';
import { statusKey } from '../../agent/apiserver/status-writer.js';

const apiPod = (extra: Partial<V1Pod['metadata']> = {}): V1Pod => ({
  metadata: { name: 'web', namespace: 'default', uid: 'u1', annotations: { a: 'b' }, ...extra },
  spec: { terminationGracePeriodSeconds: 30, containers: [{ name: 'c', image: 'i' }] },
  status: { phase: 'Running' },
});

t.test('desiredFromApi marks the source and drops the API status', async (t) => {
  const d = desiredFromApi(apiPod());
  t.equal(d.metadata?.annotations?.['kubernetes.io/config.source'], 'api');
  t.equal(d.metadata?.annotations?.a, 'b', 'other annotations kept');
  t.equal(d.status, undefined);
  t.equal(d.spec?.terminationGracePeriodSeconds, 30);
});

t.test('a deleting pod is killed with the deletion grace period', async (t) => {
  const p = apiPod({ deletionTimestamp: new Date(), deletionGracePeriodSeconds: 3 });
  t.equal(desiredFromApi(p).spec?.terminationGracePeriodSeconds, 3);
  t.equal(p.spec?.terminationGracePeriodSeconds, 30, 'the input is not changed');
  const zero = apiPod({ deletionTimestamp: new Date(), deletionGracePeriodSeconds: 0 });
  t.equal(desiredFromApi(zero).spec?.terminationGracePeriodSeconds, 0, 'grace 0 (force delete) is honoured');
});

t.test('isMirror', async (t) => {
  t.notOk(isMirror(apiPod()));
  t.ok(isMirror(apiPod({ annotations: { 'kubernetes.io/config.mirror': 'h' } })));
});

t.test(
  'terminalPodStatus (a pod deleted that the agent does not run): Failed, not ready, containers ended',
  async (t) => {
    const now = new Date('2026-01-01T00:00:00Z');
    const s = terminalPodStatus(
      {
        phase: 'Running',
        podIP: '10.0.0.2',
        conditions: [
          { type: 'Ready', status: 'True' },
          { type: 'ContainersReady', status: 'True' },
          { type: 'PodScheduled', status: 'True' },
        ],
        containerStatuses: [
          { name: 'c', image: 'i', imageID: '', ready: true, started: true, restartCount: 0, state: { running: {} } },
          {
            name: 'd',
            image: 'i',
            imageID: '',
            ready: false,
            started: false,
            restartCount: 0,
            state: { terminated: { exitCode: 0, reason: 'Completed' } },
          },
        ],
      },
      now,
    );
    t.equal(s.phase, 'Failed', 'a running pod whose end is unknown is Failed');
    t.same(s.conditions, [
      { type: 'Ready', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
      { type: 'ContainersReady', status: 'False', reason: 'PodCompleted', lastTransitionTime: now },
      { type: 'PodScheduled', status: 'True' },
    ]);
    t.same(
      s.containerStatuses?.map((c) => [c.ready, c.started, c.state?.terminated?.exitCode, c.state?.terminated?.reason]),
      [
        [false, false, 137, 'ContainerStatusUnknown'],
        [false, false, 0, 'Completed'],
      ],
    );
    t.equal(s.podIP, '10.0.0.2');
    t.equal(terminalPodStatus({ phase: 'Succeeded' }, now).phase, 'Succeeded', 'a terminal phase is kept');
    t.same(terminalPodStatus(undefined, now), { phase: 'Failed', conditions: [] }, 'no status at all: Failed');
  },
);

t.test('mirrorPodFor', async (t) => {
  const staticPod: V1Pod = {
    metadata: {
      name: 'web-n1',
      namespace: 'kube-system',
      uid: 'hash1',
      labels: { app: 'x' },
      annotations: {
        'kubernetes.io/config.hash': 'hash1',
        'kubernetes.io/config.seen': 'now',
        'kubernetes.io/config.source': 'file',
      },
    },
    spec: { containers: [{ name: 'c', image: 'i' }] },
  };
  const m = mirrorPodFor(staticPod, { name: 'n1', uid: 'node-uid' });
  t.equal(m.metadata?.uid, undefined, 'the apiserver gives the mirror its own UID');
  t.equal(m.metadata?.annotations?.['kubernetes.io/config.mirror'], 'hash1');
  t.equal(
    m.metadata?.annotations?.['kubernetes.io/config.seen'],
    undefined,
    'the seen time is not copied (it would change the mirror on every rescan)',
  );
  t.same(m.metadata?.ownerReferences, [
    { apiVersion: 'v1', kind: 'Node', name: 'n1', uid: 'node-uid', controller: true },
  ]);
  t.equal(m.spec?.nodeName, 'n1');
  t.same(m.metadata?.labels, { app: 'x' });
});

t.test('statusKey: a Date and its ISO string are the same status; key order does not matter', async (t) => {
  const d = new Date('2026-01-01T00:00:00.000Z');
  t.equal(
    statusKey({ phase: 'Running', startTime: d }),
    statusKey({ startTime: '2026-01-01T00:00:00.000Z' as unknown as Date, phase: 'Running' }),
  );
  t.not(statusKey({ phase: 'Running' }), statusKey({ phase: 'Pending' }));
});
