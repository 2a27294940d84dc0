// The whole control plane's store away: kube-apiserver AND etcd stopped for
// 60 s under a joined agent running apiserver pods and static pods (`control-plane.sh stop
// apiserver`, `stop etcd`; their data kept). While they are away the node carries on alone:
// running containers are untouched, a static pod's container killed meanwhile is restarted, a
// static manifest added meanwhile gets its pod, and the agent neither dies nor spins. Once they
// are back: the node is Ready with a fresh Lease, mirror pods catch up (the restart count, the new
// static pod's mirror), the Events recorded during the outage are delivered (client-go's
// recordToSink keeps retrying an event for ~100 s, 12 tries 10 s apart, and so does the agent), and
// no pod was deleted or restarted by mistake.
//
// The controller-manager runs the node lifecycle controller with --node-monitor-grace-period 40s
// (scripts/control-plane.sh, upstream's default). It cannot act while the apiserver is away; when
// it comes back it may see the Lease older than 40 s before the agent renews it and mark the node
// Unknown (taint node.kubernetes.io/unreachable:NoExecute, pods' Ready condition set False), or it
// may see the renewal first. Either is upstream behaviour; what upstream implies in both cases is
// asserted: pods tolerate unreachable for 300 s (DefaultTolerationSeconds), so none is evicted, and
// the node and the pods' Ready conditions are True again once the agent has reported.
import t, { type Test } from 'tap';
import { readFileSync } from 'node:fs';
import { CoordinationV1Api, type CoreV1Api, type CoreV1Event, type V1Pod } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { IMAGES, testPod, type AgentProcess, type World } from '../fixtures/agent/world.js';
import { sleep, until } from '../harness/until.js';
import { joinAgent } from '../harness/joined-agent.js';

const OUTAGE_MS = 60_000;
/** Long enough after the return for the node monitor (every 5 s) to have acted on a stale Lease. */
const WATCH_AFTER_RETURN_MS = 15_000;

const ready = (o: { status?: { conditions?: { type: string; status: string }[] } } | undefined) =>
  o?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
const cid = (p: V1Pod | undefined) => p?.status?.containerStatuses?.[0]?.containerID?.replace(/^docker:\/\//, '');

/** Agent CPU time (user + system) in seconds, from /proc. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in USER_HZ (100 on Linux)
}

/** What must not change: every container (sandboxes too), by pod and container name. */
async function dockerView(w: World): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const c of await w.containers()) {
    const i = await w.docker.getContainer(c.Id).inspect();
    if (i.State.Running)
      out.set(
        `${c.Labels['io.kubernetes.pod.name']}/${c.Labels['io.kubernetes.container.name'] ?? 'sandbox'}`,
        `${i.Id} ${i.State.StartedAt}`,
      );
  }
  return out;
}

const sleeper = {
  name: 'app',
  image: IMAGES.busybox,
  imagePullPolicy: 'Never',
  command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 1; done'],
};

function apiPod(ns: string, name: string, container: unknown): object {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${ns}-${name}`, namespace: ns },
    spec: { terminationGracePeriodSeconds: 2, containers: [container] },
  };
}

/** The outage: both stopped; the node alone kills-and-restarts, adds, and must not spin. */
async function outage(
  t: Test,
  o: {
    cp: Awaited<ReturnType<typeof joinAgent>>['cp'];
    w: World;
    agent: AgentProcess;
    staticA: string;
    staticB: string;
  },
) {
  const { cp, w, agent } = o;
  const pid = agent.pid;
  const logMark = agent.logs.length;
  await cp.script(['stop', 'apiserver']);
  await cp.script(['stop', 'etcd']);
  const stoppedAt = Date.now();
  const cpu0 = cpuSeconds(pid);
  t.not((await cp.kubectl(['get', '--raw', '/readyz'], { allowFailure: true })).code, 0, 'the apiserver is down');
  t.not(
    (await run('bash', ['-c', `exec 3<>/dev/tcp/127.0.0.1/${cp.env.ETCD_CLIENT_PORT}`], { allowFailure: true })).code,
    0,
    'etcd is down (its client port refuses)',
  );

  // A static pod's container dies: the agent alone restarts it.
  const before = await agent.waitFor('static-a in the agent', (ps) => ps.find((p) => p.metadata?.name === o.staticA));
  await run('docker', ['kill', cid(before)!]);
  const restarted = await agent.waitFor(
    'static-a restarted by the agent',
    (ps) => {
      const p = ps.find((x) => x.metadata?.name === o.staticA);
      const c = p?.status?.containerStatuses?.[0];
      return c?.restartCount === 1 && c.state?.running ? p : undefined;
    },
    40_000,
  );
  t.pass(
    `during the outage the killed static container was restarted (restartCount 1, ${cid(restarted)!.slice(0, 12)}) +${Date.now() - stoppedAt} ms`,
  );
  // A static manifest appears: its pod runs.
  await w.writeManifest('static-b.yaml', testPod(w, 'static-b', [sleeper]));
  const b = await agent.waitFor(
    'static-b running',
    (ps) => {
      const p = ps.find((x) => x.metadata?.name === o.staticB);
      return p?.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
    },
    40_000,
  );
  t.pass(`a static manifest added during the outage runs (pod IP ${b.status?.podIP}) +${Date.now() - stoppedAt} ms`);

  await sleep(Math.max(0, OUTAGE_MS - (Date.now() - stoppedAt)));
  const cpu = cpuSeconds(pid) - cpu0;
  const elapsed = (Date.now() - stoppedAt) / 1000;
  t.ok(agent.running && agent.pid === pid, `the agent is still running, same pid ${pid}`);
  t.comment(
    `agent CPU during the ${elapsed.toFixed(0)} s outage: ${cpu.toFixed(2)} s (${((100 * cpu) / elapsed).toFixed(1)}% of one core)`,
  );
  t.ok(cpu / elapsed < 0.25, `the agent does not spin: ${((100 * cpu) / elapsed).toFixed(1)}% of one core (< 25%)`);
  const during = agent.logs.slice(logMark);
  t.ok(
    during.some((l) => /cannot renew the node Lease/.test(l)),
    'its Lease renewals failed meanwhile',
  );
  return { stoppedAt, restartedCid: cid(restarted)!, bIP: b.status?.podIP };
}

t.test('apiserver and etcd away for 60 s under a running agent', async (t) => {
  const { cp, world: w, agent, core, admin, ns } = await joinAgent(t, { logLines: 150 });
  const staticA = `${ns}-static-a-${w.nodeName}`;
  const staticB = `${ns}-static-b-${w.nodeName}`;
  const getPod = (name: string) => core.readNamespacedPod({ name, namespace: ns });
  await cp.kubectl(['apply', '-f', '-'], {
    input: [
      apiPod(ns, 'web', {
        name: 'web',
        image: IMAGES.demo,
        imagePullPolicy: 'Never',
        readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
      }),
      apiPod(ns, 'idle', sleeper),
    ]
      .map((p) => JSON.stringify(p))
      .join('\n'),
  });
  await w.writeManifest('static-a.yaml', testPod(w, 'static-a', [sleeper]));
  for (const name of [`${ns}-web`, `${ns}-idle`, staticA])
    await until(`${name} Ready in the API`, 90_000, async () => ready(await getPod(name)) === 'True');
  const pods = async () => (await core.listNamespacedPod({ namespace: ns })).items;
  const uidsBefore = (await pods()).map((p) => `${p.metadata!.name} ${p.metadata!.uid}`).sort();
  t.equal(uidsBefore.length, 3, `pods before: ${uidsBefore.join(', ')}`);
  const dockerBefore = await dockerView(w);

  const { stoppedAt, restartedCid } = await outage(t, { cp, w, agent, staticA, staticB });
  const dockerDuring = await dockerView(w);
  for (const [k, v] of dockerBefore)
    if (!k.startsWith(`${staticA}/app`))
      t.equal(dockerDuring.get(k), v, `${k}: same container, same start, during the outage`);

  // --- back ----------------------------------------------------------------------------------------
  const returnMark = agent.logs.length;
  await cp.script(['start', 'etcd']);
  await cp.script(['start', 'apiserver']);
  const backAt = Date.now();
  t.comment(`apiserver and etcd away for ${backAt - stoppedAt} ms`);
  await afterReturn(t, {
    core,
    admin,
    w,
    ns,
    staticA,
    staticB,
    restartedCid,
    backAt,
    stoppedAt,
    nodeName: w.nodeName,
    agent,
    logMark: returnMark,
  });

  t.same(
    (await pods())
      .filter((p) => p.metadata?.name !== staticB)
      .map((p) => `${p.metadata!.name} ${p.metadata!.uid}`)
      .sort(),
    uidsBefore,
    'no pod was deleted or replaced: same names and UIDs (mirror pods included)',
  );
  t.notOk(
    (await pods()).some((p) => p.metadata?.deletionTimestamp),
    'none is being deleted',
  );
  const dockerAfter = await dockerView(w);
  for (const [k, v] of dockerBefore)
    if (!k.startsWith(`${staticA}/app`)) t.equal(dockerAfter.get(k), v, `${k}: same container after the return`);
  for (const name of [`${ns}-web`, `${ns}-idle`])
    t.equal((await getPod(name)).status?.containerStatuses?.[0]?.restartCount, 0, `${name}: restartCount 0`);
  t.ok(agent.running, 'the agent never exited');

  await w.removeManifest('static-a.yaml');
  await w.removeManifest('static-b.yaml');
  await cp.kubectl(['-n', ns, 'delete', 'pods', `${ns}-web`, `${ns}-idle`, '--wait=true', '--timeout=60s']);
  await until('no containers left', 60_000, async () => (await w.containers()).length === 0);
});

interface Return {
  core: CoreV1Api;
  admin: Awaited<ReturnType<typeof joinAgent>>['admin'];
  w: World;
  ns: string;
  nodeName: string;
  staticA: string;
  staticB: string;
  restartedCid: string;
  backAt: number;
  stoppedAt: number;
  agent: AgentProcess;
  logMark: number;
}

/** After the return: the node, the mirror pods, the pods' readiness and the Events catch up. */
async function afterReturn(t: Test, r: Return): Promise<void> {
  const { core, ns, backAt } = r;
  const leases = r.admin.makeApiClient(CoordinationV1Api);
  const seen = new Set<string>();
  let readyAt: number | undefined;
  let leaseAt: number | undefined;
  // Poll the Node and its Lease: Ready again with a renewal made after the return, and watched
  // long enough for the node monitor to have acted.
  await until(
    'the node Ready with a fresh Lease',
    90_000,
    async () => {
      const n = await core.readNode({ name: r.nodeName });
      const s = ready(n) ?? '?';
      seen.add(
        `Ready=${s}${n.spec?.taints?.length ? ` taints=${n.spec.taints.map((x) => `${x.key}:${x.effect}`).join(',')}` : ''}`,
      );
      const web = await core.readNamespacedPod({ name: `${ns}-web`, namespace: ns });
      if (ready(web) !== 'True') seen.add(`pod web Ready=${ready(web)}`);
      const renew = (await leases.readNamespacedLease({ name: r.nodeName, namespace: 'kube-node-lease' })).spec
        ?.renewTime;
      if (renew && new Date(renew).getTime() > backAt) leaseAt ??= Date.now();
      if (s === 'True' && leaseAt) readyAt ??= Date.now();
      else readyAt = undefined;
      return readyAt !== undefined && Date.now() - backAt > WATCH_AFTER_RETURN_MS;
    },
    500,
  );
  t.comment(
    `after the return: Lease renewed +${leaseAt! - backAt} ms, node Ready +${readyAt! - backAt} ms; node states seen: ${[...seen].join(' | ')}`,
  );
  const node = await core.readNode({ name: r.nodeName });
  t.equal(ready(node), 'True', 'the node is Ready');
  t.notOk(
    node.spec?.taints?.some(
      (x) => x.key === 'node.kubernetes.io/unreachable' || x.key === 'node.kubernetes.io/not-ready',
    ),
    'with no unreachable/not-ready taint left',
  );

  const mirrorA = await until("static-a's mirror pod shows the restart", 60_000, async () => {
    const p = await core.readNamespacedPod({ name: r.staticA, namespace: ns });
    return p.status?.containerStatuses?.[0]?.restartCount === 1 && cid(p) === r.restartedCid ? p : undefined;
  });
  t.comment(`mirror pod of static-a caught up (restartCount 1) +${Date.now() - backAt} ms`);
  t.equal(
    mirrorA.status?.containerStatuses?.[0]?.lastState?.terminated?.exitCode,
    137,
    'its lastState is the killed instance (exit 137)',
  );
  const mirrorB = await until("static-b's mirror pod Ready", 60_000, async () => {
    const p = await core.readNamespacedPod({ name: r.staticB, namespace: ns }).catch(() => undefined);
    return ready(p) === 'True' ? p : undefined;
  });
  t.ok(
    mirrorB.metadata?.annotations?.['kubernetes.io/config.mirror'],
    `the static pod added during the outage has its mirror pod +${Date.now() - backAt} ms`,
  );
  for (const name of [`${ns}-web`, `${ns}-idle`, r.staticA]) {
    await until(
      `${name} Ready in the API`,
      60_000,
      async () => ready(await core.readNamespacedPod({ name, namespace: ns })) === 'True',
    );
  }
  // (When the node lifecycle controller marks a node Unknown it also sets its pods' Ready False:
  // "pod web Ready=False" among the node states above when the poll saw that.)
  const repairs = r.agent.logs
    .slice(r.logMark)
    .filter((l) => l.includes('differs from the one written; writing it again'))
    .map((l) => (JSON.parse(l) as { pod: string }).pod.replace(`${ns}/${ns}-`, ''));
  t.comment(
    `all pods Ready in the API +${Date.now() - backAt} ms; pods whose Ready the agent wrote again after the controller changed it: ${repairs.join(', ') || 'none'}`,
  );

  // Events recorded while the apiserver was away: delivered (client-go's retries outlast 60 s).
  // lastTimestamp has whole seconds: a second of margin either side.
  const inOutage = (e: CoreV1Event) => {
    const ts = new Date(e.lastTimestamp ?? e.eventTime ?? 0).getTime();
    return ts >= r.stoppedAt - 1000 && ts <= backAt + 1000;
  };
  const events = await until(
    "the outage's Events delivered",
    90_000,
    async () => {
      const es = (await core.listNamespacedEvent({ namespace: ns })).items.filter(inOutage);
      const startedB = es.some((e) => e.involvedObject.name === r.staticB && e.reason === 'Started');
      const restartA = es.some(
        (e) => e.involvedObject.name === r.staticA && e.reason === 'Started' && (e.count ?? 1) >= 2,
      );
      return startedB && restartA ? es : undefined;
    },
    500,
  );
  t.comment(
    `Events of the outage delivered +${Date.now() - backAt} ms: ${events.map((e) => `${e.involvedObject.name?.replace(`${ns}-`, '')} ${e.reason} x${e.count}`).join(', ')}`,
  );
  t.pass("static-b's Started and static-a's second Started (count 2), recorded during the outage, reached the API");
}
