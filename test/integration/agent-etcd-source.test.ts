// The etcd manifest source against a real etcd (the build-control-plane.sh binary on ports of its
// own), with the agent standalone and etcdctl writing as a person would: put, update and delete
// start, replace and stop pods; a bad value is refused naming the key, the field and the reason;
// etcd stopped leaves the pods running and the watch resumes when it is back; a watch whose
// revision was compacted away relists. Then TLS client certificates, --config and the default prefix.
import t from 'tap';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import {
  createWorld,
  testPod,
  findPod,
  allRunning,
  IMAGES,
  type AgentProcess,
  type World,
} from '../fixtures/agent/world.js';
import { startEtcd } from '../harness/etcd.js';
import { tcpRelay } from '../harness/tcp-relay.js';
import { until } from '../harness/until.js';

interface ManifestError {
  source: string;
  origin: string;
  object: string;
  field: string;
  reason: string;
}

const sleeper = (w: World, name: string, seconds = '3600', labels?: Record<string, string>) =>
  testPod(
    w,
    name,
    [{ name: 'main', image: IMAGES.busybox, command: ['sleep', seconds] }],
    { terminationGracePeriodSeconds: 1 },
    labels ? { labels } : {},
  );
const containerId = (p: V1Pod | undefined) => p?.status?.containerStatuses?.[0]?.containerID;

async function manifestErrors(
  agent: AgentProcess,
  pred: (es: ManifestError[]) => boolean,
  what: string,
): Promise<ManifestError[]> {
  return until(
    what,
    60_000,
    async () => {
      const es = JSON.parse((await agent.get('/manifestErrors')).body).items as ManifestError[];
      return pred(es) && es;
    },
    200,
  );
}

/** No container of this pod UID runs any more. */
async function containersGone(w: World, uid: string): Promise<void> {
  await until(
    `the containers of pod ${uid} stopped`,
    60_000,
    async () => !(await w.containers()).some((c) => c.Labels['io.kubernetes.pod.uid'] === uid && c.State === 'running'),
  );
}

t.test('etcd source: put, update, delete, bad values; etcd away and back; a compacted revision relists', async (t) => {
  const w = await createWorld(t);
  const etcd = await startEtcd(t, { prefix: w.prefix });
  // The agent reaches etcd through a relay the test can cut; etcdctl goes straight to etcd.
  const relay = await tcpRelay(t, { host: '127.0.0.1', port: Number(new URL(etcd.endpoint).port) });
  const prefix = `/${w.prefix}/pods/`;
  const key = (n: string) => prefix + n;
  const agent = await w.startAgent([
    `--manifest-etcd-endpoints=http://127.0.0.1:${relay.port}`,
    `--manifest-etcd-prefix=${prefix}`,
  ]);
  const listed = () => agent.logs.filter((l) => l.includes('"listed etcd prefix"')).length;

  // --- put (YAML and JSON), update, delete -------------------------------------------------------
  await etcd.put(key('a'), stringify(sleeper(w, 'a')));
  await etcd.put(key('b'), JSON.stringify(sleeper(w, 'b')));
  const a1 = await agent.waitFor('a running', (ps) => allRunning(findPod(ps, w, 'a')) && findPod(ps, w, 'a'), 60_000);
  const b = await agent.waitFor(
    'b (JSON) running',
    (ps) => allRunning(findPod(ps, w, 'b')) && findPod(ps, w, 'b'),
    60_000,
  );
  t.equal(a1.metadata!.annotations!['kubernetes.io/config.source'], 'etcd');
  t.equal(a1.metadata!.annotations!['kubenode.io/config.origin'], key('a'), 'the origin is the key');

  await etcd.put(key('a'), stringify(sleeper(w, 'a', '7200')));
  const a2 = await agent.waitFor(
    'a replaced',
    (ps) => {
      const p = findPod(ps, w, 'a');
      return p && p.metadata!.uid !== a1.metadata!.uid && allRunning(p) && p;
    },
    60_000,
  );
  t.same(a2.spec!.containers[0]!.command, ['sleep', '7200'], 'the updated value runs');
  await containersGone(w, a1.metadata!.uid!);

  // --- bad values: refused by key, field and reason; nothing else touched ------------------------
  await etcd.put(key('garbage'), 'kind: Pod\n  metadata: [oops');
  await etcd.put(
    key('quantity'),
    stringify(testPod(w, 'q', [{ name: 'main', image: IMAGES.busybox, resources: { limits: { cpu: '1x' } } }])),
  );
  const errors = await manifestErrors(
    agent,
    (es) => es.filter((e) => e.source === 'etcd').length >= 2,
    'two rejected etcd values',
  );
  t.match(
    errors.find((e) => e.origin === key('garbage')),
    { source: 'etcd', reason: /not valid YAML or JSON/ },
  );
  t.match(
    errors.find((e) => e.origin === key('quantity')),
    {
      source: 'etcd',
      object: `${w.prefix}/${w.prefix}-q`,
      field: 'spec.containers[0].resources.limits.cpu',
      reason: /invalid quantity "1x"/,
    },
  );
  t.ok(
    agent.logs.some((l) => l.includes('manifest rejected') && l.includes(key('garbage'))),
    'the log names the key',
  );
  let ps = await agent.pods();
  t.equal(findPod(ps, w, 'a')?.metadata?.uid, a2.metadata!.uid, 'a untouched');
  t.equal(containerId(findPod(ps, w, 'b')), containerId(b), 'b untouched');

  await etcd.etcdctl(['del', key('a')]);
  await agent.waitFor('a gone', (p) => !findPod(p, w, 'a'), 60_000);
  await containersGone(w, a2.metadata!.uid!);

  // --- etcd away: the pods keep running and nothing changes; back: the watch resumes ----------
  await etcd.stop();
  await manifestErrors(
    agent,
    (es) => es.some((e) => e.source === 'etcd' && e.field === '<connection>'),
    'the lost connection reported',
  );
  const whileDown = (p: V1Pod[]) => p.map((x) => `${x.metadata!.uid} ${containerId(x)}`).sort();
  ps = await agent.pods();
  await sleep(3000);
  t.same(whileDown(await agent.pods()), whileDown(ps), 'while etcd is down nothing changes');
  t.equal(containerId(findPod(await agent.pods(), w, 'b')), containerId(b), 'b still runs the same container');
  t.ok(
    (await w.containers()).some((c) => c.Id === containerId(b)!.replace('docker://', '') && c.State === 'running'),
    "b's container is running",
  );

  await etcd.start();
  await etcd.put(key('c'), stringify(sleeper(w, 'c')));
  const c = await agent.waitFor(
    'c, put after etcd came back, running',
    (p) => allRunning(findPod(p, w, 'c')) && findPod(p, w, 'c'),
    60_000,
  );
  t.equal(listed(), 1, 'the watch resumed from the last revision: no second list');
  await manifestErrors(agent, (es) => !es.some((e) => e.field === '<connection>'), 'the connection error cleared');

  // --- compaction: changes made while the agent is cut off, history compacted, then it relists ----
  await relay.cut();
  await manifestErrors(agent, (es) => es.some((e) => e.field === '<connection>'), 'the agent cut off');
  await etcd.etcdctl(['del', key('b')]);
  for (let i = 1; i <= 20; i++) await etcd.put(key('d'), stringify(sleeper(w, 'd', '3600', { rev: String(i) })));
  const rev = await etcd.revision();
  await etcd.etcdctl(['compaction', '--physical', String(rev)]);
  await relay.restore();
  const d = await agent.waitFor(
    'after the relist: b gone, d (its last value) running',
    (p) => !findPod(p, w, 'b') && allRunning(findPod(p, w, 'd')) && findPod(p, w, 'd'),
    60_000,
  );
  t.equal(d.metadata!.labels!.rev, '20', 'the last of 20 revisions');
  t.ok(
    agent.logs.some((l) => l.includes('etcd canceled the watch') && l.includes('ErrCompacted')),
    'the watch at a compacted revision was canceled (ErrCompacted)',
  );
  t.equal(listed(), 2, 'and the prefix listed again');
  t.equal(containerId(findPod(await agent.pods(), w, 'c')), containerId(c), 'c untouched by the relist');
});

t.test('etcd source over TLS with client certificates, from --config, at the default prefix', async (t) => {
  const w = await createWorld(t);
  const etcd = await startEtcd(t, { prefix: w.prefix, tls: true });
  const cfg = join(w.dir, 'agent.yaml');
  await writeFile(
    cfg,
    stringify({
      kind: 'KubeletConfiguration',
      manifestEtcdEndpoints: [etcd.endpoint],
      manifestEtcdCafile: etcd.tls!.caFile,
      manifestEtcdCertfile: etcd.tls!.certFile,
      manifestEtcdKeyfile: etcd.tls!.keyFile,
    }),
  );
  const agent = await w.startAgent([`--config=${cfg}`]);
  await etcd.put(`/kubenode/nodes/${w.nodeName}/pods/web`, stringify(sleeper(w, 'web')));
  const p = await agent.waitFor(
    'the pod at the default prefix running',
    (ps) => allRunning(findPod(ps, w, 'web')) && findPod(ps, w, 'web'),
    60_000,
  );
  t.equal(p.metadata!.annotations!['kubenode.io/config.origin'], `/kubenode/nodes/${w.nodeName}/pods/web`);
});
