// The etcd manifest source on a node joined to the real apiserver: a pod put under the node's
// prefix with etcdctl runs as a static pod and gets a mirror pod that kubectl shows (Running, the
// config.mirror annotation, owned by the Node); deleting the key stops the pod and removes the mirror.
import t from 'tap';
import { stringify } from 'yaml';
import { IMAGES, testPod } from '../fixtures/agent/world.js';
import { startEtcd } from '../harness/etcd.js';
import { joinAgent } from '../harness/joined-agent.js';
import { runPrefix } from '../harness/prefix.js';
import { until } from '../harness/until.js';

t.test('a pod put in etcd gets a mirror pod; deleting the key removes both', async (t) => {
  // The source's own etcd, not the control plane's: it is started first so the agent can be given it.
  const etcd = await startEtcd(t, { prefix: runPrefix() });
  const { cp, world: w, ns } = await joinAgent(t, { args: [`--manifest-etcd-endpoints=${etcd.endpoint}`] });
  const key = `/kubenode/nodes/${w.nodeName}/pods/web`;
  const name = `${w.prefix}-web-${w.nodeName}`;
  await etcd.put(
    key,
    stringify(
      testPod(w, 'web', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }], {
        terminationGracePeriodSeconds: 1,
      }),
    ),
  );

  const mirror = await until('the mirror pod Running in kubectl', 90_000, async () => {
    const r = await cp.kubectl(['-n', ns, 'get', 'pod', name, '-o', 'json'], { allowFailure: true });
    if (r.code !== 0) return undefined;
    const p = JSON.parse(r.stdout) as {
      metadata: { annotations?: Record<string, string>; ownerReferences?: { kind: string; name: string }[] };
      status?: { phase?: string };
    };
    return p.status?.phase === 'Running' ? p : undefined;
  });
  t.equal(mirror.metadata.annotations?.['kubernetes.io/config.source'], 'etcd', 'the source annotation says etcd');
  t.ok(mirror.metadata.annotations?.['kubernetes.io/config.mirror'], 'a mirror pod (config.mirror)');
  t.equal(mirror.metadata.annotations?.['kubenode.io/config.origin'], key, 'the key it came from');
  t.same(
    mirror.metadata.ownerReferences?.map((o) => [o.kind, o.name]),
    [['Node', w.nodeName]],
    'owned by the Node',
  );

  await etcd.etcdctl(['del', key]);
  await until(
    'the mirror pod gone',
    60_000,
    async () => (await cp.kubectl(['-n', ns, 'get', 'pods', '-o', 'name'])).stdout.trim() === '',
  );
  await until(
    "the pod's containers gone",
    30_000,
    async () => !(await w.containers()).some((c) => c.State === 'running'),
  );
  t.pass('deleting the key stopped the pod and removed its mirror');
});
