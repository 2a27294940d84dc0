// ipMasq as iptables-restore input, one chain per attachment as the reference plugin does
// (plugins/pkg/ip SetupIPMasq): POSTROUTING sends the pod's traffic to the chain, which accepts
// traffic staying in the pod network and masquerades the rest (not multicast). Every rule carries
// a comment naming network, container and interface, so `iptables-save` says whose it is.
// Pure: text in, text out. Applied with `iptables-restore --noflush` (one process, atomic).
import { formatCIDR, formatIP, networkOf, type CIDR, type Family } from '../../lib/ip.js';

export interface MasqTarget {
  chain: string;
  comment: string;
  /** The pod's addresses with their subnets. */
  addresses: CIDR[];
}

const multicast = (f: Family) => (f === 4 ? '224.0.0.0/4' : 'ff00::/8');
const host = (f: Family) => (f === 4 ? 32 : 128);

/** restore input per family (iptables-restore for 4, ip6tables-restore for 6). */
export function masqRules(t: MasqTarget): Map<Family, string> {
  const out = new Map<Family, string>();
  for (const fam of [4, 6] as Family[]) {
    const addrs = t.addresses.filter((a) => a.ip.family === fam);
    if (!addrs.length) continue;
    const c = `-m comment --comment "${t.comment}"`;
    const lines = ['*nat', `:${t.chain} - [0:0]`];
    for (const a of addrs)
      lines.push(`-A ${t.chain} -d ${formatCIDR({ ip: networkOf(a), prefix: a.prefix })} ${c} -j ACCEPT`);
    lines.push(`-A ${t.chain} ! -d ${multicast(fam)} ${c} -j MASQUERADE`);
    for (const a of addrs) lines.push(`-A POSTROUTING -s ${formatIP(a.ip)}/${host(fam)} ${c} -j ${t.chain}`);
    lines.push('COMMIT', '');
    out.set(fam, lines.join('\n'));
  }
  return out;
}

/** From `iptables-save -t nat` output, the restore input that removes the given chains and every
 * rule jumping to them; undefined when none of them is there. */
export function masqDeletion(save: string, chains: ReadonlySet<string>): string | undefined {
  const dels: string[] = [];
  const present: string[] = [];
  for (const line of save.split('\n')) {
    if (line.startsWith(':')) {
      const name = line.slice(1).split(' ')[0]!;
      if (chains.has(name)) present.push(name);
      continue;
    }
    if (!line.startsWith('-A ')) continue;
    const owner = line.split(' ')[1]!;
    const m = / -j (\S+)/.exec(line);
    // Rules inside our chains go with -F; rules elsewhere that jump into them are deleted one by one.
    if (!chains.has(owner) && m && chains.has(m[1]!)) dels.push('-D ' + line.slice(3));
  }
  if (!present.length && !dels.length) return undefined;
  return ['*nat', ...dels, ...present.map((c) => `-F ${c}`), ...present.map((c) => `-X ${c}`), 'COMMIT', ''].join('\n');
}

/** Our chains in `iptables-save -t nat` output, with the attachment their comment names. */
export function masqChainsInSave(save: string): Map<string, { network: string; containerId: string; ifName: string }> {
  const out = new Map<string, { network: string; containerId: string; ifName: string }>();
  const re = /^-A (KUBENODE-BR-[0-9A-F]+) .*--comment "?kubenode-bridge net=(\S+) id=(\S+) if=([^"\s]+)/;
  for (const line of save.split('\n')) {
    const m = re.exec(line);
    if (m && !out.has(m[1]!)) out.set(m[1]!, { network: m[2]!, containerId: m[3]!, ifName: m[4]! });
  }
  return out;
}
