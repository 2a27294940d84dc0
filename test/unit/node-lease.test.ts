import t from 'tap';
import { LEASE_DURATION_SECONDS, renewedLease } from '../../agent/node/lease.js';

const node = { name: 'node-a', uid: 'uid-1' };
const now = new Date('2025-01-01T00:00:00.123Z');

t.test('a new Lease: named after the node, held by it, 40 s, owned by the Node', async (t) => {
  const l = renewedLease(undefined, node, now);
  t.equal(l.metadata?.name, 'node-a');
  t.equal(l.metadata?.namespace, 'kube-node-lease');
  t.equal(l.spec?.holderIdentity, 'node-a');
  t.equal(l.spec?.leaseDurationSeconds, LEASE_DURATION_SECONDS);
  t.equal(LEASE_DURATION_SECONDS, 40);
  t.same(l.metadata?.ownerReferences, [{ apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'uid-1' }]);
  // The apiserver parses MicroTime with exactly six fractional digits.
  t.equal(JSON.parse(JSON.stringify(l)).spec.renewTime, '2025-01-01T00:00:00.123000Z');
});

t.test('a renewal keeps what the apiserver set and moves renewTime', async (t) => {
  const current = {
    metadata: {
      name: 'node-a',
      namespace: 'kube-node-lease',
      resourceVersion: '42',
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'uid-1' }],
    },
    spec: { holderIdentity: 'node-a', renewTime: '2024-12-31T23:59:50.000000Z' as unknown as Date },
  };
  const l = renewedLease(current, node, now);
  t.equal(l.metadata?.resourceVersion, '42', 'the update is conditional on the version last seen');
  t.equal(l.metadata?.ownerReferences?.length, 1);
  t.equal(JSON.parse(JSON.stringify(l)).spec.renewTime, '2025-01-01T00:00:00.123000Z');
});

t.test('a Node registered again (new uid) takes over the ownership', async (t) => {
  const current = {
    metadata: { name: 'node-a', ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'old' }] },
    spec: {},
  };
  t.same(renewedLease(current, node, now).metadata?.ownerReferences, [
    { apiVersion: 'v1', kind: 'Node', name: 'node-a', uid: 'uid-1' },
  ]);
});
