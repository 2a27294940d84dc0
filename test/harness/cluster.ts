// An emulated cluster (scripts/cluster.sh) for end-to-end tests and benchmarks, with names,
// addresses, ports and a state directory of its own, so it never collides with a cluster a
// person started with `npm start` (or with another run). Torn down with `cluster.sh down`.
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { run, type RunResult } from '../../lib/exec.js';
import { SCRIPTS } from './control-plane.js';
import type { Teardownable } from './netns.js';
import { freePorts } from './ports.js';
import { runPrefix } from './prefix.js';
import { requireProgram, requireRoot } from './require.js';

export interface ClusterOptions {
  /** Which programs each node runs (KUBENODE_NODE_COMPONENTS); default all. */
  components?: string[];
  env?: Record<string, string>;
}

export interface EmulatedCluster {
  name: string;
  dir: string;
  subnet: string;
  clusterCIDR: string;
  hostIP: string;
  env: NodeJS.ProcessEnv;
  nodeName(i: number): string;
  nodeIP(i: number): string;
  /** scripts/cluster.sh with this cluster's settings; throws on failure unless allowFailure. */
  sh(args: string[], opts?: { allowFailure?: boolean; timeoutMs?: number; input?: string }): Promise<RunResult>;
  kubectl(args: string[], opts?: { input?: string; allowFailure?: boolean }): Promise<RunResult>;
  /** A command in node i's network namespace. */
  exec(i: number, cmd: string[], opts?: { allowFailure?: boolean; timeoutMs?: number }): Promise<RunResult>;
  down(): Promise<RunResult>;
}

async function usedIPv4Routes(): Promise<string> {
  return (
    (await run('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout + (await run('ip', ['-4', 'addr', 'show'])).stdout
  );
}

/** A /24 in 192.168.0.0/16 and a /16 in 10.0.0.0/8 that nothing on this machine uses yet. */
async function freeNetworks(): Promise<{ subnet: string; clusterCIDR: string }> {
  const used = await usedIPv4Routes();
  const pick = (lo: number, hi: number, taken: (n: number) => boolean) => {
    for (let tries = 0; tries < 200; tries++) {
      const n = lo + Math.floor(Math.random() * (hi - lo + 1));
      if (!taken(n)) return n;
    }
    throw new Error('no free test network: every candidate is routed on this machine');
  };
  // Never 56: that is the default cluster's (npm start) network.
  const c = pick(100, 250, (n) => n === 56 || used.includes(`192.168.${n}.`));
  const b = pick(100, 250, (n) => used.includes(`10.${n}.`));
  return { subnet: `192.168.${c}.0/24`, clusterCIDR: `10.${b}.0.0/16` };
}

/** Settings for a fresh cluster; nothing is started yet (call `sh(['up', ...])`). */
export async function newCluster(t: Teardownable, opts: ClusterOptions = {}): Promise<EmulatedCluster> {
  requireRoot();
  requireProgram('ip', 'iptables-restore', 'bridge', 'tc');
  const name = runPrefix();
  const dir = mkdtempSync(join(tmpdir(), `kubenode-cluster-${name}-`));
  const { subnet, clusterCIDR } = await freeNetworks();
  const [api, etcdClient, etcdPeer] = await freePorts(3);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBENODE_CLUSTER_NAME: name,
    KUBENODE_CLUSTER_DIR: dir,
    KUBENODE_CLUSTER_SUBNET: subnet,
    CLUSTER_CIDR: clusterCIDR,
    APISERVER_PORT: String(api),
    ETCD_CLIENT_PORT: String(etcdClient),
    ETCD_PEER_PORT: String(etcdPeer),
    CONTROLLER_MANAGER_PORT: '0',
    SCHEDULER_PORT: '0',
    ...(opts.components ? { KUBENODE_NODE_COMPONENTS: opts.components.join(' ') } : {}),
    ...opts.env,
  };
  // CNI plugins of this build in a directory of the run's own (scripts/install-cni.sh, as
  // setup.sh does for /opt/cni/bin), so a test runs the plugins it was built with.
  if (!opts.components || opts.components.includes('agent')) {
    const cniBin = join(dir, 'cni-bin');
    await run('bash', [join(SCRIPTS, 'install-cni.sh')], { env: { ...process.env, CNI_BIN_DIR: cniBin } });
    env.CNI_BIN_DIR = cniBin;
  }
  const base = subnet.split('.').slice(0, 3).join('.');
  const script = join(SCRIPTS, 'cluster.sh');
  const sh: EmulatedCluster['sh'] = (args, o = {}) =>
    run('bash', [script, ...args], {
      env,
      allowFailure: o.allowFailure,
      timeoutMs: o.timeoutMs ?? 300_000,
      input: o.input,
    });
  const cluster: EmulatedCluster = {
    name,
    dir,
    subnet,
    clusterCIDR,
    hostIP: `${base}.1`,
    env,
    nodeName: (i) => `${name}-node${i}`,
    nodeIP: (i) => `${base}.${10 + i}`,
    sh,
    kubectl: (args, o = {}) =>
      sh(['kubectl', ...args], { input: o.input, allowFailure: o.allowFailure, timeoutMs: 120_000 }),
    exec: (i, cmd, o = {}) =>
      sh(['exec', String(i), '--', ...cmd], { allowFailure: o.allowFailure, timeoutMs: o.timeoutMs ?? 60_000 }),
    down: () => sh(['down'], { allowFailure: true, timeoutMs: 300_000 }),
  };
  t.teardown(async () => {
    const res = await cluster.down();
    if (res.code !== 0) process.stderr.write(`cluster ${name} teardown: ${res.stderr}\n`);
    await run('rm', ['-rf', dir]);
  });
  return cluster;
}

// --- the demo app ----------------------------------------------------------------------------

/** scripts/demo.yaml as objects, with the test's own NodePort and replica count. */
export function demoManifests(opts: { nodePort?: number; replicas?: number } = {}): Record<string, any>[] {
  const docs = parseAllDocuments(readFileSync(join(SCRIPTS, 'demo.yaml'), 'utf8')).map(
    (d) => d.toJS() as Record<string, any>,
  );
  for (const d of docs) {
    if (d.kind === 'Deployment' && opts.replicas !== undefined) d.spec.replicas = opts.replicas;
    if (d.kind === 'Service' && opts.nodePort !== undefined) d.spec.ports[0].nodePort = opts.nodePort;
  }
  return docs;
}

export const DEMO_NODE_PORT = 30080;

export interface PodInfo {
  name: string;
  node: string;
  ip: string;
  ready: boolean;
  phase: string;
  deleting: boolean;
  restarts: number;
  uid: string;
}

export type KubectlAccess = Pick<EmulatedCluster, 'kubectl'>;

export async function demoPods(c: KubectlAccess): Promise<PodInfo[]> {
  const out = (await c.kubectl(['get', 'pods', '-l', 'app=demo', '-o', 'json'])).stdout;
  return (JSON.parse(out).items as any[]).map((p) => ({
    name: p.metadata.name,
    uid: p.metadata.uid,
    node: p.spec.nodeName ?? '',
    ip: p.status?.podIP ?? '',
    phase: p.status?.phase ?? '',
    deleting: Boolean(p.metadata.deletionTimestamp),
    ready: (p.status?.conditions ?? []).some((x: any) => x.type === 'Ready' && x.status === 'True'),
    restarts: (p.status?.containerStatuses ?? []).reduce((n: number, s: any) => n + (s.restartCount ?? 0), 0),
  }));
}

/** Poll until cond(pods) holds; throws with the last pod list when it does not in time. */
export async function waitForPods(
  c: KubectlAccess,
  what: string,
  cond: (pods: PodInfo[]) => boolean,
  timeoutMs = 120_000,
): Promise<PodInfo[]> {
  const deadline = Date.now() + timeoutMs;
  let pods: PodInfo[] = [];
  while (Date.now() < deadline) {
    pods = await demoPods(c);
    if (cond(pods)) return pods;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`timed out after ${timeoutMs / 1000}s waiting for ${what}; demo pods: ${JSON.stringify(pods)}`);
}

export async function deployDemo(
  c: KubectlAccess,
  opts: { nodePort?: number; replicas?: number } = {},
): Promise<PodInfo[]> {
  const replicas = opts.replicas ?? 3;
  const docs = demoManifests({ ...opts, replicas });
  await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: docs }) });
  return waitForPods(
    c,
    `${replicas} demo pods Ready`,
    (p) => p.filter((x) => x.ready && !x.deleting).length === replicas,
    180_000,
  );
}

/**
 * The cluster `cluster.sh` manages under the current settings (a person's `npm start` cluster,
 * by default): what scripts/failover.sh acts on. Nothing is torn down.
 */
export async function existingCluster(env: NodeJS.ProcessEnv = process.env): Promise<EmulatedCluster> {
  const script = join(SCRIPTS, 'cluster.sh');
  const sh: EmulatedCluster['sh'] = (args, o = {}) =>
    run('bash', [script, ...args], {
      env,
      allowFailure: o.allowFailure,
      timeoutMs: o.timeoutMs ?? 300_000,
      input: o.input,
    });
  const lines = (await sh(['nodes'])).stdout.trim().split('\n').filter(Boolean);
  if (lines.length === 0)
    throw new Error("no emulated cluster is up: start one with 'sudo npm start' (or scripts/cluster.sh up)");
  const nodes = lines.map((l) => l.split(' ') as [string, string]);
  const name = nodes[0]![0].replace(/-node\d+$/, '');
  const ipOf = (i: number) => nodes.find(([n]) => n === `${name}-node${i}`)?.[1] ?? '';
  const base = ipOf(1).split('.').slice(0, 3).join('.');
  return {
    name,
    dir: '',
    subnet: `${base}.0/24`,
    clusterCIDR: '',
    hostIP: `${base}.1`,
    env,
    nodeName: (i) => `${name}-node${i}`,
    nodeIP: ipOf,
    sh,
    kubectl: (args, o = {}) =>
      sh(['kubectl', ...args], { input: o.input, allowFailure: o.allowFailure, timeoutMs: 120_000 }),
    exec: (i, cmd, o = {}) =>
      sh(['exec', String(i), '--', ...cmd], { allowFailure: o.allowFailure, timeoutMs: o.timeoutMs ?? 60_000 }),
    down: () => sh(['down'], { allowFailure: true }),
  };
}
