// The agent killed at every step of a pod's life, at named fault points (lib/faultpoints.ts,
// KUBENODE_FAULTPOINTS=<point>:exit): it SIGKILLs itself exactly there. A second agent, started
// without the variable, must bring the pod to where it should be (Running and Ready, or gone when
// its manifest was removed), leave nothing behind (containers, veths, host-local addresses, pod
// cgroups, mounts) and create nothing twice. Each case prints the time the second agent took.
import t from 'tap';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { FaultPointName } from '../../lib/faultpoints.js';
import {
  createWorld,
  testPod,
  findPod,
  podReady,
  IMAGES,
  type World,
  type AgentProcess,
} from '../fixtures/agent/world.js';
import { nodeState, watchCreations, type NodeState } from '../fixtures/agent/node-state.js';

interface FaultCase {
  point: FaultPointName;
  /** The pod's manifest is removed once it runs: the point is on the way out. */
  deleted: boolean;
  init?: boolean;
  /** What Docker must have created over both agents' lives, sorted ("<container> <attempt>"). */
  created: string[];
}

const CASES: FaultCase[] = [
  // The first sandbox never got its network: kubelet (and we) kill it and make a new one (attempt 1).
  { point: 'before-cni-add', deleted: false, created: ['POD 0', 'POD 1', 'app 0'] },
  { point: 'after-cni-add', deleted: false, created: ['POD 0', 'app 0'] },
  { point: 'after-init-container-start', deleted: false, init: true, created: ['POD 0', 'app 0', 'init 0'] },
  { point: 'during-pre-stop', deleted: true, created: ['POD 0', 'app 0'] },
  { point: 'before-sandbox-teardown', deleted: true, created: ['POD 0', 'app 0'] },
];

function faultPod(w: World, c: FaultCase): V1Pod {
  return testPod(
    w,
    'fault',
    [
      {
        name: 'app',
        image: IMAGES.busybox,
        // Ends at once on SIGTERM (a shell as PID 1 ignores it otherwise), so the grace period is not waited out.
        command: ['sh', '-c', 'trap "exit 0" TERM; touch /tmp/ready; while :; do sleep 0.2; done'],
        readinessProbe: { exec: { command: ['cat', '/tmp/ready'] }, periodSeconds: 1 },
        lifecycle: { preStop: { exec: { command: ['sh', '-c', 'echo stop >> /data/prestop; sleep 1'] } } },
        volumeMounts: [
          { name: 'data', mountPath: '/data' },
          { name: 'scratch', mountPath: '/scratch' },
        ],
      },
    ],
    {
      terminationGracePeriodSeconds: 3,
      ...(c.init
        ? {
            initContainers: [
              { name: 'init', image: IMAGES.busybox, command: ['sleep', '2'], imagePullPolicy: 'IfNotPresent' },
            ],
          }
        : {}),
      volumes: [
        { name: 'data', hostPath: { path: join(w.dir, 'data'), type: 'DirectoryOrCreate' } },
        // A tmpfs the agent mounts itself: the mount must go with the pod, and not be made twice.
        { name: 'scratch', emptyDir: { medium: 'Memory', sizeLimit: '1Mi' } },
      ],
    },
  );
}

/** What is wrong with the node compared with one pod Running and Ready (or none), in words. */
function discrepancies(s: NodeState, c: FaultCase, pod: V1Pod | undefined): string[] {
  const out: string[] = [];
  const want = c.deleted
    ? { containers: [], pods: 0, mounts: 0 }
    : { containers: ['POD running', 'app running', ...(c.init ? ['init exited'] : [])].sort(), pods: 1, mounts: 1 };
  if (c.deleted ? pod !== undefined : !podReady(pod))
    out.push(c.deleted ? 'the pod is still listed' : 'the pod is not Ready');
  if (JSON.stringify(s.containers) !== JSON.stringify(want.containers))
    out.push(`containers: ${s.containers.join(', ') || 'none'}`);
  if (s.veths !== want.pods) out.push(`${s.veths} veths on the bridge`);
  if (s.addresses.length !== want.pods) out.push(`addresses allocated: ${s.addresses.join(' ') || 'none'}`);
  if (s.podCgroups.length !== want.pods) out.push(`pod cgroups: ${s.podCgroups.join(' ') || 'none'}`);
  if (s.mounts.length !== want.mounts) out.push(`mounts: ${s.mounts.join(' ') || 'none'}`);
  return out;
}

async function converge(
  agent: AgentProcess,
  w: World,
  c: FaultCase,
  timeoutMs: number,
): Promise<{ pod?: V1Pod; state: NodeState }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!agent.running) throw new Error(`the restarted agent exited:\n${agent.logs.slice(-20).join('\n')}`);
    const pod = findPod(await agent.pods().catch(() => []), w, 'fault');
    const state = await nodeState(w);
    const wrong = discrepancies(state, c, pod);
    if (wrong.length === 0) return { pod, state };
    if (Date.now() > deadline)
      throw new Error(
        `not converged after ${timeoutMs} ms: ${wrong.join('; ')}\nlast log lines:\n${agent.logs.slice(-15).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 250));
  }
}

for (const c of CASES) {
  t.test(`agent killed at ${c.point}: the restarted agent converges`, async (t) => {
    const w = await createWorld(t);
    const creations = await watchCreations(w);
    t.teardown(() => creations.stop());
    const first = await w.startAgent([], undefined, { env: { KUBENODE_FAULTPOINTS: `${c.point}:exit` } });
    await w.writeManifest('fault.yaml', faultPod(w, c));
    if (c.deleted) {
      await first.waitFor('the pod Ready', (ps) => podReady(findPod(ps, w, 'fault')), 30_000);
      await w.removeManifest('fault.yaml');
    }
    let timer: NodeJS.Timeout | undefined;
    const killed = await Promise.race([
      first.exitCode().then(() => true),
      new Promise<false>((r) => (timer = setTimeout(() => r(false), 60_000))),
    ]);
    clearTimeout(timer);
    if (!killed)
      throw new Error(
        `the first agent did not die at ${c.point} within 60 s; last log lines:\n${first.logs.slice(-15).join('\n')}`,
      );
    t.pass(`the first agent died at ${c.point}`);
    t.equal(first.child.signalCode, 'SIGKILL', 'by SIGKILL, as the exit action does');
    t.ok(
      first.logs.some((l) => l.includes('fault point reached') && l.includes(`"point":"${c.point}"`)),
      'and said which point it reached',
    );

    const restartedAt = Date.now();
    const second = await w.startAgent([], undefined, { env: { KUBENODE_FAULTPOINTS: '' } });
    const { pod, state } = await converge(second, w, c, 45_000);
    const seconds = (Date.now() - restartedAt) / 1000;
    t.comment(`${c.point}: ${c.deleted ? 'gone' : 'Running and Ready'} ${seconds.toFixed(1)} s after the restart`);
    t.same(discrepancies(state, c, pod), [], 'nothing left over, nothing missing');
    t.same([...creations.created].sort(), c.created, `created over both lives: ${c.created.join(', ')}`);
    t.notOk(
      second.logs.some((l) => l.includes('fault point reached')),
      'the second agent has no fault points armed',
    );

    if (!c.deleted) {
      const status = pod!.status!;
      t.same(
        status.containerStatuses!.map((s) => [s.name, s.restartCount]),
        [['app', 0]],
        'restartCount 0: the app container ran once',
      );
      if (c.init)
        t.match(status.initContainerStatuses, [
          { name: 'init', restartCount: 0, state: { terminated: { exitCode: 0, reason: 'Completed' } } },
        ]);
      t.match(
        status.conditions!.find((x) => x.type === 'PodReadyToStartContainers'),
        { status: 'True' },
      );
      t.ok(
        status.podIP && state.addresses.includes(status.podIP),
        `the pod IP ${status.podIP} is the one address allocated`,
      );
      const sandboxChanged = second.logs.some(
        (l) =>
          l.includes('"reason":"SandboxChanged"') &&
          l.includes('Pod sandbox changed, it will be killed and re-created.'),
      );
      t.equal(
        sandboxChanged,
        c.point === 'before-cni-add',
        c.point === 'before-cni-add'
          ? 'SandboxChanged: the sandbox without a network was replaced'
          : 'the sandbox was adopted, not replaced',
      );
    } else {
      // Killed mid-termination or before the teardown: the orphan is stopped again, and its
      // preStop hook run again (kubelet reads it from the container's label).
      const ran = (await readFile(join(w.dir, 'data', 'prestop'), 'utf8')).trim().split('\n');
      t.ok(ran.length >= 1, `the preStop hook ran (${ran.length} times over both agents)`);
    }
  });
}
