// The four failover scenarios of scripts/failover.sh, the end-to-end tests and bench/failover:
// a steady request loop against node 1's NodePort while one backend is broken, then figures.
//   a  kill one backend's container (docker kill: the agent restarts it)
//   b  make one backend fail its readiness probe (rm /www/ready inside it), then heal it
//   c  delete one backend pod gracefully (its preStop hook keeps it serving meanwhile)
//   d  partition a node holding backends; wait until they are replaced on the other nodes
import { run, type RunResult } from '../../lib/exec.js';
import { demoPods, waitForPods, type EmulatedCluster, type PodInfo } from './cluster.js';
import { RequestLoop, summarize, type Sample, type TrafficSummary } from './traffic.js';

export type ScenarioName = 'a' | 'b' | 'c' | 'd';
export const SCENARIO_TITLES: Record<ScenarioName, string> = {
  a: "kill one backend's container",
  b: 'one backend fails its readiness probe',
  c: 'delete one backend pod gracefully',
  d: 'partition a node holding backends',
};

export type ClusterAccess = Pick<EmulatedCluster, 'kubectl' | 'sh' | 'nodeName' | 'nodeIP'> & {
  /** docker on the machine that runs NODE's pods; default this machine's Docker, which every
   * emulated node shares (Vagrant VMs each have their own). */
  docker?: (node: string, args: string[]) => Promise<RunResult>;
};
const hostDocker = (_node: string, args: string[]) => run('docker', args);

export interface ScenarioOptions {
  nodePort: number;
  replicas: number;
  ratePerSecond?: number;
  timeoutMs?: number;
  /** Which backend to act on, rotating (0: the first one off the entry node). */
  targetIndex?: number;
  /** Progress lines for a person watching (failover.sh). */
  log?: (line: string) => void;
}

export interface ScenarioResult {
  scenario: ScenarioName;
  title: string;
  target: string;
  summary: TrafficSummary;
  samples: Sample[];
  /** Scenario-specific facts, e.g. when the pod was seen unready, which answered after. */
  facts: Record<string, number | string | boolean>;
  /** The loop's start as wall-clock ms (Date.now()), so cluster timestamps map onto samples. */
  t0Wall: number;
  /** Loop ms: when the scenario acted, and from when traffic counted as settled. */
  actionAt: number;
  settledFrom: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const BASELINE_MS = 2000;
const SETTLED_MS = 2000;

/** The running `demo` container of a pod, by its UID: Docker is shared by every emulated node
 * and by other clusters, where a pod of the same name may exist. */
async function demoContainer(docker: NonNullable<ClusterAccess['docker']>, pod: PodInfo): Promise<string> {
  const res = await docker(pod.node, [
    'ps',
    '-q',
    '--filter',
    `label=io.kubernetes.pod.uid=${pod.uid}`,
    '--filter',
    'label=io.kubernetes.container.name=demo',
  ]);
  const id = res.stdout.trim().split('\n')[0];
  if (!id) throw new Error(`no running demo container for pod ${pod.name} (uid ${pod.uid})`);
  return id;
}

/**
 * A Ready backend: those on other nodes than the one traffic enters by come first; `index`
 * rotates through them, so repeated runs do not crash one container again and again (the agent,
 * like kubelet, backs off restarting a container that keeps dying: 10 s, 20 s, 40 s...).
 */
function pickTarget(pods: PodInfo[], entryNode: string, index = 0): PodInfo {
  const ready = pods
    .filter((p) => p.ready && !p.deleting)
    .sort((a, b) => Number(a.node === entryNode) - Number(b.node === entryNode) || a.name.localeCompare(b.name));
  const t = ready[index % Math.max(1, ready.length)];
  if (!t) throw new Error(`no Ready demo pod to act on: ${JSON.stringify(pods)}`);
  return t;
}

const allReady = (replicas: number) => (p: PodInfo[]) => p.filter((x) => x.ready && !x.deleting).length === replicas;

export async function runScenario(
  c: ClusterAccess,
  scenario: ScenarioName,
  o: ScenarioOptions,
): Promise<ScenarioResult> {
  const log = o.log ?? (() => {});
  const docker = c.docker ?? hostDocker;
  const entry = c.nodeName(1);
  const url = `http://${c.nodeIP(1)}:${o.nodePort}/`;
  const pods = await waitForPods(c, `${o.replicas} demo pods Ready`, allReady(o.replicas), 180_000);
  const facts: ScenarioResult['facts'] = {};
  const loop = new RequestLoop(url, o.ratePerSecond ?? 20, o.timeoutMs ?? 1000);
  loop.start();
  const t0Wall = Date.now() - loop.now();
  await sleep(BASELINE_MS);
  let target: PodInfo;
  let actionAt: number;
  let settledFrom: number;
  try {
    switch (scenario) {
      case 'a': {
        target = pickTarget(pods, entry, o.targetIndex);
        const id = await demoContainer(docker, target);
        log(`killing container ${id.slice(0, 12)} of ${target.name} on ${target.node}`);
        actionAt = loop.now();
        await docker(target.node, ['kill', '--signal', 'KILL', id]);
        await waitForPods(
          c,
          `${target.name} restarted and Ready`,
          (p) => p.some((x) => x.name === target.name && x.restarts > target.restarts && x.ready),
          120_000,
        );
        facts.readyAgainSeconds = (loop.now() - actionAt) / 1000;
        log(`${target.name} restarted and Ready again after ${facts.readyAgainSeconds.toFixed(1)} s`);
        break;
      }
      case 'b': {
        target = pickTarget(pods, entry, o.targetIndex);
        const id = await demoContainer(docker, target);
        log(`making ${target.name} on ${target.node} fail its readiness probe (rm /www/ready)`);
        actionAt = loop.now();
        await docker(target.node, ['exec', id, 'rm', '-f', '/www/ready']);
        await waitForPods(
          c,
          `${target.name} unready`,
          (p) => p.some((x) => x.name === target.name && !x.ready),
          30_000,
        );
        facts.unreadySeenAt = loop.now();
        facts.unreadySeenSeconds = (loop.now() - actionAt) / 1000;
        log(`${target.name} is unready (seen after ${facts.unreadySeenSeconds.toFixed(1)} s); keeping it so for 4 s`);
        await sleep(4000);
        const healAt = loop.now();
        facts.healAt = healAt;
        await docker(target.node, ['exec', id, 'touch', '/www/ready']);
        await waitForPods(
          c,
          `${target.name} Ready again`,
          (p) => p.some((x) => x.name === target.name && x.ready),
          30_000,
        );
        log(`${target.name} passes its readiness probe again`);
        const duringUnready = loop.samples.filter(
          (s) => s.ok && s.pod === target.name && s.start >= actionAt && s.start < healAt,
        );
        const lastBeforeHeal = duringUnready.length ? duringUnready[duringUnready.length - 1]! : undefined;
        facts.lastAnswerWhileFailingSeconds = lastBeforeHeal ? (lastBeforeHeal.start - actionAt) / 1000 : 0;
        facts.answersAfterUnreadySeen = loop.samples.filter(
          (s) => s.ok && s.pod === target.name && s.start >= (facts.unreadySeenAt as number) && s.start < healAt,
        ).length;
        break;
      }
      case 'c': {
        target = pickTarget(pods, entry, o.targetIndex);
        log(`deleting ${target.name} on ${target.node} gracefully`);
        actionAt = loop.now();
        await c.kubectl(['delete', 'pod', target.name, '--wait=false']);
        await waitForPods(
          c,
          `${target.name} gone and ${o.replicas} pods Ready`,
          (p) => !p.some((x) => x.name === target.name) && allReady(o.replicas)(p),
          120_000,
        );
        facts.replacedSeconds = (loop.now() - actionAt) / 1000;
        log(`${target.name} is gone and its replacement Ready after ${facts.replacedSeconds.toFixed(1)} s`);
        break;
      }
      case 'd': {
        // The node (not the entry node) with the most backends.
        const counts = new Map<string, number>();
        for (const p of pods) if (p.node !== entry) counts.set(p.node, (counts.get(p.node) ?? 0) + 1);
        const victim = [...counts.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))[0]?.[0];
        if (!victim)
          throw new Error(`every demo pod runs on ${entry}, the node traffic enters by; nothing to partition`);
        target = { ...pods.find((p) => p.node === victim)!, name: victim };
        const victimIndex = Number(/(\d+)$/.exec(victim)![1]);
        log(`partitioning ${victim} (${counts.get(victim)} backends)`);
        actionAt = loop.now();
        await c.sh(['partition', String(victimIndex)]);
        facts.partitionedNode = victim;
        await waitForPods(
          c,
          `${o.replicas} Ready demo pods off ${victim}`,
          (p) => p.filter((x) => x.ready && !x.deleting && x.node !== victim).length >= o.replicas,
          180_000,
        );
        facts.replacedSeconds = (loop.now() - actionAt) / 1000;
        log(`backends replaced on the other nodes after ${facts.replacedSeconds.toFixed(1)} s`);
        break;
      }
    }
    await sleep(SETTLED_MS);
    settledFrom = loop.now() - SETTLED_MS;
  } finally {
    await loop.stop();
  }
  const samples = loop.samples;
  const summary = summarize(samples, actionAt!, settledFrom!);
  if (scenario === 'a' || scenario === 'b') facts.targetAnsweredAfter = (summary.podsAfter[target!.name] ?? 0) > 0;
  return {
    scenario,
    title: SCENARIO_TITLES[scenario],
    target: target!.name,
    summary,
    samples,
    facts,
    t0Wall,
    actionAt: actionAt!,
    settledFrom: settledFrom!,
  };
}

/** After scenario d: heal the node and wait until it is Ready and the demo is whole again. */
export async function healAfterPartition(c: ClusterAccess, node: string, replicas: number): Promise<void> {
  const i = Number(/(\d+)$/.exec(node)![1]);
  await c.sh(['heal', String(i)]);
  const deadline = Date.now() + 120_000;
  while (Date.now() < deadline) {
    const r = await c.kubectl(['get', 'node', node, '-o', 'jsonpath={.status.conditions[?(@.type=="Ready")].status}'], {
      allowFailure: true,
    });
    if (r.stdout.trim() === 'True') break;
    await sleep(1000);
  }
  await waitForPods(c, 'the demo whole again', (p) => p.length === replicas && allReady(replicas)(p), 180_000);
}

export async function currentDemoPods(c: ClusterAccess): Promise<PodInfo[]> {
  return demoPods(c);
}
