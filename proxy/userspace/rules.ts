// The nat rules of userspace mode (pure), after upstream's pkg/proxy/userspace (removed in
// 1.26): the kernel does no load balancing here, it only steers a Service's addresses to the
// proxy's own listening socket for that Service port, and the proxy copies the bytes.
//
//   PREROUTING -> KUBE-PORTALS-CONTAINER   ClusterIP / externalIP / LB IP : port -> REDIRECT to the proxy port
//   OUTPUT     -> KUBE-PORTALS-HOST        the same, from the node itself -> DNAT to hostIP:proxy port
//   PREROUTING -> KUBE-NODEPORT-CONTAINER  (last rule, local destinations) NodePort -> REDIRECT
//   OUTPUT     -> KUBE-NODEPORT-HOST       (last rule, local destinations) NodePort -> DNAT to hostIP
//   filter INPUT -> KUBE-NODEPORT-NON-LOCAL  accept new connections to the proxy ports
//
// Why DNAT from the node and not REDIRECT: REDIRECT in OUTPUT rewrites to 127.0.0.1, and a UDP
// reply from a socket bound to 0.0.0.0 then leaves from the node's address, which conntrack
// does not match to the request, so the client would see it come from the wrong address.
// REDIRECT from PREROUTING goes to the receiving interface's address, from which the reply
// also leaves: that one works.
//
// One addition upstream's userspace mode did not have: a Service port with no usable endpoint
// gets a REJECT in filter KUBE-PORTALS-REJECT instead of a redirect, so a client is refused at
// once, as upstream 1.34's iptables and nftables modes do (upstream's userspace proxy accepted
// and closed the connection).
import { renderChainCleanup } from '../iptables/chain-cleanup.js';
import { hasJump, type JumpRule, jumpSpec, type Table } from '../iptables/static-rules.js';
import type { Protocol } from '../model/types.js';

export const KUBE_PORTALS_CONTAINER = 'KUBE-PORTALS-CONTAINER';
export const KUBE_PORTALS_HOST = 'KUBE-PORTALS-HOST';
export const KUBE_NODEPORT_CONTAINER = 'KUBE-NODEPORT-CONTAINER';
export const KUBE_NODEPORT_HOST = 'KUBE-NODEPORT-HOST';
export const KUBE_NODEPORT_NON_LOCAL = 'KUBE-NODEPORT-NON-LOCAL';
export const KUBE_PORTALS_REJECT = 'KUBE-PORTALS-REJECT';

export const USERSPACE_CHAINS: Record<Table, readonly string[]> = {
  nat: [KUBE_PORTALS_CONTAINER, KUBE_PORTALS_HOST, KUBE_NODEPORT_CONTAINER, KUBE_NODEPORT_HOST],
  filter: [KUBE_NODEPORT_NON_LOCAL, KUBE_PORTALS_REJECT],
};

const PORTALS_COMMENT = 'handle ClusterIPs; NOTE: this must be before the NodePort rules';
const NODEPORTS_COMMENT = 'handle service NodePorts; NOTE: this must be the last rule in the chain';
const LOCAL = '-m addrtype --dst-type LOCAL';

/**
 * Jumps from the built-in chains, in the order they are inserted at the top (see
 * missingUserspaceJumps). The NodePort jumps must come after the portal jumps (a NodePort
 * number could equal a Service port on a local external IP): upstream appended them; we insert
 * them first so that the portal jumps, inserted after, end up above them, and both stay above
 * anyone else's rules.
 */
export const USERSPACE_JUMP_RULES: readonly JumpRule[] = [
  { table: 'nat', builtin: 'PREROUTING', target: KUBE_NODEPORT_CONTAINER, comment: NODEPORTS_COMMENT, match: LOCAL },
  { table: 'nat', builtin: 'OUTPUT', target: KUBE_NODEPORT_HOST, comment: NODEPORTS_COMMENT, match: LOCAL },
  { table: 'nat', builtin: 'PREROUTING', target: KUBE_PORTALS_CONTAINER, comment: PORTALS_COMMENT, match: '' },
  { table: 'nat', builtin: 'OUTPUT', target: KUBE_PORTALS_HOST, comment: PORTALS_COMMENT, match: '' },
  {
    table: 'filter',
    builtin: 'INPUT',
    target: KUBE_NODEPORT_NON_LOCAL,
    comment: 'Ensure that non-local NodePort traffic can flow',
    match: '',
  },
  {
    table: 'filter',
    builtin: 'INPUT',
    target: KUBE_PORTALS_REJECT,
    comment: 'kubernetes service portals without endpoints',
    match: '-m conntrack --ctstate NEW',
  },
  {
    table: 'filter',
    builtin: 'FORWARD',
    target: KUBE_PORTALS_REJECT,
    comment: 'kubernetes service portals without endpoints',
    match: '-m conntrack --ctstate NEW',
  },
  {
    table: 'filter',
    builtin: 'OUTPUT',
    target: KUBE_PORTALS_REJECT,
    comment: 'kubernetes service portals without endpoints',
    match: '-m conntrack --ctstate NEW',
  },
];

/** One Service port as the rules see it. */
export interface Portal {
  /** ServicePortName ("ns/name:port"), the comment on each of its rules. */
  name: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  nodePort: number;
  /** externalIPs and load balancer ingress IPs: captured like the ClusterIP. */
  externalAddresses: readonly string[];
  /** The proxy's listening port for this Service port; 0 when it has no usable endpoint. */
  proxyPort: number;
}

export interface UserspacePlanConfig {
  /** The node address that traffic from the node itself is DNATed to (upstream's hostIP). */
  hostIP: string | undefined;
}

const comment = (text: string) => `-m comment --comment "${text}"`;

/** The rules of each of our chains, keyed "table CHAIN", every chain present (maybe empty). */
export function planPortals(portals: readonly Portal[], cfg: UserspacePlanConfig): Map<string, string[]> {
  const rules = new Map<string, string[]>();
  for (const t of ['nat', 'filter'] as const) for (const c of USERSPACE_CHAINS[t]) rules.set(`${t} ${c}`, []);
  const add = (table: Table, chain: string, spec: string) =>
    rules.get(`${table} ${chain}`)!.push(`-A ${chain} ${spec}`);
  const reject = '-j REJECT --reject-with icmp-port-unreachable';
  for (const p of portals) {
    const proto = p.protocol.toLowerCase();
    const match = (port: number) => `-p ${proto} ${comment(p.name)} -m ${proto} --dport ${port}`;
    const addresses = [p.clusterIP, ...p.externalAddresses];
    if (p.proxyPort === 0) {
      for (const ip of addresses)
        add(
          'filter',
          KUBE_PORTALS_REJECT,
          `-d ${ip}/32 -p ${proto} ${comment(`${p.name} has no endpoints`)} -m ${proto} --dport ${p.port} ${reject}`,
        );
      if (p.nodePort)
        add(
          'filter',
          KUBE_PORTALS_REJECT,
          `-p ${proto} ${comment(`${p.name} has no endpoints`)} ${LOCAL} -m ${proto} --dport ${p.nodePort} ${reject}`,
        );
      continue;
    }
    const toHost = cfg.hostIP ? `-j DNAT --to-destination ${cfg.hostIP}:${p.proxyPort}` : undefined;
    for (const ip of addresses) {
      add('nat', KUBE_PORTALS_CONTAINER, `-d ${ip}/32 ${match(p.port)} -j REDIRECT --to-ports ${p.proxyPort}`);
      if (toHost) add('nat', KUBE_PORTALS_HOST, `-d ${ip}/32 ${match(p.port)} ${toHost}`);
    }
    if (p.nodePort) {
      add('nat', KUBE_NODEPORT_CONTAINER, `${match(p.nodePort)} -j REDIRECT --to-ports ${p.proxyPort}`);
      if (toHost) add('nat', KUBE_NODEPORT_HOST, `${match(p.nodePort)} ${toHost}`);
    }
    // A default-deny INPUT policy must still let redirected traffic reach the proxy.
    add('filter', KUBE_NODEPORT_NON_LOCAL, `${match(p.proxyPort)} -m state --state NEW -j ACCEPT`);
  }
  return rules;
}

/** Jumps missing from the built-in chains (keyed "table BUILTIN"), in the order to insert them at the top. */
export function missingUserspaceJumps(builtins: ReadonlyMap<string, readonly string[]>): JumpRule[] {
  return USERSPACE_JUMP_RULES.filter((j) => !hasJump(builtins.get(`${j.table} ${j.builtin}`) ?? [], j));
}

/**
 * One iptables-restore --noflush input that rewrites all our chains (declaring a chain flushes
 * it) and inserts missing jumps. Userspace mode has a handful of rules per Service port, so
 * every sync rewrites them all, in one transaction per table.
 */
export function renderPortals(
  rules: ReadonlyMap<string, readonly string[]>,
  missingJumps: readonly JumpRule[],
): string {
  let input = '';
  for (const table of ['filter', 'nat'] as const) {
    input += `*${table}\n`;
    for (const c of USERSPACE_CHAINS[table]) input += `:${c} - [0:0]\n`;
    for (const c of USERSPACE_CHAINS[table]) for (const l of rules.get(`${table} ${c}`) ?? []) input += l + '\n';
    for (const j of missingJumps) if (j.table === table) input += `-I ${j.builtin} 1 ${jumpSpec(j)}\n`;
    input += 'COMMIT\n';
  }
  return input;
}

/** --cleanup: delete our jumps, then flush and delete our chains that exist (pure). */
export function renderUserspaceCleanup(
  builtins: ReadonlyMap<string, readonly string[]>,
  chains: Record<Table, ReadonlySet<string>>,
): string {
  return renderChainCleanup(USERSPACE_JUMP_RULES, USERSPACE_CHAINS, builtins, chains);
}
