// The apiserver restarted under a running agent: kube-apiserver alone is stopped for
// ~20 s (etcd and all state kept: `control-plane.sh stop apiserver` / `start apiserver`), long
// enough for the agent's pod watch, Lease renewals and status writes to fail, then started again.
// No pod is restarted (same container IDs and start times in Docker and in the API, restartCount
// 0); the node is Ready again; the watch resumed (a pod created afterwards runs, a pod deleted
// afterwards is terminated and leaves the API); and a status change the agent saw while the
// apiserver was away (a readiness flip) reaches the API once it is back.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { IMAGES } from '../fixtures/agent/world.js';
import { sleep, until } from '../harness/until.js';
import { joinAgent } from '../harness/joined-agent.js';

const DOWN_MS = 20_000;

const ready = (o: { status?: { conditions?: { type: string; status: string }[] } } | undefined) =>
  o?.status?.conditions?.find((c) => c.type === 'Ready')?.status;

t.test('the apiserver restarted under a running agent', async (t) => {
  const { cp, world: w, agent, core, ns } = await joinAgent(t, { logLines: 100 });
  const nodeReady = async () => ready(await core.readNode({ name: w.nodeName })) === 'True';

  const pod = (name: string, containers: unknown[]) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${ns}-${name}`, namespace: ns },
    spec: { terminationGracePeriodSeconds: 2, containers },
  });
  const demo = {
    name: 'web',
    image: IMAGES.demo,
    imagePullPolicy: 'Never',
    readinessProbe: { httpGet: { path: '/ready', port: 8080 }, periodSeconds: 1 },
  };
  const sleeper = { name: 'main', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] };
  const get = (name: string) => core.readNamespacedPod({ name: `${ns}-${name}`, namespace: ns });
  await cp.kubectl(['apply', '-f', '-'], {
    input: [pod('web', [demo]), pod('victim', [sleeper])].map((p) => JSON.stringify(p)).join('\n'),
  });
  const web = await until('web Ready in the API', 60_000, async () => {
    const p = await get('web');
    return ready(p) === 'True' ? p : undefined;
  });
  const victim = await until('victim Running in the API', 60_000, async () => {
    const p = await get('victim');
    return p.status?.phase === 'Running' ? p : undefined;
  });

  // What must not change: every container of the world (sandboxes included) and the API's view.
  const dockerView = async () =>
    (
      await Promise.all(
        (
          await w.containers()
        ).map(async (c) => {
          const i = await w.docker.getContainer(c.Id).inspect();
          return `${c.Labels['io.kubernetes.pod.name']}/${c.Labels['io.kubernetes.container.name'] ?? 'sandbox'} ${i.Id} ${i.State.StartedAt} running=${i.State.Running}`;
        }),
      )
    ).sort();
  const apiView = (p: V1Pod) =>
    (p.status?.containerStatuses ?? []).map(
      (c) =>
        `${c.name} ${c.containerID} ${c.state?.running?.startedAt ? new Date(c.state.running.startedAt).toISOString() : '-'} restarts=${c.restartCount}`,
    );
  const beforeDocker = await dockerView();
  t.ok(beforeDocker.length >= 4, `containers before: ${beforeDocker.length} (2 sandboxes, 2 containers)`);
  const beforeApi = { web: apiView(web), victim: apiView(victim) };

  // --- the apiserver goes away ---------------------------------------------------------------------
  const logMark = agent.logs.length;
  await cp.script(['stop', 'apiserver']);
  const stoppedAt = Date.now();
  t.notOk((await cp.kubectl(['get', '--raw', '/readyz'], { allowFailure: true })).code === 0, 'the apiserver is down');
  // A change the agent observes meanwhile: web's readiness flips to false.
  const webCid = web.status!.containerStatuses![0]!.containerID!.replace(/^docker:\/\//, '');
  await run('docker', ['exec', webCid, 'rm', '/www/ready']);
  await agent.waitFor(
    'the agent to see web unready',
    (ps) => ready(ps.find((p) => p.metadata?.uid === web.metadata?.uid)) === 'False',
    20_000,
  );
  await sleep(Math.max(0, DOWN_MS - (Date.now() - stoppedAt)));
  const during = agent.logs.slice(logMark);
  t.ok(
    during.some((l) => /pod watch failed/.test(l)),
    "the agent's pod watch failed while the apiserver was down",
  );
  t.ok(
    during.some((l) => /cannot renew the node Lease/.test(l)),
    'its Lease renewals failed',
  );
  t.ok(
    during.some((l) => /writing pod status failed/.test(l)),
    'its status write failed',
  );
  t.same(await dockerView(), beforeDocker, 'while the apiserver is away nothing was restarted');

  // --- back --------------------------------------------------------------------------------------
  await cp.script(['start', 'apiserver']);
  const backAt = Date.now();
  t.comment(`apiserver down for ${backAt - stoppedAt} ms`);
  const unreadyInApi = await until(
    'web unready in the API (the change made while the apiserver was away)',
    60_000,
    async () => ready(await get('web')) === 'False',
  );
  t.ok(unreadyInApi, `the readiness flip reached the API ${Date.now() - backAt} ms after the apiserver was back`);
  await until('the node Ready', 60_000, nodeReady);
  t.pass('the node is Ready again');

  // The watch resumed: a pod created now runs, a pod deleted now is terminated and goes.
  const createdAt = Date.now();
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod('after', [{ ...demo }])) });
  await cp.kubectl(['-n', ns, 'delete', 'pod', `${ns}-victim`, '--wait=false']);
  let boundAt: number | undefined;
  const after = await until(
    'a pod created after the restart Ready in the API',
    90_000,
    async () => {
      const p = await get('after');
      if (p.spec?.nodeName) boundAt ??= Date.now();
      return ready(p) === 'True' ? p : undefined;
    },
    100,
  );
  const addedLine = agent.logs.find((l) => l.includes('"msg":"pod added"') && l.includes(`${ns}/${ns}-after`));
  const addedAt = addedLine ? Date.parse((JSON.parse(addedLine) as { ts: string }).ts) : undefined;
  t.comment(
    `pod created after the restart: bound by the scheduler +${boundAt === undefined ? '?' : boundAt - createdAt} ms, seen by the agent +${addedAt === undefined ? '?' : addedAt - createdAt} ms`,
  );
  t.match(after.status?.podIP, /^\d+\.\d+\.\d+\.\d+$/, `it runs, with IP ${after.status?.podIP}`);
  t.comment(
    `a pod created ${createdAt - backAt} ms after the apiserver was back: Ready in the API ${Date.now() - createdAt} ms later`,
  );
  await until('the pod deleted after the restart gone from the API', 60_000, async () => {
    const r = await cp.kubectl(['-n', ns, 'get', 'pod', `${ns}-victim`], { allowFailure: true });
    return r.code !== 0 && /NotFound/.test(r.stderr);
  });
  await until(
    'its containers gone',
    30_000,
    async () => !(await w.containers()).some((c) => c.Labels['io.kubernetes.pod.uid'] === victim.metadata?.uid),
  );
  t.pass('the pod deleted after the restart was terminated and left the API');

  // Nothing restarted: web's containers are the same ones, in Docker and in the API.
  const webNow = await get('web');
  t.same(apiView(webNow), beforeApi.web, 'web: same containerID, startedAt, restartCount 0 in the API');
  t.equal(webNow.status?.containerStatuses?.[0]?.restartCount, 0, 'restartCount 0');
  t.same(
    (await dockerView()).filter((l) => l.startsWith(`${ns}-web/`)),
    beforeDocker.filter((l) => l.startsWith(`${ns}-web/`)),
    'web: same container IDs and StartedAt in Docker, still running',
  );
  t.equal(beforeApi.victim.length, 1, 'victim had one container');
  t.notOk(
    agent.logs
      .slice(logMark)
      .some((l) => /"msg":"(restarted container|creating pod sandbox)"/.test(l) && l.includes(`${ns}-web`)),
    'the agent did not restart anything of web',
  );
  t.notOk(
    agent.logs.some((l) => /"level":"error"/.test(l)),
    'no errors in the agent log',
  );
  await cp.kubectl(['-n', ns, 'delete', 'pods', '--all', '--wait=true', '--timeout=60s']);
  await until('no containers left', 60_000, async () => (await w.containers()).length === 0);
});
