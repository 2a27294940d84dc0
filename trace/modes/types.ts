// What a proxy mode module gives the trace: the meaning of a rule it wrote. One module per mode
// (iptables.ts now; ipvs.ts adds the IPVS connection table; nftables and userspace go beside
// them), all pure: the rule and its context in, a sentence out.
import type { PacketInfo } from '../nft-trace.js';

export type ProxyMode = 'iptables' | 'ipvs' | 'nftables' | 'userspace';

/** A pod behind an address, from the node's CNI results or the apiserver. */
export interface PodRef {
  namespace: string;
  name: string;
  node?: string;
  /** The host side of its veth, when it is on this node. */
  hostInterface?: string;
}

/** One rule (or chain policy) the packet met. */
export interface RuleStep {
  family: string;
  table: string;
  chain: string;
  kind: 'rule' | 'policy' | 'verdict';
  /** The rule as nft printed it ('' for a policy). */
  nft: string;
  handle?: number;
  verdict: string;
  target?: string;
  /** The rule as the proxy wrote it (an iptables-save spec), when it could be matched. */
  source?: string;
  /** What it means, in Kubernetes terms. */
  meaning?: string;
}

export interface ExplainContext {
  pods: (ip: string) => PodRef | undefined;
  /** The iptables-save specs of a whole chain (to count a Service's endpoints). */
  chainRules: (table: string, chain: string) => readonly string[] | undefined;
  /** The packet as it entered this hook. */
  packet: PacketInfo;
}

export interface ModeExplainer {
  readonly mode: ProxyMode;
  /** The meaning of a step this mode wrote, or undefined when it is not one of its rules. */
  explain(step: RuleStep, ctx: ExplainContext): string | undefined;
}

export function describePod(p: PodRef | undefined): string {
  if (!p) return '';
  return `pod ${p.namespace}/${p.name}${p.node ? ` on ${p.node}` : ''}`;
}
