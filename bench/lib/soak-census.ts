// What one emulated node holds of the pods and Services a soak run made: its containers, the
// pods' veths, the addresses in the IPAM store, the pod cgroups and per-pod directories, mounts
// under the agent's root dir, and the proxy's per-Service and per-endpoint chains. Counted once
// before the churn and once after everything is scaled to 0 and deleted; what the second count
// holds beyond the first is a leak. Read-only: nothing here changes the node.
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import type { EmulatedCluster } from '../../test/harness/cluster.js';

export interface SoakNode {
  cluster: EmulatedCluster;
  /** The node's index in cluster.sh (1) and its name (the agent's kubenode.io/instance label). */
  index: number;
  name: string;
  /** KUBENODE_NODE_DIR: logs, run/*.pid, ipam/, root/ (the agent's --root-dir). */
  dir: string;
  /** The run's namespace: the Services whose chains are counted. */
  namespace: string;
}

export const CENSUS_KINDS = ['containers', 'veths', 'addresses', 'podCgroups', 'podDirs', 'mounts', 'chains'] as const;
export type CensusKind = (typeof CENSUS_KINDS)[number];
export type Census = Record<CensusKind, string[]>;

/** The proxy's chains that exist per Service or per endpoint (kube-proxy's iptables names). */
const SERVICE_CHAIN = /^:(KUBE-(SVC|SEP|SVL|EXT|FW)-[A-Z0-9]+) /;

/** Docker containers labelled with the node's agent instance (sandboxes and app containers). */
async function containers(n: SoakNode): Promise<string[]> {
  const out = await run('docker', [
    'ps',
    '-a',
    '--filter',
    `label=kubenode.io/instance=${n.name}`,
    '--format',
    '{{.Names}}',
  ]);
  return out.stdout.split('\n').filter(Boolean);
}

/** veths in the node's namespace other than its own uplink (eth0): the pods' host ends. */
async function veths(n: SoakNode): Promise<string[]> {
  const out = await n.cluster.exec(n.index, ['ip', '-o', 'link', 'show', 'type', 'veth']);
  return out.stdout
    .split('\n')
    .map((l) => /^\d+:\s+([^@:\s]+)/.exec(l)?.[1])
    .filter((x): x is string => !!x && x !== 'eth0');
}

/** Addresses held in kubenode-ipam's store: <ipam dir>/<network>/<address> files. */
async function addresses(n: SoakNode): Promise<string[]> {
  const base = join(n.dir, 'ipam');
  const out: string[] = [];
  for (const network of await readdir(base).catch(() => [] as string[])) {
    for (const f of await readdir(join(base, network)).catch(() => [] as string[])) {
      if (isIP(f))
        out.push(
          `${network}/${f} (${(await readFile(join(base, network, f), 'utf8').catch(() => '')).split(/\r?\n/)[0]!.slice(0, 12)})`,
        );
    }
  }
  return out;
}

/**
 * Pod cgroups (kubepods[/burstable|/besteffort]/pod<uid>, under the agent's default cgroup root
 * "/") of the pods this run made. Other agents on this machine share kubepods/, so only the
 * run's own pod UIDs are looked for, in the v2 tree and in v1's cpu and memory hierarchies.
 */
function podCgroups(uids: Iterable<string>): string[] {
  const bases = ['/sys/fs/cgroup', '/sys/fs/cgroup/cpu', '/sys/fs/cgroup/memory'].filter((b) =>
    existsSync(join(b, 'kubepods')),
  );
  const out: string[] = [];
  for (const uid of uids) {
    for (const b of bases) {
      for (const qos of ['', 'burstable', 'besteffort']) {
        const p = join(b, 'kubepods', qos, `pod${uid}`);
        if (existsSync(p)) out.push(p);
      }
    }
  }
  return out;
}

/** Per-pod directories under the agent's root dir (<root>/pods/<uid>: volumes, plugins). */
async function podDirs(n: SoakNode): Promise<string[]> {
  return (await readdir(join(n.dir, 'root', 'pods')).catch(() => [] as string[])).map((d) => `pods/${d}`);
}

/** Mount points under the agent's root dir (tmpfs of secret, projected and memory volumes). */
async function mounts(n: SoakNode): Promise<string[]> {
  const root = join(n.dir, 'root') + '/';
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info
    .split('\n')
    .map((l) => l.split(' ')[4])
    .filter((m): m is string => !!m && m.startsWith(root));
}

/**
 * KUBE-SVC/SEP/SVL/EXT/FW chains in the node's nat table (the iptables proxy mode) that belong
 * to the run's namespace: their rules' comments name "namespace/service:port", as kube-proxy's
 * do. Chains of other namespaces (default/kubernetes, which the proxy may first program after
 * the count before the churn) are left out; a chain with no rules is kept, its owner unknown.
 */
export function serviceChains(iptablesSave: string, ns: string): string[] {
  const declared = iptablesSave
    .split('\n')
    .map((l) => SERVICE_CHAIN.exec(l)?.[1])
    .filter((x): x is string => !!x);
  const owner = new Map<string, string>();
  for (const l of iptablesSave.split('\n')) {
    const m = /^-A (KUBE-\S+) .*--comment "?([^"/ ]+)\//.exec(l);
    if (m && !owner.has(m[1]!)) owner.set(m[1]!, m[2]!);
  }
  return declared.filter((c) => (owner.get(c) ?? ns) === ns);
}

async function chains(n: SoakNode, ns: string): Promise<string[]> {
  return serviceChains((await n.cluster.exec(n.index, ['iptables-save', '-t', 'nat'])).stdout, ns);
}

export async function takeCensus(n: SoakNode, podUids: Iterable<string>): Promise<Census> {
  const [c, v, a, d, m, ch] = await Promise.all([
    containers(n),
    veths(n),
    addresses(n),
    podDirs(n),
    mounts(n),
    chains(n, n.namespace),
  ]);
  return { containers: c, veths: v, addresses: a, podCgroups: podCgroups(podUids), podDirs: d, mounts: m, chains: ch };
}

/** What `after` holds that `before` did not, kind by kind. */
export function censusDiff(before: Census, after: Census): Census {
  const out = {} as Census;
  for (const k of CENSUS_KINDS) {
    const had = new Set(before[k]);
    out[k] = after[k].filter((x) => !had.has(x));
  }
  return out;
}

export const censusTotal = (c: Census): number => CENSUS_KINDS.reduce((n, k) => n + c[k].length, 0);
