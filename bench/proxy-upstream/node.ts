// One proxy of the side-by-side benchmark (bench/proxy-upstream.ts): a network namespace of its
// own joined to the host by a veth pair (the apiserver listens on the host), a Node object with
// an InternalIP (upstream kube-proxy waits up to 30 s for one), the node's credentials as the
// cluster scripts give kubenode-proxy (control-plane.sh node-credentials), and the process.
import { type ChildProcess, spawn } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import type { ControlPlane } from '../../test/harness/control-plane.js';
import { cpuSeconds } from '../harness.js';

export type ProxyKind = 'kubenode' | 'upstream';

export interface BenchNode {
  kind: ProxyKind;
  name: string;
  netns: string;
  proc?: ChildProcess;
  /** Run a program in the namespace (exit code and stdout). */
  exec(file: string, args: string[]): Promise<{ code: number; stdout: string }>;
}

export interface ProxyStart {
  mode: string;
  kubeconfig: string;
  kubenodeBin: string;
  upstreamBin: string;
  dir: string;
}

/** Namespace, veth (100.64.<k>.1 host side, .2 inside), Node object, credentials. */
export async function createBenchNode(cp: ControlPlane, kind: ProxyKind, name: string, k: number): Promise<BenchNode> {
  const netns = name;
  const host = `100.64.${k}.1`;
  const inside = `100.64.${k}.2`;
  await run('ip', ['netns', 'add', netns]);
  await run('ip', ['-batch', '-'], {
    input:
      [
        `link add ${name}h type veth peer name eth0 netns ${netns}`,
        `addr add ${host}/30 dev ${name}h`,
        `link set ${name}h up`,
      ].join('\n') + '\n',
  });
  await run('ip', ['-n', netns, '-batch', '-'], {
    input:
      ['link set lo up', `addr add ${inside}/30 dev eth0`, 'link set eth0 up', `route add default via ${host}`].join(
        '\n',
      ) + '\n',
  });
  await cp.kubectl(['create', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name } }),
  });
  await cp.kubectl([
    'patch',
    'node',
    name,
    '--subresource=status',
    '--type=merge',
    '-p',
    JSON.stringify({ status: { addresses: [{ type: 'InternalIP', address: inside }] } }),
  ]);
  // Upstream runs kube-proxy as system:node-proxier; the node identity gets the same rights here.
  await cp.kubectl([
    'create',
    'clusterrolebinding',
    `${name}-proxier`,
    '--clusterrole=system:node-proxier',
    `--user=system:node:${name}`,
  ]);
  return {
    kind,
    name,
    netns,
    exec: async (file, args) => {
      const r = await run('ip', ['netns', 'exec', netns, file, ...args], { allowFailure: true, timeoutMs: 600_000 });
      return { code: r.code, stdout: r.stdout };
    },
  };
}

export async function deleteBenchNode(cp: ControlPlane, n: BenchNode): Promise<void> {
  await stopProxy(n);
  await run('ip', ['netns', 'delete', n.netns], { allowFailure: true });
  await run('ip', ['link', 'delete', `${n.name}h`], { allowFailure: true });
  await cp.kubectl(['delete', 'node', n.name, '--ignore-not-found'], { allowFailure: true });
  await cp.kubectl(['delete', 'clusterrolebinding', `${n.name}-proxier`, '--ignore-not-found'], { allowFailure: true });
}

/** Start the proxy; `ip netns exec` execs it, so the pid is the proxy's own. */
export function startProxy(n: BenchNode, o: ProxyStart): void {
  let argv: string[];
  if (n.kind === 'kubenode') {
    argv = [
      process.execPath,
      o.kubenodeBin,
      '--kubeconfig',
      o.kubeconfig,
      '--hostname-override',
      n.name,
      '--cluster-cidr',
      '10.244.0.0/16',
      '--proxy-mode',
      o.mode,
    ];
  } else {
    // The config file sets what flags cannot, and leaves the conntrack sysctls alone (a network
    // namespace cannot set nf_conntrack_max; kubenode-proxy does not touch them either).
    const config = join(o.dir, `${n.name}.yaml`);
    writeFileSync(
      config,
      [
        'apiVersion: kubeproxy.config.k8s.io/v1alpha1',
        'kind: KubeProxyConfiguration',
        `mode: ${o.mode}`,
        `hostnameOverride: ${n.name}`,
        'clusterCIDR: 10.244.0.0/16',
        `clientConnection: {kubeconfig: ${o.kubeconfig}}`,
        'conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s, udpTimeout: 0s, udpStreamTimeout: 0s}',
        'iptables: {syncPeriod: 30s, minSyncPeriod: 1s}',
        'nftables: {syncPeriod: 30s, minSyncPeriod: 1s}',
        '',
      ].join('\n'),
    );
    argv = [o.upstreamBin, '--config', config, '--v=1'];
  }
  n.proc = spawn('ip', ['netns', 'exec', n.netns, ...argv], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, KUBENODE_LOG_LEVEL: 'info' },
  });
  n.proc.stderr!.pipe(createWriteStream(join(o.dir, `${n.name}.log`), { flags: 'a' }));
}

export async function stopProxy(n: BenchNode): Promise<void> {
  const p = n.proc;
  if (!p || p.exitCode !== null) return;
  const done = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  await done;
  n.proc = undefined;
}

/** CPU seconds of the proxy and of the children it waited for (iptables-restore, nft). */
export function proxyCpu(n: BenchNode): number {
  const pid = n.proc!.pid!;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return cpuSeconds(pid) + (Number(f[13]) + Number(f[14])) / 100;
}

/** Peak resident set size (VmHWM) in MiB. */
export function peakRssMiB(n: BenchNode): number {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${n.proc!.pid!}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}
