// The iptables part of IPVS mode (pure): a fixed set of chains whose rules match ipsets instead
// of single Services (upstream: pkg/proxy/ipvs/proxier.go writeIptablesRules). IPVS itself does
// the DNAT; iptables only decides what to masquerade (off-cluster sources, NodePorts, hairpin),
// lets Service traffic through the filter table, and rejects other ports on Service addresses.
// The whole of it is rewritten by one iptables-restore --noflush, which leaves every chain that
// is not ours alone.
import { renderChainCleanup } from '../iptables/chain-cleanup.js';
import type { JumpRule, Table } from '../iptables/static-rules.js';
import type { Protocol } from '../model/types.js';
import {
  KUBE_CLUSTER_IP,
  KUBE_EXTERNAL_IP,
  KUBE_EXTERNAL_IP_LOCAL,
  KUBE_HEALTH_CHECK_NODE_PORT,
  KUBE_IPVS_IPS,
  KUBE_LOAD_BALANCER,
  KUBE_LOAD_BALANCER_FW,
  KUBE_LOAD_BALANCER_LOCAL,
  KUBE_LOAD_BALANCER_SOURCE_CIDR,
  KUBE_LOOP_BACK,
  nodePortSet,
} from './ipsets.js';
import type { IpvsPlanConfig } from './types.js';

export const KUBE_SERVICES = 'KUBE-SERVICES';
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
export const KUBE_NODE_PORT = 'KUBE-NODE-PORT';
export const KUBE_LOAD_BALANCER_CHAIN = 'KUBE-LOAD-BALANCER';
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
export const KUBE_FORWARD = 'KUBE-FORWARD';
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';
export const KUBE_SOURCE_RANGES_FIREWALL = 'KUBE-SOURCE-RANGES-FIREWALL';
export const KUBE_IPVS_FILTER = 'KUBE-IPVS-FILTER';

/** Our chains, in the order they are declared (a chain exists before anything jumps to it). */
export const IPVS_CHAINS: Record<Table, readonly string[]> = {
  nat: [KUBE_MARK_MASQ, KUBE_NODE_PORT, KUBE_LOAD_BALANCER_CHAIN, KUBE_SERVICES, KUBE_POSTROUTING],
  filter: [KUBE_SOURCE_RANGES_FIREWALL, KUBE_PROXY_FIREWALL, KUBE_NODE_PORT, KUBE_FORWARD, KUBE_IPVS_FILTER],
};

export const IPVS_JUMP_RULES: readonly JumpRule[] = [
  { table: 'filter', builtin: 'INPUT', target: KUBE_IPVS_FILTER, comment: 'kubernetes ipvs access filter', match: '' },
  { table: 'filter', builtin: 'INPUT', target: KUBE_PROXY_FIREWALL, comment: 'kube-proxy firewall rules', match: '' },
  { table: 'filter', builtin: 'INPUT', target: KUBE_NODE_PORT, comment: 'kubernetes health check rules', match: '' },
  { table: 'filter', builtin: 'FORWARD', target: KUBE_PROXY_FIREWALL, comment: 'kube-proxy firewall rules', match: '' },
  { table: 'filter', builtin: 'FORWARD', target: KUBE_FORWARD, comment: 'kubernetes forwarding rules', match: '' },
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

export function jumpRuleSpec(j: JumpRule): string {
  return `${j.match ? j.match + ' ' : ''}-m comment --comment "${j.comment}" -j ${j.target}`;
}

/** Whether a built-in chain's rules (as `-S` prints them) already jump to j's target with our comment. */
export function hasJumpRule(lines: readonly string[], j: JumpRule): boolean {
  return lines.some(
    (l) => l.startsWith(`-A ${j.builtin} `) && l.endsWith(` -j ${j.target}`) && l.includes(`"${j.comment}"`),
  );
}

/** Our jump rules missing from the built-in chains, in the order to insert them at the top. */
export function missingJumpRules(builtinRules: ReadonlyMap<string, readonly string[]>): JumpRule[] {
  return IPVS_JUMP_RULES.filter((j) => !hasJumpRule(builtinRules.get(`${j.table} ${j.builtin}`) ?? [], j)).reverse();
}

const c = (text: string) => `-m comment --comment "${text}"`;
const set = (name: string, dirs: string) => `-m set --match-set ${name} ${dirs}`;
const PROTOCOLS: readonly Protocol[] = ['TCP', 'UDP', 'SCTP'];

/** Appends one rule ("-A CHAIN spec") to a chain of ours. */
type AddRule = (table: Table, chain: string, spec: string) => void;

/** The rules of every chain of ours, keyed "table CHAIN" (pure, and the same for any number of Services). */
export function ipvsChainRules(cfg: IpvsPlanConfig): Map<string, string[]> {
  const rules = new Map<string, string[]>();
  const add: AddRule = (table, chain, spec) => {
    const k = `${table} ${chain}`;
    if (!rules.has(k)) rules.set(k, []);
    rules.get(k)!.push(`-A ${chain} ${spec}`);
  };
  for (const t of ['nat', 'filter'] as const) for (const ch of IPVS_CHAINS[t]) rules.set(`${t} ${ch}`, []);
  addServicesRules(add, cfg);
  addNatMasqueradeRules(add, cfg.masqueradeMark);
  addFilterRules(add, cfg.masqueradeMark);
  return rules;
}

/**
 * nat KUBE-MARK-MASQ and KUBE-SERVICES: decide what to masquerade; IPVS does the DNAT itself after
 * PREROUTING/OUTPUT.
 */
function addServicesRules(add: AddRule, cfg: IpvsPlanConfig): void {
  add('nat', KUBE_MARK_MASQ, `-j MARK --or-mark ${cfg.masqueradeMark}`);
  add(
    'nat',
    KUBE_SERVICES,
    `${c('Kubernetes service lb portal')} ${set(KUBE_LOAD_BALANCER, 'dst,dst')} -j ${KUBE_LOAD_BALANCER_CHAIN}`,
  );
  if (cfg.masqueradeAll) {
    add(
      'nat',
      KUBE_SERVICES,
      `${c('Kubernetes service cluster ip + port for masquerade purpose')} ${set(KUBE_CLUSTER_IP, 'dst,dst')} -j ${KUBE_MARK_MASQ}`,
    );
  } else if (cfg.clusterCIDR) {
    // Sources outside the pod network may be answered by an endpoint on another node: SNAT
    // makes the reply come back through this node, where IPVS undoes its DNAT.
    add(
      'nat',
      KUBE_SERVICES,
      `! -s ${cfg.clusterCIDR} ${c('Kubernetes service cluster ip + port for masquerade purpose')} ${set(KUBE_CLUSTER_IP, 'dst,dst')} -j ${KUBE_MARK_MASQ}`,
    );
  }
  add(
    'nat',
    KUBE_SERVICES,
    `${c('Kubernetes service external ip + port for masquerade and filter purpose')} ${set(KUBE_EXTERNAL_IP, 'dst,dst')} -j ${KUBE_MARK_MASQ}`,
  );
  add(
    'nat',
    KUBE_SERVICES,
    `${c('Kubernetes service external ip + port for masquerade and filter purpose')} ${set(KUBE_EXTERNAL_IP, 'dst,dst')} -j ACCEPT`,
  );
  add(
    'nat',
    KUBE_SERVICES,
    `${c('Kubernetes service external ip + port with externalTrafficPolicy=local')} ${set(KUBE_EXTERNAL_IP_LOCAL, 'dst,dst')} -j ACCEPT`,
  );
  add(
    'nat',
    KUBE_SERVICES,
    `${c('kubernetes service nodeports; NOTE: this must be the last rule in this chain')} -m addrtype --dst-type LOCAL -j ${KUBE_NODE_PORT}`,
  );
  add('nat', KUBE_SERVICES, `${set(KUBE_CLUSTER_IP, 'dst,dst')} -j ACCEPT`);
  add('nat', KUBE_SERVICES, `${set(KUBE_LOAD_BALANCER, 'dst,dst')} -j ACCEPT`);
}

/** nat KUBE-LOAD-BALANCER, KUBE-NODE-PORT, KUBE-POSTROUTING: load balancer, NodePort, hairpin masquerading. */
function addNatMasqueradeRules(add: AddRule, m: string): void {
  add(
    'nat',
    KUBE_LOAD_BALANCER_CHAIN,
    `${c('Kubernetes service load balancer ip + port with externalTrafficPolicy=local')} ${set(KUBE_LOAD_BALANCER_LOCAL, 'dst,dst')} -j RETURN`,
  );
  add('nat', KUBE_LOAD_BALANCER_CHAIN, `-j ${KUBE_MARK_MASQ}`);
  for (const p of PROTOCOLS) {
    const proto = p.toLowerCase();
    // ETP Local NodePorts keep the client's address: only local endpoints serve them.
    add(
      'nat',
      KUBE_NODE_PORT,
      `-p ${proto} ${c(`Kubernetes nodeport ${p} port with externalTrafficPolicy=local`)} ${set(nodePortSet(p, true), 'dst')} -j RETURN`,
    );
    add(
      'nat',
      KUBE_NODE_PORT,
      `-p ${proto} ${c(`Kubernetes nodeport ${p} port for masquerade purpose`)} ${set(nodePortSet(p), 'dst')} -j ${KUBE_MARK_MASQ}`,
    );
  }
  add(
    'nat',
    KUBE_POSTROUTING,
    `${c('Kubernetes endpoints dst ip:port, source ip for solving hairpin purpose')} ${set(KUBE_LOOP_BACK, 'dst,dst,src')} -j MASQUERADE`,
  );
  add('nat', KUBE_POSTROUTING, `-m mark ! --mark ${m}/${m} -j RETURN`);
  // Clear the mark so that a packet going through the stack again is not masqueraded twice.
  add('nat', KUBE_POSTROUTING, `-j MARK --xor-mark ${m}`);
  add('nat', KUBE_POSTROUTING, `${c('kubernetes service traffic requiring SNAT')} -j MASQUERADE --random-fully`);
}

/** filter: load balancer source ranges, health check node ports, forwarding, and the Service-address filter. */
function addFilterRules(add: AddRule, m: string): void {
  add(
    'filter',
    KUBE_PROXY_FIREWALL,
    `${c('Kubernetes service load balancer ip + port for load balancer with sourceRange')} ${set(KUBE_LOAD_BALANCER_FW, 'dst,dst')} -j ${KUBE_SOURCE_RANGES_FIREWALL}`,
  );
  add(
    'filter',
    KUBE_SOURCE_RANGES_FIREWALL,
    `${c('Kubernetes service load balancer ip + port + source cidr for packet filter purpose')} ${set(KUBE_LOAD_BALANCER_SOURCE_CIDR, 'dst,dst,src')} -j RETURN`,
  );
  add('filter', KUBE_SOURCE_RANGES_FIREWALL, '-j DROP');
  add(
    'filter',
    KUBE_NODE_PORT,
    `${c('Kubernetes health check node port')} ${set(KUBE_HEALTH_CHECK_NODE_PORT, 'dst')} -j ACCEPT`,
  );
  add('filter', KUBE_FORWARD, '-m conntrack --ctstate INVALID -j DROP');
  add('filter', KUBE_FORWARD, `${c('kubernetes forwarding rules')} -m mark --mark ${m}/${m} -j ACCEPT`);
  add(
    'filter',
    KUBE_FORWARD,
    `${c('kubernetes forwarding conntrack rule')} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
  );
  // Service addresses are local (on kube-ipvs0): without this, a port no Service has on them
  // would reach whatever listens on the node.
  for (const [name, dirs] of [
    [KUBE_LOAD_BALANCER, 'dst,dst'],
    [KUBE_CLUSTER_IP, 'dst,dst'],
    [KUBE_EXTERNAL_IP, 'dst,dst'],
    [KUBE_EXTERNAL_IP_LOCAL, 'dst,dst'],
    [KUBE_HEALTH_CHECK_NODE_PORT, 'dst'],
  ] as const) {
    add('filter', KUBE_IPVS_FILTER, `${set(name, dirs)} -j RETURN`);
  }
  add(
    'filter',
    KUBE_IPVS_FILTER,
    `-m conntrack --ctstate NEW ${set(KUBE_IPVS_IPS, 'dst')} -j REJECT --reject-with icmp-port-unreachable`,
  );
}

/** One iptables-restore --noflush input: every chain of ours rewritten, missing jumps inserted. */
export function renderIpvsIptables(
  cfg: IpvsPlanConfig,
  missingJumps: readonly JumpRule[],
): { input: string; rules: Record<Table, number> } {
  const rules = ipvsChainRules(cfg);
  const counts: Record<Table, number> = { nat: 0, filter: 0 };
  let input = '';
  for (const table of ['filter', 'nat'] as const) {
    let text = `*${table}\n`;
    for (const ch of IPVS_CHAINS[table]) text += `:${ch} - [0:0]\n`;
    for (const ch of IPVS_CHAINS[table]) {
      const lines = rules.get(`${table} ${ch}`) ?? [];
      counts[table] += lines.length;
      text += lines.map((l) => l + '\n').join('');
    }
    for (const j of missingJumps) if (j.table === table) text += `-I ${j.builtin} 1 ${jumpRuleSpec(j)}\n`;
    input += text + 'COMMIT\n';
  }
  counts.nat += IPVS_JUMP_RULES.filter((j) => j.table === 'nat').length;
  counts.filter += IPVS_JUMP_RULES.filter((j) => j.table === 'filter').length;
  return { input, rules: counts };
}

/** --cleanup: delete our jump rules, flush and delete our chains (given what the kernel has). */
export function renderIpvsIptablesCleanup(
  builtinRules: ReadonlyMap<string, readonly string[]>,
  chains: Record<Table, ReadonlySet<string>>,
): string {
  return renderChainCleanup(IPVS_JUMP_RULES, IPVS_CHAINS, builtinRules, chains);
}
