// The proxy's list and watch (proxy/sources/reflector.ts) against the real apiserver: a list in
// pages delivers every object (pages of 2 for 5 Services: a reflector that dropped the continue
// token would deliver 2), the watch delivers additions, changes and deletions after it, the
// label selector keeps other objects out, a Service that vanished while the apiserver was away
// is reported deleted by the relist that follows the watch's 410, and a refused list is an error
// naming the apiserver's reason.
import t, { type Test } from 'tap';
import { KubeConfig, type V1Service, Watch } from '@kubernetes/client-node';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { ETCD_BIN_DIR } from '../harness/etcd.js';
import { ApiStatusError, Reflector } from '../../proxy/sources/reflector.js';
import { startControlPlane } from '../harness/control-plane.js';
import { runPrefix } from '../harness/prefix.js';
import { sleep, until } from '../harness/until.js';

const service = (ns: string, name: string, labels: Record<string, string>) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name, namespace: ns, labels },
  spec: { ports: [{ port: 80, protocol: 'TCP' }] },
});

/**
 * A control plane, a namespace of this run, `count` Services labelled for this run (svc-0...)
 * and `others` labelled for someone else; the admin's kubeconfig, and the selector for ours.
 */
async function servicesInNamespace(t: Test, suffix: string, count: number, others: string[] = []) {
  const cp = await startControlPlane(t);
  const prefix = runPrefix();
  const ns = `${prefix}-${suffix}`;
  await cp.kubectl(['create', 'namespace', ns]);
  const ours = { 'kubenode-test': prefix };
  const items = Array.from({ length: count }, (_, i) => service(ns, `svc-${i}`, ours));
  for (const name of others) items.push(service(ns, name, { 'kubenode-test': 'someone-else' }));
  await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
  const kc = new KubeConfig();
  kc.loadFromFile(cp.kubeconfig);
  return { cp, ns, ours, kc, selector: `kubenode-test=${prefix}` };
}

t.test('a paged list, then the watch, through one reflector', async (t) => {
  // 'other' is one that the label selector leaves out.
  const { cp, ns, ours, kc, selector } = await servicesInNamespace(t, 'reflector', 5, ['other']);
  const updated: V1Service[] = [];
  const deleted: string[] = [];
  const r = new Reflector<V1Service>(
    kc,
    new Watch(kc),
    `/api/v1/namespaces/${ns}/services`,
    selector,
    { updated: (o) => updated.push(o), deleted: (o) => deleted.push(o.metadata!.name!) },
    2,
  );
  let lists = 0;
  const running = r.run(() => lists++);
  t.teardown(() => r.stop());
  await until('the first list', 30_000, async () => lists === 1);
  t.same(
    updated.map((o) => o.metadata!.name).sort(),
    ['svc-0', 'svc-1', 'svc-2', 'svc-3', 'svc-4'],
    'every selected Service, over 3 pages of 2',
  );
  t.ok(r.listed, 'the reflector says it has listed');

  updated.length = 0;
  await cp.kubectl(['-n', ns, 'label', 'service', 'svc-1', 'changed=yes']);
  await cp.kubectl(['-n', ns, 'delete', 'service', 'svc-2']);
  await cp.kubectl(['create', '-f', '-'], { input: JSON.stringify(service(ns, 'svc-5', ours)) });
  await cp.kubectl(['create', '-f', '-'], {
    input: JSON.stringify(service(ns, 'other-2', { 'kubenode-test': 'someone-else' })),
  });
  await until('the watch to deliver svc-5', 30_000, async () => updated.some((o) => o.metadata!.name === 'svc-5'));
  const changed = updated.find((o) => o.metadata!.name === 'svc-1');
  t.equal(changed?.metadata?.labels?.changed, 'yes', 'a change arrives with the new object');
  t.same(deleted, ['svc-2'], 'a deletion arrives');
  t.notOk(
    updated.some((o) => o.metadata!.name!.startsWith('other')),
    'objects outside the selector never arrive',
  );
  t.equal(lists, 1, 'no second list while the watch runs');

  r.stop();
  await running;
  t.pass('run() ends when stopped');
});

t.test('what vanished while the apiserver was away is reported by the relist', async (t) => {
  const { cp, ns, kc, selector } = await servicesInNamespace(t, 'relist', 3);
  const names = new Set<string>();
  const deleted: string[] = [];
  const r = new Reflector<V1Service>(kc, new Watch(kc), `/api/v1/namespaces/${ns}/services`, selector, {
    updated: (o) => names.add(o.metadata!.name!),
    deleted: (o) => {
      names.delete(o.metadata!.name!);
      deleted.push(o.metadata!.name!);
    },
  });
  // What ApiserverSource does: run again after an error, a little later.
  let lists = 0;
  let stopped = false;
  const loop = (async () => {
    while (!stopped) await r.run(() => lists++).catch(() => sleep(300));
  })();
  t.teardown(async () => {
    stopped = true;
    r.stop();
    await loop;
  });
  await until('the first list', 30_000, async () => lists === 1);
  t.same([...names].sort(), ['svc-0', 'svc-1', 'svc-2']);

  // The apiserver goes away; meanwhile svc-1 is removed from etcd directly, so no watch ever
  // carries its deletion. The restarted apiserver's watch cache starts after the reflector's
  // resourceVersion: the watch gets 410 Gone, and the relist must find svc-1 missing.
  await cp.script(['stop', 'apiserver']);
  const etcdctl = join(ETCD_BIN_DIR, 'etcdctl');
  const endpoint = `http://127.0.0.1:${cp.env.ETCD_CLIENT_PORT}`;
  const del = await run(etcdctl, ['--endpoints', endpoint, 'del', `/registry/services/specs/${ns}/svc-1`]);
  t.equal(del.stdout.trim(), '1', 'etcd held svc-1 and removed it');
  await cp.script(['start', 'apiserver']);
  await until('the relist after the apiserver came back', 60_000, async () => lists >= 2);
  await until('svc-1 reported deleted', 10_000, async () => deleted.includes('svc-1'));
  t.same([...names].sort(), ['svc-0', 'svc-2'], 'the picture matches the apiserver again');
  t.same(deleted, ['svc-1'], 'only the vanished Service is reported deleted');
});

t.test('a refused list names the apiserver reason', async (t) => {
  const cp = await startControlPlane(t);
  // A node's credentials: the Node authorizer and RBAC let nodes read Services, not Secrets.
  const dir = await cp.nodeCredentials(`${runPrefix()}-node`);
  const kc = new KubeConfig();
  kc.loadFromFile(join(dir, 'kubeconfig'));
  const r = new Reflector(kc, new Watch(kc), '/api/v1/secrets', '', { updated: () => {}, deleted: () => {} });
  const err = await r
    .run(() => {})
    .then(
      () => undefined,
      (e: unknown) => e,
    );
  t.ok(err instanceof ApiStatusError, 'an ApiStatusError');
  t.equal((err as ApiStatusError).statusCode, 403);
  t.match((err as Error).message, /forbidden.*secrets/i, `the apiserver's reason: ${(err as Error).message}`);
  t.notOk(r.listed, 'not listed');
});
