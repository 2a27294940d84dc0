// The chains every node has regardless of Services, and the jumps from the built-in chains into
// them (upstream: iptablesJumpChains and the static part of syncProxyRules). Pure data.
import type { PlanConfig } from './types.js';

export type Table = 'nat' | 'filter';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
/**
 * An empty chain whose only job is to exist: the periodic check looks for it, and when it is
 * gone (a firewall reload, `iptables -X`, a restore without --noflush) everything is rewritten.
 * Upstream (pkg/util/iptables Monitor) keeps one in mangle, nat and filter and polls mangle; ours
 * are in the two tables that hold our rules, checked in one process with the jump rules. Not in
 * mangle: a flush there touches nothing of ours, and creating it would leave mangle's base
 * chains behind after --cleanup on iptables-nft.
 */
export const KUBE_PROXY_CANARY = 'KUBE-PROXY-CANARY';
/** Upstream's copy of kubelet's anti-martian chain (see localhostFirewall*). */
export const KUBE_FIREWALL = 'KUBE-FIREWALL';

/** Chains with fixed names that we own, per table (each full sync rewrites them). */
export const STATIC_CHAINS: Record<Table, readonly string[]> = {
  nat: [KUBE_SERVICES, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_MARK_MASQ, KUBE_PROXY_CANARY],
  filter: [KUBE_SERVICES, KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_FORWARD, KUBE_PROXY_FIREWALL, KUBE_PROXY_CANARY],
};

/** A rule in a built-in chain that sends traffic into one of ours. */
export interface JumpRule {
  table: Table;
  builtin: string;
  target: string;
  comment: string;
  /** Matches before the comment, as iptables-save prints them. */
  match: string;
}

const NEW = '-m conntrack --ctstate NEW';

export const JUMP_RULES: readonly JumpRule[] = [
  {
    table: 'filter',
    builtin: 'INPUT',
    target: KUBE_PROXY_FIREWALL,
    comment: 'kubernetes load balancer firewall',
    match: NEW,
  },
  {
    table: 'filter',
    builtin: 'INPUT',
    target: KUBE_NODEPORTS,
    comment: 'kubernetes health check service ports',
    match: '',
  },
  {
    table: 'filter',
    builtin: 'INPUT',
    target: KUBE_EXTERNAL_SERVICES,
    comment: 'kubernetes externally-visible service portals',
    match: NEW,
  },
  {
    table: 'filter',
    builtin: 'FORWARD',
    target: KUBE_PROXY_FIREWALL,
    comment: 'kubernetes load balancer firewall',
    match: NEW,
  },
  { table: 'filter', builtin: 'FORWARD', target: KUBE_FORWARD, comment: 'kubernetes forwarding rules', match: '' },
  { table: 'filter', builtin: 'FORWARD', target: KUBE_SERVICES, comment: 'kubernetes service portals', match: NEW },
  {
    table: 'filter',
    builtin: 'FORWARD',
    target: KUBE_EXTERNAL_SERVICES,
    comment: 'kubernetes externally-visible service portals',
    match: NEW,
  },
  {
    table: 'filter',
    builtin: 'OUTPUT',
    target: KUBE_PROXY_FIREWALL,
    comment: 'kubernetes load balancer firewall',
    match: NEW,
  },
  { table: 'filter', builtin: 'OUTPUT', target: KUBE_SERVICES, comment: 'kubernetes service portals', match: NEW },
  { table: 'nat', builtin: 'PREROUTING', target: KUBE_SERVICES, comment: 'kubernetes service portals', match: '' },
  { table: 'nat', builtin: 'OUTPUT', target: KUBE_SERVICES, comment: 'kubernetes service portals', match: '' },
  {
    table: 'nat',
    builtin: 'POSTROUTING',
    target: KUBE_POSTROUTING,
    comment: 'kubernetes postrouting rules',
    match: '',
  },
];

/**
 * With --iptables-localhost-nodeports: INPUT and OUTPUT jump to KUBE-FIREWALL, without a comment
 * (upstream's iptablesKubeletJumpChains, identical to kubelet's own). Kept apart from JUMP_RULES
 * because --cleanup leaves them in place, as upstream's CleanupLeftovers does: route_localnet
 * stays 1 after a cleanup, and so must the rule that makes it safe.
 */
export const FIREWALL_JUMP_RULES: readonly JumpRule[] = [
  { table: 'filter', builtin: 'INPUT', target: KUBE_FIREWALL, comment: '', match: '' },
  { table: 'filter', builtin: 'OUTPUT', target: KUBE_FIREWALL, comment: '', match: '' },
];

/** The jump rules a sync with this configuration needs. */
export function jumpRules(cfg: Pick<PlanConfig, 'localhostNodePorts'>): readonly JumpRule[] {
  return cfg.localhostNodePorts ? [...JUMP_RULES, ...FIREWALL_JUMP_RULES] : JUMP_RULES;
}

/**
 * route_localnet lets 127.0.0.0/8 traffic be routed off the loopback interface (needed to DNAT
 * a NodePort on 127.0.0.1 to a pod), which would also accept packets from the network addressed
 * to 127/8 (https://issue.k8s.io/90259). This rule drops those, unless they are replies or were
 * DNATed by a Service rule.
 */
export function localhostFirewallRules(): string[] {
  return [
    `-A ${KUBE_FIREWALL} ! -s 127.0.0.0/8 -d 127.0.0.0/8 -m comment --comment "block incoming localnet connections" -m conntrack ! --ctstate RELATED,ESTABLISHED,DNAT -j DROP`,
  ];
}

/** The rule text after "-A BUILTIN " / "-I BUILTIN 1 ". */
export function jumpSpec(j: JumpRule): string {
  return `${j.match ? j.match + ' ' : ''}${j.comment ? `-m comment --comment "${j.comment}" ` : ''}-j ${j.target}`;
}

/**
 * Whether `lines` (one built-in chain as `iptables -S` prints it) already holds jump j. We look
 * for the target and our comment rather than an exact text, so that a rule iptables prints with
 * its matches in another order still counts.
 */
export function hasJump(lines: readonly string[], j: JumpRule): boolean {
  if (!j.comment) return lines.includes(`-A ${j.builtin} -j ${j.target}`);
  return lines.some(
    (l) => l.startsWith(`-A ${j.builtin} `) && l.endsWith(` -j ${j.target}`) && l.includes(`"${j.comment}"`),
  );
}

/** Jump rules missing from the built-in chains (keyed "table BUILTIN"), in the order to insert them. */
export function missingJumps(
  builtinRules: ReadonlyMap<string, readonly string[]>,
  jumps: readonly JumpRule[] = JUMP_RULES,
): JumpRule[] {
  // Inserted at position 1 one after another, so insert in reverse to end up in listed order.
  return jumps.filter((j) => !hasJump(builtinRules.get(`${j.table} ${j.builtin}`) ?? [], j)).reverse();
}

export function markMasqRules(cfg: PlanConfig): string[] {
  return [`-A ${KUBE_MARK_MASQ} -j MARK --or-mark ${cfg.masqueradeMark}`];
}

export function postroutingRules(cfg: PlanConfig): string[] {
  const m = cfg.masqueradeMark;
  return [
    `-A ${KUBE_POSTROUTING} -m mark ! --mark ${m}/${m} -j RETURN`,
    // Clear the mark so that a packet re-traversing the stack is not masqueraded twice.
    `-A ${KUBE_POSTROUTING} -j MARK --xor-mark ${m}`,
    `-A ${KUBE_POSTROUTING} -m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully`,
  ];
}

/**
 * The end of nat KUBE-SERVICES: NodePort traffic goes on to KUBE-NODEPORTS. 127.0.0.1 is a LOCAL
 * address, so NodePorts answer on it unless --iptables-localhost-nodeports=false excludes it
 * (upstream; with --nodeport-addresses the loopback address is simply not in the list then).
 */
export function nodePortsJumpRules(cfg: PlanConfig): string[] {
  const comment = '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain"';
  if (cfg.nodePortIPs === 'all') {
    const notLoopback = cfg.localhostNodePorts ? '' : '! -d 127.0.0.0/8 ';
    return [`-A ${KUBE_SERVICES} ${notLoopback}${comment} -m addrtype --dst-type LOCAL -j ${KUBE_NODEPORTS}`];
  }
  return cfg.nodePortIPs.map((ip) => `-A ${KUBE_SERVICES} -d ${ip}/32 ${comment} -j ${KUBE_NODEPORTS}`);
}

export function forwardRules(cfg: PlanConfig): string[] {
  const m = cfg.masqueradeMark;
  return [
    `-A ${KUBE_FORWARD} -m conntrack --ctstate INVALID -j DROP`,
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding rules" -m mark --mark ${m}/${m} -j ACCEPT`,
    `-A ${KUBE_FORWARD} -m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  ];
}
