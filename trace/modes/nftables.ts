// The nftables mode's rules, translated (pure). Our proxy (proxy/nftables/) writes native nft
// rules in one table, `ip kubenode`, so the trace prints each rule's text itself: no iptables-save
// to tie it back to. The meaning comes from our names (proxy/nftables/names.ts): per-Service
// chains are "KIND-HASH-namespace/name/protocol/port" (endpoints add "__ip/port"), so the chain
// names the Service port; the fixed chains and the verdict maps say the role. A Service chain's
// rules pick an endpoint and DNAT themselves (`numgen random mod N 0 meta l4proto tcp dnat to
// a:p`); only Services with session affinity have endpoint chains.
import {
  FAMILY,
  HAIRPINS,
  MARK_MASQ,
  MASQUERADING,
  NO_ENDPOINT_NODEPORTS,
  NO_ENDPOINT_SERVICES,
  REJECT_CHAIN,
  SERVICE_IPS,
  SERVICE_NODEPORTS,
  TABLE,
} from '../../proxy/nftables/names.js';
import { describePod, type ExplainContext, type ModeExplainer, type RuleStep } from './types.js';

/** "service-HASH-default/web/tcp/http" -> "Service default/web port http" (undefined for a fixed chain). */
export function nftServicePort(chain: string): string | undefined {
  const m = /^(?:service|local|external|firewall|endpoint)-[A-Z0-9]+-([^/]+)\/([^/]+)\/[^/]+\/([^_]*)/.exec(chain);
  if (!m) return undefined;
  return `Service ${m[1]}/${m[2]}${m[3] ? ` port ${m[3]}` : ''}`;
}

const MAPS: Record<string, string> = {
  [SERVICE_IPS]: 'a Service IP and port',
  [SERVICE_NODEPORTS]: 'a NodePort',
  [NO_ENDPOINT_SERVICES]: 'a Service IP and port with no endpoints',
  [NO_ENDPOINT_NODEPORTS]: 'a NodePort with no endpoints',
};

/** A verdict-map lookup: which map matched, and where it sends the packet. */
function explainVmap(map: string, step: RuleStep, ctx: ExplainContext): string {
  const dest = `${ctx.packet.daddr ?? '?'}:${ctx.packet.dport ?? '?'}`;
  const what = MAPS[map] ?? `map ${map}`;
  const target = step.target ?? step.verdict;
  const svc = step.target ? nftServicePort(step.target) : undefined;
  if (svc)
    return `verdict map ${map} matched: ${svc}: ${dest} is ${what} -> ${step.target!.startsWith('external-') ? 'external traffic' : 'pick an endpoint'}`;
  return `verdict map ${map} matched: ${dest} is ${what} -> ${target === REJECT_CHAIN ? 'reject' : target}`;
}

function explainServiceRule(svc: string, step: RuleStep, ctx: ExplainContext): string | undefined {
  const nft = step.nft;
  const target = step.target ?? '';
  if (target === MARK_MASQ) {
    if (/fib saddr type local/.test(nft)) return `${svc}: from this node itself: mark for masquerade`;
    if (/ip saddr != (\S+)/.test(nft))
      return `${svc}: the source is outside the cluster CIDR ${/ip saddr != (\S+)/.exec(nft)![1]}, so mark it for masquerade (the endpoint may be on another node)`;
    return `${svc}: mark for masquerade`;
  }
  if (target.startsWith('endpoint-')) {
    const ep = /__([\d.]+)\/(\d+)$/.exec(target);
    const addr = ep ? `${ep[1]}:${ep[2]}` : target;
    const pod = ep ? describePod(ctx.pods(ep[1]!)) : '';
    const who = `${addr}${pod ? ` (${pod})` : ''}`;
    if (/ip saddr @affinity-/.test(nft))
      return `${svc}: session affinity (ClientIP): this client was sent to ${who} before, so it goes there again`;
    const mod = /numgen random mod (\d+)/.exec(nft);
    if (mod) return `${svc}: pick one of ${mod[1]} endpoints, ${Math.round(100 / Number(mod[1]))}% -> ${who}`;
    return `${svc}: the last (or only) endpoint left -> ${who}`;
  }
  const dnat = /dnat to (\S+)/.exec(nft);
  if (dnat && !step.chain.startsWith('endpoint-')) {
    const pod = describePod(ctx.pods(dnat[1]!.split(':')[0]!));
    const mod = /numgen random mod (\d+)/.exec(nft);
    const pick = mod
      ? `pick one of ${mod[1]} endpoints, ${Math.round(100 / Number(mod[1]))}%`
      : 'the last (or only) endpoint left';
    return `${svc}: ${pick} -> endpoint ${dnat[1]}${pod ? `, ${pod}` : ''}: DNAT ${ctx.packet.daddr}:${ctx.packet.dport} -> ${dnat[1]}`;
  }
  if (step.chain.startsWith('endpoint-')) {
    const dnat = /dnat to (\S+)/.exec(nft);
    if (dnat) {
      const pod = describePod(ctx.pods(dnat[1]!.split(':')[0]!));
      return `${svc}: endpoint ${dnat[1]}${pod ? `, ${pod}` : ''}: DNAT ${ctx.packet.daddr}:${ctx.packet.dport} -> ${dnat[1]}`;
    }
    if (/update @affinity-/.test(nft)) return `${svc}: remember this client for session affinity`;
  }
  if (target.startsWith('service-')) return `${svc}: on to the Service chain`;
  return undefined;
}

function explain(step: RuleStep, ctx: ExplainContext): string | undefined {
  if (step.kind !== 'rule' || step.family !== FAMILY || step.table !== TABLE) return undefined;
  const vmap = /vmap @(\S+)/.exec(step.nft);
  if (vmap) return explainVmap(vmap[1]!, step, ctx);
  const svc = nftServicePort(step.chain);
  if (svc) return explainServiceRule(svc, step, ctx);
  if (step.chain === MARK_MASQ) return 'mark: masquerade this connection when it leaves (chain masquerading)';
  if (step.chain === MASQUERADING && step.nft.includes(`@${HAIRPINS}`))
    return "hairpin: a pod sent to itself by a Service's DNAT: mark for masquerade, or it would answer itself directly";
  if (step.chain === MASQUERADING) {
    if (/\bmasquerade\b/.test(step.nft))
      return "masquerade: the source becomes this node's address on the way out (SNAT)";
    if (step.verdict === 'return') return 'not marked for masquerade: the source address is kept';
    return 'marked for masquerade: clear the mark (so it is done once)';
  }
  if (step.chain === REJECT_CHAIN)
    return `the Service at ${ctx.packet.daddr}:${ctx.packet.dport} has no endpoints: REJECT (the client is refused at once)`;
  if (/reject comment "Reject traffic to invalid ports of ClusterIPs"/.test(step.nft))
    return `${ctx.packet.daddr} is a ClusterIP, but port ${ctx.packet.dport} is none of its Service's: REJECT`;
  if (/^(jump|goto)$/.test(step.verdict) && step.target) return `on to ${step.target}`;
  return undefined;
}

export const nftablesMode: ModeExplainer = { mode: 'nftables', explain };
