// What an emulated cluster may leave behind, looked up in the kernel and Docker directly: the
// proof that `cluster.sh down` removed everything it made.
import { existsSync } from 'node:fs';
import { run } from '../../lib/exec.js';
import type { EmulatedCluster } from './cluster.js';

export async function clusterLeftovers(c: EmulatedCluster): Promise<string[]> {
  const out: string[] = [];
  const ns = (await run('ip', ['netns', 'list'])).stdout
    .split('\n')
    .map((l) => l.split(' ')[0]!)
    .filter((n) => n.startsWith(`${c.name}-`));
  if (ns.length) out.push(`namespaces: ${ns.join(' ')}`);
  const links = (await run('ip', ['-o', 'link', 'show'])).stdout
    .split('\n')
    .map((l) => l.split(':')[1]?.trim().split('@')[0] ?? '')
    .filter((n) => n.startsWith(`${c.name}-`));
  if (links.length) out.push(`links: ${links.join(' ')}`);
  const prefix = c.clusterCIDR.split('.').slice(0, 2).join('.') + '.';
  const routes = (await run('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout
    .split('\n')
    .filter((l) => l.includes(prefix) || l.includes(c.subnet.replace(/\.0\/24$/, '.')));
  if (routes.length) out.push(`routes: ${routes.join(' | ')}`);
  // iptables chains in the root namespace: the cluster makes none there; nothing may name it.
  const save = (await run('iptables-save', [], { allowFailure: true })).stdout;
  const rules = save.split('\n').filter((l) => l.includes(c.name) || l.includes(prefix));
  if (rules.length) out.push(`root iptables: ${rules.join(' | ')}`);
  // Pods' containers (labelled with their node's agent instance) and the nodes' network namespace holders.
  const docker = await run(
    'docker',
    ['ps', '-a', '--format', '{{.ID}} {{.Label "kubenode.io/instance"}} {{.Label "kubenode.io/cluster"}}'],
    { allowFailure: true },
  );
  const containers = docker.stdout
    .split('\n')
    .filter((l) => l.split(' ')[1]?.startsWith(`${c.name}-`) || l.split(' ')[2] === c.name);
  if (containers.length) out.push(`containers: ${containers.join(', ')}`);
  if (existsSync(`${c.dir}/cluster.env`)) out.push(`state: ${c.dir}`);
  const listening = (await run('ss', ['-Hltn', `sport = :${c.env.APISERVER_PORT}`])).stdout.trim();
  if (listening) out.push(`apiserver still listening on ${c.env.APISERVER_PORT}`);
  return out;
}
