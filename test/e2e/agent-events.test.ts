// kubelet-style Events from a kubenode agent joined to a real control plane (Node authorizer,
// NodeRestriction, node credentials): a pod that starts shows Scheduled (the scheduler's), then
// Pulled, Created, Started from source kubelet on this node; a failing liveness probe shows
// Unhealthy, counted on one Event object rather than many, and Killing; a container that exits 1
// shows BackOff; a hostPath of type Directory that does not exist shows FailedMount while the
// pod stays ContainerCreating; a failing postStart hook shows FailedPostStartHook and Killing; a
// sandbox killed under a running pod shows SandboxChanged and the pod is made again;
// `kubectl describe pod` lists them; the Node has Starting and NodeReady. Everything is named with the run prefix; the namespace is deleted at teardown.
import t from 'tap';
import type { CoreV1Event, V1Pod } from '@kubernetes/client-node';
import type { ControlPlane } from '../harness/control-plane.js';
import { IMAGES } from '../fixtures/agent/world.js';
import { until } from '../harness/until.js';
import { joinAgent } from '../harness/joined-agent.js';
import { run } from '../../lib/exec.js';

async function getPod(cp: ControlPlane, ns: string, name: string): Promise<V1Pod> {
  return JSON.parse((await cp.kubectl(['-n', ns, 'get', 'pod', name, '-o', 'json'])).stdout) as V1Pod;
}

async function events(cp: ControlPlane, ns: string, object?: string): Promise<CoreV1Event[]> {
  const args = ['-n', ns, 'get', 'events', '-o', 'json'];
  if (object) args.push(`--field-selector=involvedObject.name=${object}`);
  const items = (JSON.parse((await cp.kubectl(args)).stdout) as { items: CoreV1Event[] }).items;
  return items;
}

const reasons = (es: CoreV1Event[]) => es.map((e) => e.reason ?? '');

t.test('kubelet-style Events from a kubenode agent', async (t) => {
  const { cp, world, agent, ns } = await joinAgent(t, { logLines: 120 });
  const node = world.nodeName;
  t.teardown(() => cp.kubectl(['delete', 'namespace', ns, '--wait=false'], { allowFailure: true }));

  const pod = (
    name: string,
    spec: Partial<NonNullable<V1Pod['spec']>> & Pick<NonNullable<V1Pod['spec']>, 'containers'>,
  ): V1Pod => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: `${ns}-${name}`, namespace: ns },
    spec: { terminationGracePeriodSeconds: 2, ...spec },
  });
  const sh = (script: string) => ({ image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', script] });
  const pods = [
    pod('ok', { containers: [{ name: 'main', ...sh('sleep 3600') }] }),
    pod('live', {
      containers: [
        {
          name: 'live',
          ...sh('sleep 3600'),
          livenessProbe: { exec: { command: ['sh', '-c', 'exit 1'] }, periodSeconds: 1, failureThreshold: 3 },
        },
      ],
    }),
    pod('crash', { containers: [{ name: 'crash', ...sh('exit 1') }] }),
    pod('mount', {
      containers: [{ name: 'main', ...sh('sleep 3600'), volumeMounts: [{ name: 'data', mountPath: '/data' }] }],
      volumes: [{ name: 'data', hostPath: { path: `/nonexistent-${ns}`, type: 'Directory' } }],
    }),
    pod('hook', {
      containers: [
        {
          name: 'hooked',
          ...sh('sleep 3600'),
          lifecycle: { postStart: { exec: { command: ['sh', '-c', 'exit 1'] } } },
        },
      ],
    }),
    pod('sandbox', { containers: [{ name: 'main', ...sh('sleep 3600') }] }),
  ];
  await cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }) });

  // --- a pod that starts: Scheduled, Pulled, Created, Started ---------------------------------
  const ok = await until('Scheduled, Pulled, Created and Started for the pod that starts', 90_000, async () => {
    const es = await events(cp, ns, `${ns}-ok`);
    return ['Scheduled', 'Pulled', 'Created', 'Started'].every((r) => reasons(es).includes(r)) ? es : undefined;
  });
  const started = ok.find((e) => e.reason === 'Started')!;
  t.equal(started.source?.component, 'kubelet', 'source.component kubelet');
  t.equal(started.source?.host, node, 'source.host is the node');
  t.equal(started.reportingComponent, 'kubelet');
  t.equal(started.reportingInstance, node);
  t.equal(started.type, 'Normal');
  t.equal(started.message, 'Started container main');
  t.equal(started.involvedObject.fieldPath, 'spec.containers{main}', 'container events point at the container');
  t.equal(started.involvedObject.kind, 'Pod');
  t.match(started.metadata.name, new RegExp(`^${ns}-ok\\.[0-9a-f]+$`), 'named <pod>.<hex nanos>');
  t.match(ok.find((e) => e.reason === 'Pulled')!.message, /already present on machine/);
  t.equal(ok.find((e) => e.reason === 'Created')!.message, 'Created container: main');
  const apiPod = await getPod(cp, ns, `${ns}-ok`);
  t.equal(started.involvedObject.uid, apiPod.metadata!.uid, 'the involved object is the API pod (its UID)');

  // --- failing liveness: Unhealthy counted on one Event, and Killing ---------------------------
  const unhealthy = await until('the Unhealthy event counted at least 3 times, and Killing', 90_000, async () => {
    const es = await events(cp, ns, `${ns}-live`);
    const u = es.filter((e) => e.reason === 'Unhealthy');
    return u.some((e) => (e.count ?? 0) >= 3) && reasons(es).includes('Killing') ? u : undefined;
  });
  t.equal(
    unhealthy.length,
    1,
    `one Unhealthy Event object for the repeated failure (${unhealthy.map((e) => `${e.count}x ${e.message}`).join('; ')})`,
  );
  t.equal(unhealthy[0]!.type, 'Warning');
  t.match(unhealthy[0]!.message, /^Liveness probe failed: /);
  t.equal(unhealthy[0]!.involvedObject.fieldPath, 'spec.containers{live}');
  t.ok(
    new Date(unhealthy[0]!.lastTimestamp!).getTime() > new Date(unhealthy[0]!.firstTimestamp!).getTime(),
    'lastTimestamp moved on with the count',
  );
  const killing = (await events(cp, ns, `${ns}-live`)).find((e) => e.reason === 'Killing')!;
  t.equal(killing.message, 'Container live failed liveness probe, will be restarted');

  // --- a container that exits 1: BackOff -------------------------------------------------------
  const backoff = await until('BackOff for the crashing container', 90_000, async () =>
    (await events(cp, ns, `${ns}-crash`)).find((e) => e.reason === 'BackOff'),
  );
  t.equal(backoff.type, 'Warning');
  t.match(backoff.message, /^Back-off restarting failed container crash in pod /);

  // --- a hostPath Directory that does not exist: FailedMount, still ContainerCreating ------------
  const failedMount = await until('FailedMount', 60_000, async () =>
    (await events(cp, ns, `${ns}-mount`)).find((e) => e.reason === 'FailedMount'),
  );
  t.equal(failedMount.type, 'Warning');
  t.match(failedMount.message, /^MountVolume\.SetUp failed for volume "data" : /);
  t.equal(failedMount.involvedObject.fieldPath, undefined, 'a pod-level event: no fieldPath');
  const mountPod = JSON.parse(
    (await cp.kubectl(['-n', ns, 'get', 'pod', `${ns}-mount`, '-o', 'json'])).stdout,
  ) as V1Pod;
  t.equal(mountPod.status?.phase, 'Pending');
  t.equal(
    mountPod.status?.containerStatuses?.[0]?.state?.waiting?.reason,
    'ContainerCreating',
    'the pod stays ContainerCreating',
  );
  t.equal(
    (await events(cp, ns, `${ns}-mount`)).filter((e) => e.reason === 'FailedMount').length,
    1,
    'the retried mount is one Event, not one per retry',
  );

  // --- a failing postStart hook: FailedPostStartHook, then the container is killed ----------------
  const hookEvents = await until('FailedPostStartHook and its Killing', 60_000, async () => {
    const es = await events(cp, ns, `${ns}-hook`);
    return ['FailedPostStartHook', 'Killing'].every((r) => reasons(es).includes(r)) ? es : undefined;
  });
  const failedHook = hookEvents.find((e) => e.reason === 'FailedPostStartHook')!;
  t.equal(failedHook.type, 'Warning');
  t.equal(failedHook.involvedObject.fieldPath, 'spec.containers{hooked}');
  t.equal(
    hookEvents.find((e) => e.reason === 'Killing')!.message,
    'FailedPostStartHook',
    "Killing names the hook as kubelet's does",
  );

  // --- the sandbox killed under a running pod: SandboxChanged, the pod made again ------------------
  const sandboxOf = async () =>
    (
      await run('docker', [
        'ps',
        '-q',
        '--filter',
        `label=io.kubernetes.pod.name=${ns}-sandbox`,
        '--filter',
        'label=io.kubernetes.docker.type=podsandbox',
      ])
    ).stdout.trim();
  await until(
    'the sandbox pod Running',
    60_000,
    async () => (await getPod(cp, ns, `${ns}-sandbox`)).status?.phase === 'Running',
  );
  const firstSandbox = await sandboxOf();
  t.ok(firstSandbox, 'the pod has a running sandbox container');
  const firstContainer = (await getPod(cp, ns, `${ns}-sandbox`)).status?.containerStatuses?.[0]?.containerID;
  await run('docker', ['kill', firstSandbox]);
  const changed = await until('SandboxChanged', 60_000, async () =>
    (await events(cp, ns, `${ns}-sandbox`)).find((e) => e.reason === 'SandboxChanged'),
  );
  t.equal(changed.message, 'Pod sandbox changed, it will be killed and re-created.');
  const again = await until('the pod Running again in a new sandbox', 60_000, async () => {
    const p = await getPod(cp, ns, `${ns}-sandbox`);
    const s = await sandboxOf();
    // The app container outlives its sandbox until the agent kills it: wait for a new one.
    const cs = p.status?.containerStatuses?.[0];
    return cs?.state?.running && cs.containerID !== firstContainer && s && s !== firstSandbox ? p : undefined;
  });
  t.equal(again.status!.containerStatuses![0]!.restartCount, 1, 'its container restarted once, in the new sandbox');

  // --- kubectl describe pod shows them ----------------------------------------------------------
  const describeLive = (await cp.kubectl(['-n', ns, 'describe', 'pod', `${ns}-live`])).stdout;
  const eventsSection = describeLive.slice(describeLive.indexOf('\nEvents:'));
  t.ok(describeLive.includes('\nEvents:'), 'describe has an Events section');
  for (const r of ['Scheduled', 'Created', 'Started', 'Unhealthy', 'Killing'])
    t.match(eventsSection, new RegExp(`\\b${r}\\b`), `describe pod lists ${r}`);
  t.match(eventsSection, /kubelet/, 'From: kubelet');
  t.match(
    (await cp.kubectl(['-n', ns, 'describe', 'pod', `${ns}-mount`])).stdout,
    /FailedMount .*MountVolume\.SetUp failed/,
  );
  t.match(
    (await cp.kubectl(['-n', ns, 'describe', 'pod', `${ns}-crash`])).stdout,
    /BackOff .*Back-off restarting failed container/,
  );

  // --- the Node: Starting, NodeReady -------------------------------------------------------------
  const nodeEvents = await until('Starting and NodeReady for the Node', 30_000, async () => {
    const es = (await events(cp, 'default', node)).filter((e) => e.involvedObject.kind === 'Node');
    return ['Starting', 'NodeReady'].every((r) => reasons(es).includes(r)) ? es : undefined;
  });
  t.equal(nodeEvents.find((e) => e.reason === 'Starting')!.source?.host, node);
  t.match(
    (await cp.kubectl(['describe', 'node', node])).stdout,
    /Starting .*Starting kubenode agent/,
    'describe node lists Starting',
  );

  // --- the agent's own log and metrics ----------------------------------------------------------
  t.ok(
    agent.logs.some(
      (l) => l.includes('"msg":"event"') && l.includes('"reason":"Started"') && l.includes(`${ns}/${ns}-ok`),
    ),
    'every event is in the agent log too',
  );
  const metrics = (await agent.get('/metrics')).body;
  const sent = Number(/kubenode_events_total\{result="sent"\} (\d+)/.exec(metrics)?.[1] ?? 0);
  t.ok(sent > 0, `kubenode_events_total{result="sent"} ${sent}`);
});
