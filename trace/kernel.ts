// Everything kubenode-trace asks the kernel, in the node's network namespace: the tracing table
// (create, delete, sweep), snapshots of the rules, the route, the bridge port, conntrack and
// IPVS entries. Thin: each function runs one program and hands its output to a pure parser.
import { existsSync, readdirSync } from 'node:fs';
import { run, runInNetns, type RunOptions, type RunResult } from '../lib/exec.js';
import { markRules, staleTables, tableScript, type TracedFlow } from './table.js';

export const NETNS_DIR = '/run/netns';

/** A network namespace by name (under /run/netns), or this process's own when undefined. */
export class Netns {
  constructor(readonly name?: string) {}

  run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    return this.name ? runInNetns(this.name, file, args, opts) : run(file, args, opts);
  }

  /** file and args for spawn(), entering the namespace first. */
  command(file: string, args: readonly string[]): [string, string[]] {
    return this.name ? ['nsenter', [`--net=${NETNS_DIR}/${this.name}`, '--', file, ...args]] : [file, [...args]];
  }
}

export function listNetns(): string[] {
  try {
    return readdirSync(NETNS_DIR).sort();
  } catch {
    return [];
  }
}

export function netnsExists(name: string): boolean {
  return existsSync(`${NETNS_DIR}/${name}`);
}

export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function createTraceTable(ns: Netns, name: string, flow: TracedFlow): Promise<void> {
  await ns.run('nft', ['-f', '-'], { input: tableScript(name, flow) });
}

/** An empty regular chain: a harmless change that makes the monitor print a line. */
export async function addProbeChain(ns: Netns, name: string, chain: string): Promise<void> {
  await ns.run('nft', ['add', 'chain', 'ip', name, chain]);
}

export async function addMarkRules(ns: Netns, name: string, flow: TracedFlow): Promise<void> {
  await ns.run('nft', ['-f', '-'], { input: markRules(name, flow) });
}

export async function deleteTraceTable(ns: Netns, name: string): Promise<void> {
  await ns.run('nft', ['delete', 'table', 'ip', name], { allowFailure: true });
}

/** Remove tracing tables whose owning process is gone (one `nft -f`); returns their names. */
export async function sweepStaleTables(ns: Netns): Promise<string[]> {
  const listing = (await ns.run('nft', ['list', 'tables'])).stdout;
  const stale = staleTables(listing, pidAlive);
  if (stale.length) await ns.run('nft', ['-f', '-'], { input: stale.map((t) => `delete table ip ${t}\n`).join('') });
  return stale;
}

export interface RuleSnapshot {
  nftRuleset: string;
  nftTables: string;
  iptablesSave: string;
}

export async function snapshotRules(ns: Netns): Promise<RuleSnapshot> {
  const [ruleset, save] = await Promise.all([
    ns.run('nft', ['-a', 'list', 'ruleset'], { allowFailure: true }),
    ns.run('iptables-save', [], { allowFailure: true }),
  ]);
  const nftTables = ruleset.stdout
    .split('\n')
    .filter((l) => l.startsWith('table '))
    .map((l) => l.replace(/ \{.*$/, ''))
    .join('\n');
  return { nftRuleset: ruleset.stdout, nftTables, iptablesSave: save.stdout };
}

export async function routeGet(ns: Netns, dst: string): Promise<string | undefined> {
  return (await routeLookup(ns, dst)).route;
}

/** `ip route get`: the route, or why there is none ("Network is unreachable"). */
export async function routeLookup(ns: Netns, dst: string): Promise<{ route?: string; error?: string }> {
  const r = await ns.run('ip', ['route', 'get', dst], { allowFailure: true });
  return r.code === 0
    ? { route: r.stdout.split('\n')[0]!.trim() }
    : { error: r.stderr.trim().replace(/^RTNETLINK answers: /, '') };
}

/** The bridge port behind which the destination's MAC address was learnt, when dev is a bridge. */
export async function bridgePort(ns: Netns, dev: string, dst: string): Promise<string | undefined> {
  const link = await ns.run('ip', ['-j', '-d', 'link', 'show', 'dev', dev], { allowFailure: true });
  if (link.code !== 0 || !/"info_kind":"bridge"/.test(link.stdout)) return undefined;
  const neigh = await ns.run('ip', ['-j', 'neigh', 'show', 'to', dst, 'dev', dev], { allowFailure: true });
  const mac = (JSON.parse(neigh.stdout || '[]') as { lladdr?: string }[])[0]?.lladdr;
  if (!mac) return undefined;
  const fdb = await ns.run('bridge', ['-j', 'fdb', 'show', 'br', dev], { allowFailure: true });
  const entry = (JSON.parse(fdb.stdout || '[]') as { mac: string; ifname: string; flags?: string[] }[]).find(
    (e) => e.mac === mac && !e.flags?.includes('self'),
  );
  return entry?.ifname;
}

export async function conntrackList(ns: Netns, proto: string, src: string, dst: string): Promise<string> {
  const r = await ns.run('conntrack', ['-L', '-p', proto, '--orig-src', src, '--orig-dst', dst], {
    allowFailure: true,
  });
  return r.stdout;
}

export async function ipvsConnectionTable(ns: Netns): Promise<string> {
  const r = await ns.run('ipvsadm', ['-Lnc'], { allowFailure: true });
  return r.stdout;
}

/** The listening TCP sockets and their processes (the userspace proxy's ports). */
export async function tcpListeners(ns: Netns): Promise<string> {
  const r = await ns.run('ss', ['-ltnp'], { allowFailure: true });
  return r.stdout;
}
