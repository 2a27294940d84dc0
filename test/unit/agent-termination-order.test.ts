// The termination order of a pod with sidecars: app containers first, then sidecars in reverse order.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { terminationPrerequisites } from '../../agent/pods/termination-order.js';

const pod: V1Pod = {
  metadata: { name: 'p', namespace: 'n', uid: 'u' },
  spec: {
    initContainers: [
      { name: 'sc1', image: 'i', restartPolicy: 'Always' },
      { name: 'setup', image: 'i' },
      { name: 'sc2', image: 'i', restartPolicy: 'Always' },
    ],
    containers: [
      { name: 'a', image: 'i' },
      { name: 'b', image: 'i' },
    ],
  },
};

t.test('sidecars wait for every app container, and each for the sidecar defined after it', async (t) => {
  const all = terminationPrerequisites(pod, new Set(['sc1', 'sc2', 'a', 'b']));
  t.same(Object.fromEntries(all), { sc2: ['a', 'b'], sc1: ['a', 'b', 'sc2'] });
  t.notOk(all.has('a'), 'app containers wait for nobody');
  t.notOk(all.has('setup'), 'a regular init container waits for nobody');
});

t.test('only running containers are waited for', async (t) => {
  t.same(Object.fromEntries(terminationPrerequisites(pod, new Set(['sc1', 'b']))), { sc2: ['b'], sc1: ['b'] });
});

t.test('a pod without sidecars has no order: everything stops at once', async (t) => {
  const plain: V1Pod = { ...pod, spec: { ...pod.spec!, initContainers: [{ name: 'setup', image: 'i' }] } };
  t.equal(terminationPrerequisites(plain, new Set(['a', 'b'])).size, 0);
});
