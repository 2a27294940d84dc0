// From what the kernel said to the report (pure): the first traced packet's hooks and rules,
// each rule matched to the rule as the proxy wrote it and explained by the node's proxy mode; the
// NAT it underwent; where it left; who answered; its conntrack entry.
import type { ConntrackEntry } from './conntrack.js';
import { findIpvsConnection, type IpvsConnection } from './modes/ipvs.js';
import { MODES } from './modes/index.js';
import { listenerOn, proxyPortOf, type ProxyListener } from './modes/userspace.js';
import type { ExplainContext, PodRef, ProxyMode, RuleStep } from './modes/types.js';
import type { PacketInfo, PacketTrace } from './nft-trace.js';
import { type HandleIndex, iptablesRuleFor, optionValue, type SaveIndex, splitRule } from './ruleset.js';

export interface RuleListing {
  handles: HandleIndex;
  save: SaveIndex;
}

export interface Observation {
  node: string;
  flow: { proto: string; from?: string; fromPod?: string; to: string; port: number; command?: string[] };
  packets: PacketTrace[];
  /**
   * The rules as written, listed before and after the capture: a proxy resync rewrites chains
   * (new handles), so a handle missing from one listing is looked up in the other.
   */
  rules: RuleListing[];
  mode?: ProxyMode;
  pods: ReadonlyMap<string, PodRef>;
  /** `ip route get` for the final destination, one line. */
  route?: string;
  /** The bridge port (veth) the destination's MAC address is behind, when it left through a bridge. */
  bridgePort?: string;
  conntrack: ConntrackEntry[];
  ipvs: IpvsConnection[];
  commandExit?: number;
  /** Userspace mode: `ss -ltnp` in the node, to name the proxy's listening port and process. */
  listeners?: string;
}

/** One netfilter hook the packet went through: the base chain it entered and what it met. */
export interface Hop {
  family: string;
  table: string;
  chain: string;
  packet: PacketInfo;
  steps: RuleStep[];
}

export interface Endpoint {
  address: string;
  pod?: PodRef;
}

export interface TraceReport {
  node: string;
  mode?: ProxyMode;
  flow: Observation['flow'];
  packet: PacketInfo;
  hops: Hop[];
  /** accepted: went on its way; rejected/dropped by a rule. */
  outcome: 'accepted' | 'rejected' | 'dropped';
  /** The rule that rejected or dropped it. */
  stoppedBy?: RuleStep;
  dnat?: { before: string; after: string };
  snat?: { before: string; after?: string };
  route?: string;
  interface?: string;
  bridgePort?: string;
  endpoint?: Endpoint;
  conntrack?: ConntrackEntry;
  ipvs?: IpvsConnection;
  /** Userspace mode: the proxy socket this packet was sent to; the endpoint is its second connection's. */
  userspaceProxy?: ProxyListener;
  laterPackets: number;
  commandExit?: number;
}

const addr = (ip?: string, port?: number) => `${ip ?? '?'}${port !== undefined ? `:${port}` : ''}`;

function genericMeaning(s: RuleStep): string | undefined {
  if (s.kind === 'policy') return `end of ${s.chain}: the chain's policy, ${s.verdict}`;
  if (s.kind === 'verdict')
    return s.verdict === 'continue'
      ? `no rule of ${s.chain} decided: back to the chain that jumped here`
      : `${s.verdict}${s.target ? ` ${s.target}` : ''}`;
  // Rules of other programs (the CNI plugin's masquerade chain...) say what they are in their comment.
  const comment = s.source ? optionValue(splitRule(s.source), '--comment') : undefined;
  if (comment) return `${comment} -> ${s.verdict}${s.target ? ` ${s.target}` : ''}`;
  if (/^(jump|goto)$/.test(s.verdict)) return undefined;
  if (s.verdict === 'accept' && /\bdnat to (\S+)/.test(s.nft)) return `DNAT to ${/\bdnat to (\S+)/.exec(s.nft)![1]}`;
  if (/\bmasquerade\b/.test(s.nft)) return "masquerade (SNAT to the outgoing interface's address)";
  if (/\breject\b/.test(s.nft)) return 'reject';
  return undefined;
}

function hopsOf(obs: Observation, p: PacketTrace): Hop[] {
  const hops: Hop[] = [];
  const mode = obs.mode ? MODES[obs.mode] : undefined;
  const pods = (ip: string) => obs.pods.get(ip);
  for (const e of p.events) {
    if (e.kind === 'packet') {
      hops.push({ family: e.family, table: e.table, chain: e.chain, packet: e.packet, steps: [] });
      continue;
    }
    if (hops.length === 0) hops.push({ family: e.family, table: e.table, chain: e.chain, packet: p.first, steps: [] });
    const hop = hops[hops.length - 1]!;
    const step: RuleStep = {
      family: e.family,
      table: e.table,
      chain: e.chain,
      kind: e.kind,
      nft: e.kind === 'rule' ? e.rule : '',
      verdict: e.verdict,
      ...(e.kind === 'rule' && e.handle !== undefined ? { handle: e.handle } : {}),
      ...('target' in e && e.target ? { target: e.target } : {}),
    };
    let listing = obs.rules[obs.rules.length - 1];
    for (const l of step.handle !== undefined ? obs.rules : []) {
      const src = iptablesRuleFor(l.handles, l.save, e.family, e.table, e.chain, step.handle!);
      if (src !== undefined) {
        step.source = src;
        listing = l;
        break;
      }
    }
    const ctx: ExplainContext = { pods, chainRules: (t, c) => listing?.save.get(`${t} ${c}`), packet: hop.packet };
    const meaning = mode?.explain(step, ctx) ?? genericMeaning(step);
    if (meaning) step.meaning = meaning;
    hop.steps.push(step);
  }
  return hops;
}

export function buildReport(obs: Observation): TraceReport | undefined {
  const p = obs.packets[0];
  if (!p) return undefined;
  const hops = hopsOf(obs, p);
  const steps = hops.flatMap((h) => h.steps);
  const stop = steps.find((s) => s.verdict === 'drop');
  const first = p.first;
  const last = hops[hops.length - 1]?.packet ?? first;
  const report: TraceReport = {
    node: obs.node,
    ...(obs.mode ? { mode: obs.mode } : {}),
    flow: obs.flow,
    packet: first,
    hops,
    outcome: stop
      ? /\breject\b/.test(stop.nft) || /-j REJECT/.test(stop.source ?? '')
        ? 'rejected'
        : 'dropped'
      : 'accepted',
    ...(stop ? { stoppedBy: stop } : {}),
    laterPackets: obs.packets.length - 1,
    ...(obs.commandExit !== undefined ? { commandExit: obs.commandExit } : {}),
  };
  const ct = obs.conntrack.find(
    (c) =>
      c.original.src === first.saddr &&
      c.original.sport === first.sport &&
      c.original.dst === first.daddr &&
      c.original.dport === first.dport,
  );
  if (ct) report.conntrack = ct;
  const ipvs =
    first.saddr && first.sport
      ? findIpvsConnection(obs.ipvs, first.saddr, first.sport, addr(first.daddr, first.dport))
      : undefined;
  if (ipvs) report.ipvs = ipvs;
  // The destination after NAT: the kernel's last view of the packet, or conntrack's reply, or IPVS.
  let after = addr(last.daddr, last.dport);
  if (ct) after = addr(ct.reply.src, ct.reply.sport);
  else if (ipvs) after = ipvs.destination;
  const before = addr(first.daddr, first.dport);
  if (after !== before) report.dnat = { before, after };
  if (steps.some((s) => /\bmasquerade\b/.test(s.nft) || /-j MASQUERADE/.test(s.source ?? ''))) {
    report.snat = {
      before: addr(first.saddr, first.sport),
      ...(ct ? { after: addr(ct.reply.dst, ct.reply.dport) } : {}),
    };
  }
  const portal =
    obs.mode === 'userspace' ? steps.find((s) => s.source && /-j (REDIRECT|DNAT)/.test(s.source)) : undefined;
  const proxyPort = portal ? proxyPortOf(portal.source!) : undefined;
  if (proxyPort)
    report.userspaceProxy = (obs.listeners !== undefined ? listenerOn(obs.listeners, proxyPort) : undefined) ?? {
      port: proxyPort,
    };
  if (obs.route) report.route = obs.route;
  if (last.oif) report.interface = last.oif;
  if (obs.bridgePort) report.bridgePort = obs.bridgePort;
  if (report.outcome === 'accepted') {
    const ip = after.split(':')[0]!;
    const pod = obs.pods.get(ip);
    report.endpoint = { address: after, ...(pod ? { pod } : {}) };
  }
  return report;
}
