// The fixed part of our table (upstream kube-proxy's nftables layout): base chains on the
// netfilter hooks, the dispatch chain with its verdict-map lookups, the no-endpoint, firewall
// and ClusterIP checks, masquerading, and the maps and sets Services fill. Pure text.
import {
  CLUSTER_IPS,
  CLUSTER_IPS_CHECK,
  FAMILY,
  FIREWALL_CHECK,
  FIREWALL_IPS,
  HAIRPINS,
  MARK_MASQ,
  MASQUERADING,
  NO_ENDPOINT_NODEPORTS,
  NO_ENDPOINT_SERVICES,
  NODEPORT_ENDPOINTS_CHECK,
  NODEPORT_IPS,
  REJECT_CHAIN,
  SERVICE_ENDPOINTS_CHECK,
  SERVICE_IPS,
  SERVICE_NODEPORTS,
  SERVICES,
  TABLE,
} from './names.js';

/** "ip kubenode": what every command names. */
export const T = `${FAMILY} ${TABLE}`;

export interface SkeletonConfig {
  /** The fwmark bit asking for masquerade, e.g. "0x4000". */
  masqueradeMark: string;
  /** 'all': NodePorts on every local address; else on these (--nodeport-addresses). */
  nodePortIPs: 'all' | readonly string[];
}

/** Base chains: name, type, hook, priority. Filtering runs before DNAT (-110), the ClusterIP check after it (-90). */
const BASE_CHAINS: ReadonlyArray<readonly [string, string, string, number]> = [
  ['filter-prerouting', 'filter', 'prerouting', -110],
  ['filter-input', 'filter', 'input', -110],
  ['filter-forward', 'filter', 'forward', -110],
  ['filter-output', 'filter', 'output', -110],
  ['filter-output-post-dnat', 'filter', 'output', -90],
  ['nat-prerouting', 'nat', 'prerouting', -100],
  ['nat-output', 'nat', 'output', -100],
  ['nat-postrouting', 'nat', 'postrouting', 100],
];

/** Regular chains with fixed names (created first, so Service chains can jump to them). */
export const FIXED_CHAINS = [
  SERVICES,
  MASQUERADING,
  MARK_MASQ,
  SERVICE_ENDPOINTS_CHECK,
  NODEPORT_ENDPOINTS_CHECK,
  FIREWALL_CHECK,
  CLUSTER_IPS_CHECK,
  REJECT_CHAIN,
];

const VIP = 'ipv4_addr . inet_proto . inet_service';
/** Maps and sets Services fill: name, type, comment. */
export const MAPS: ReadonlyArray<readonly [string, string, string]> = [
  [SERVICE_IPS, `${VIP} : verdict`, 'ClusterIP, ExternalIP and LoadBalancer IP traffic'],
  [SERVICE_NODEPORTS, 'inet_proto . inet_service : verdict', 'NodePort traffic'],
  [NO_ENDPOINT_SERVICES, `${VIP} : verdict`, 'vmap to drop or reject packets to services with no endpoints'],
  [
    NO_ENDPOINT_NODEPORTS,
    'inet_proto . inet_service : verdict',
    'vmap to drop or reject packets to service nodeports with no endpoints',
  ],
  [FIREWALL_IPS, `${VIP} : verdict`, 'destinations that are subject to LoadBalancerSourceRanges'],
  [CLUSTER_IPS, 'ipv4_addr', 'Active ClusterIPs'],
  [
    HAIRPINS,
    'ipv4_addr . ipv4_addr',
    'endpoint addresses, as source . destination: a pod that reached itself through a Service',
  ],
];
const MAP_TYPES = new Map(MAPS.map(([name, type]) => [name, type]));

/**
 * A chain's rules as one `add chain NAME { rule ; rule ; }` block. nft 1.0 reads every chain of
 * the table into its cache before evaluating an `add rule` (or `add element`, `delete chain`):
 * at 10,000 Services that is 60,000 chains, most of a second, on every run. A chain block (and a
 * map block with `elements = { }`) needs only the list of tables, so a partial sync made of
 * these costs the same at 10 Services as at 10,000.
 */
export function chainBlock(name: string, rules: readonly string[]): string {
  return rules.length ? `add chain ${T} ${name} { ${rules.join(' ; ')} ; }\n` : `add chain ${T} ${name}\n`;
}

/** Elements added through a map (or set) block, for the same reason; the type must be restated. */
export function elementsBlock(map: string, items: readonly string[]): string {
  const type = MAP_TYPES.get(map)!;
  return `add ${type.includes(':') ? 'map' : 'set'} ${T} ${map} { type ${type} ; elements = { ${items.join(', ')} } ; }\n`;
}

/** The table and every fixed chain, without touching their content: a transaction's prelude. */
export function prelude(): string {
  return `add table ${T}\n${FIXED_CHAINS.map((c) => `add chain ${T} ${c}\n`).join('')}`;
}

/** Create-or-reset of the whole fixed part, with the Services' maps and sets emptied. */
export function skeleton(cfg: SkeletonConfig): string {
  const out: string[] = [prelude()];
  for (const [name, type, hook, prio] of BASE_CHAINS)
    out.push(`add chain ${T} ${name} { type ${type} hook ${hook} priority ${prio} ; }\nflush chain ${T} ${name}\n`);
  for (const c of FIXED_CHAINS) out.push(`flush chain ${T} ${c}\n`);
  for (const [name, type, comment] of MAPS)
    out.push(
      `add ${type.includes(':') ? 'map' : 'set'} ${T} ${name} { type ${type} ; comment "${comment}" ; }\nflush ${type.includes(':') ? 'map' : 'set'} ${T} ${name}\n`,
    );
  const rules = new Map<string, string[]>();
  const rule = (chain: string, r: string) => {
    let l = rules.get(chain);
    if (!l) rules.set(chain, (l = []));
    l.push(r);
  };

  // Who goes where: the no-endpoint checks can only reject from input, forward and output; the
  // firewall must see the address before DNAT; the ClusterIP check after it.
  rule('filter-prerouting', `ct state new jump ${FIREWALL_CHECK}`);
  rule('filter-input', `ct state new jump ${NODEPORT_ENDPOINTS_CHECK}`);
  rule('filter-input', `ct state new jump ${SERVICE_ENDPOINTS_CHECK}`);
  rule('filter-forward', `ct state new jump ${SERVICE_ENDPOINTS_CHECK}`);
  rule('filter-forward', `ct state new jump ${CLUSTER_IPS_CHECK}`);
  rule('filter-output', `ct state new jump ${SERVICE_ENDPOINTS_CHECK}`);
  rule('filter-output', `ct state new jump ${FIREWALL_CHECK}`);
  rule('filter-output-post-dnat', `ct state new jump ${CLUSTER_IPS_CHECK}`);
  rule('nat-prerouting', `jump ${SERVICES}`);
  rule('nat-output', `jump ${SERVICES}`);
  rule('nat-postrouting', `jump ${MASQUERADING}`);

  const m = cfg.masqueradeMark;
  rule(MARK_MASQ, `meta mark set meta mark | ${m}`);
  // Hairpin: a pod sent to itself by a DNAT must be masqueraded, or it would answer itself
  // directly and the connection would never match. With no chain per endpoint, the pairs
  // `a . a` of endpoint addresses say it. Partial syncs only add pairs (removing one makes nft
  // read the table); a full sync leaves only current ones. A stale pair is harmless: only a DNAT
  // sends a pod's packet back to the pod's own address, and such a packet needs the masquerade
  // whichever Service (or other DNAT) did it.
  rule(MASQUERADING, `ct status dnat ip saddr . ip daddr @${HAIRPINS} meta mark set meta mark | ${m}`);
  rule(MASQUERADING, `meta mark & ${m} == 0 return`);
  // Clear the mark so that a packet re-traversing the stack is not masqueraded twice.
  rule(MASQUERADING, `meta mark set meta mark ^ ${m}`);
  rule(MASQUERADING, 'masquerade fully-random');
  rule(REJECT_CHAIN, 'reject');
  rule(CLUSTER_IPS_CHECK, `ip daddr @${CLUSTER_IPS} reject comment "Reject traffic to invalid ports of ClusterIPs"`);
  rule(FIREWALL_CHECK, `ip daddr . meta l4proto . th dport vmap @${FIREWALL_IPS}`);
  rule(SERVICE_ENDPOINTS_CHECK, `ip daddr . meta l4proto . th dport vmap @${NO_ENDPOINT_SERVICES}`);
  rule(SERVICES, `ip daddr . meta l4proto . th dport vmap @${SERVICE_IPS}`);

  // NodePorts: any local address but loopback (upstream serves no localhost NodePorts in this
  // mode), or the addresses --nodeport-addresses selects.
  out.push(`add set ${T} ${NODEPORT_IPS} { type ipv4_addr ; comment "IPs that accept NodePort traffic" ; }\n`);
  let nodePortMatch: string;
  if (cfg.nodePortIPs === 'all') {
    out.push(`delete set ${T} ${NODEPORT_IPS}\n`);
    nodePortMatch = 'fib daddr type local ip daddr != 127.0.0.0/8';
  } else {
    out.push(`flush set ${T} ${NODEPORT_IPS}\n`);
    if (cfg.nodePortIPs.length)
      out.push(`add set ${T} ${NODEPORT_IPS} { type ipv4_addr ; elements = { ${cfg.nodePortIPs.join(', ')} } ; }\n`);
    nodePortMatch = `ip daddr @${NODEPORT_IPS}`;
  }
  rule(SERVICES, `${nodePortMatch} meta l4proto . th dport vmap @${SERVICE_NODEPORTS}`);
  rule(NODEPORT_ENDPOINTS_CHECK, `${nodePortMatch} meta l4proto . th dport vmap @${NO_ENDPOINT_NODEPORTS}`);
  for (const [chain, list] of rules) out.push(chainBlock(chain, list));
  return out.join('');
}
