// The temporary nftables table that marks the traced flow: its name, its content, and which
// leftover tables are ours to remove. Pure; trace/kernel.ts runs the commands.
//
// The owning process's pid is part of the name, so a run that died without cleaning up (SIGKILL,
// a crash, a reboot of the tool's container) is recognised by the next run or by --cleanup: the
// pid is gone. A random suffix keeps two runs of one process (tests) apart.
import { randomBytes } from 'node:crypto';
import type { Protocol } from './args.js';

export const TABLE_PREFIX = 'kubenode_trace_p';

export interface TracedFlow {
  proto: Protocol;
  /** Source address; undefined: any. */
  from?: string;
  to: string;
  port: number;
  /** Locally generated only (a command run on the node): the output hook alone. */
  localOnly: boolean;
}

export function tableName(pid: number, suffix = randomBytes(2).toString('hex')): string {
  return `${TABLE_PREFIX}${pid}_${suffix}`;
}

/** The pid a table of ours belongs to, or undefined for any other table. */
export function ownerPid(table: string): number | undefined {
  const m = /^kubenode_trace_p(\d+)_[0-9a-f]+$/.exec(table);
  return m ? Number(m[1]) : undefined;
}

/** Table names from `nft list tables` ("table ip NAME" lines) that belong to dead processes. */
export function staleTables(listing: string, alive: (pid: number) => boolean): string[] {
  const out: string[] = [];
  for (const line of listing.split('\n')) {
    const m = /^table ip (\S+)/.exec(line.trim());
    const pid = m ? ownerPid(m[1]!) : undefined;
    if (pid !== undefined && !alive(pid)) out.push(m![1]!);
  }
  return out;
}

/** The nft match for the flow, e.g. "ip saddr 10.244.1.14 ip daddr 10.96.0.10 tcp dport 80". */
export function flowMatch(f: TracedFlow): string {
  return [f.from ? `ip saddr ${f.from}` : '', `ip daddr ${f.to}`, `${f.proto} dport ${f.port}`]
    .filter(Boolean)
    .join(' ');
}

/**
 * The table and its base chains, empty, for `nft -f -`. Priority -301: before everything else
 * netfilter runs on the packet, iptables' raw table (-300) included, so the trace covers every
 * rule the packet meets. Prerouting sees packets arriving (from pods, from outside); output sees
 * the node's own.
 */
export function tableScript(name: string, f: TracedFlow): string {
  const chain = (hook: string) =>
    `  chain ${hook} {\n    type filter hook ${hook} priority -301; policy accept;\n  }\n`;
  return `table ip ${name} {\n${f.localOnly ? '' : chain('prerouting')}${chain('output')}}\n`;
}

/** The rules that mark the flow, added once the monitor is known to listen. */
export function markRules(name: string, f: TracedFlow): string {
  const hooks = f.localOnly ? ['output'] : ['prerouting', 'output'];
  return hooks.map((h) => `add rule ip ${name} ${h} ${flowMatch(f)} meta nftrace set 1\n`).join('');
}
