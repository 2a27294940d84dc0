// The IPVS mode (pure): its iptables rules only decide what to masquerade and accept; the DNAT
// to an endpoint happens inside IPVS, which nftables tracing does not see. So besides translating
// those rules, this module reads the IPVS connection table (`ipvsadm -Lnc`, collected by
// trace/kernel.ts), whose entry for the traced flow names the real server IPVS chose.
// Kernel-tested only in the IPVS VM (this machine's kernel has no IPVS; see
// test/integration/proxy-ipvs.test.ts); the parser is unit-tested with captured output.
import { optionValue, splitRule } from '../ruleset.js';
import type { ModeExplainer, RuleStep } from './types.js';

export interface IpvsConnection {
  proto: string;
  expire: string;
  state: string;
  source: string;
  virtual: string;
  destination: string;
}

/** `ipvsadm -Lnc`: "TCP 14:59 ESTABLISHED 10.0.2.15:45962 10.96.0.1:443 10.0.2.15:6443" lines. */
export function parseIpvsConnections(text: string): IpvsConnection[] {
  const out: IpvsConnection[] = [];
  for (const line of text.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w.length !== 6 || !/^(TCP|UDP|SCTP)$/.test(w[0]!)) continue;
    const [proto, expire, state, source, virtual, destination] = w as [string, string, string, string, string, string];
    out.push({ proto, expire, state, source, virtual, destination });
  }
  return out;
}

/** The connection of the traced flow: its source address and port, and the virtual service. */
export function findIpvsConnection(
  conns: readonly IpvsConnection[],
  src: string,
  sport: number,
  virtual: string,
): IpvsConnection | undefined {
  return conns.find((c) => c.source === `${src}:${sport}` && c.virtual === virtual);
}

const SETS: Record<string, string> = {
  'KUBE-CLUSTER-IP': 'a Service cluster IP and port (ipset KUBE-CLUSTER-IP)',
  'KUBE-LOAD-BALANCER': 'a load balancer IP and port (ipset KUBE-LOAD-BALANCER)',
  'KUBE-EXTERNAL-IP': 'an external IP and port (ipset KUBE-EXTERNAL-IP)',
  'KUBE-LOOP-BACK': 'a pod reaching itself through its Service (ipset KUBE-LOOP-BACK)',
};

function explain(step: RuleStep): string | undefined {
  if (step.kind !== 'rule' || !step.source) return undefined;
  const words = splitRule(step.source);
  const set = optionValue(words, '--match-set');
  if (!set) return undefined;
  const what = SETS[set] ?? (/^KUBE-NODE-PORT-/.test(set) ? `a NodePort (ipset ${set})` : `ipset ${set}`);
  const target = optionValue(words, '-j');
  if (target === 'KUBE-MARK-MASQ') return `the destination is ${what}: mark for masquerade`;
  if (target === 'ACCEPT') return `the destination is ${what}: accept; IPVS picks the endpoint and DNATs`;
  if (target === 'MASQUERADE') return `hairpin: the destination is ${what}: masquerade`;
  if (target === 'RETURN') return `the destination is ${what}: nothing more to do here`;
  return `the destination is ${what} -> ${target}`;
}

export const ipvsMode: ModeExplainer = { mode: 'ipvs', explain };
