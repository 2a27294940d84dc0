// The iptables mode's rules, translated (pure). Reads the rule as kube-proxy (and kubenode-proxy,
// which follows it: proxy/iptables/service-rules.ts) writes it: the comment names the Service
// port ("default/web:http cluster IP", "default/web:http -> 10.244.1.12:8080"), the chain prefix
// says the role (KUBE-SVC picks an endpoint, KUBE-SEP DNATs to one, KUBE-EXT handles external
// traffic, KUBE-MARK-MASQ/KUBE-POSTROUTING masquerade), the statistic match the odds.
import { optionValue, splitRule } from '../ruleset.js';
import { describePod, type ExplainContext, type ModeExplainer, type RuleStep } from './types.js';

/** "default/web:http" -> "Service default/web port http" ("default/web" when the port has no name). */
export function servicePortName(spn: string): string {
  const m = /^([^/]+)\/([^:]+)(?::(.+))?$/.exec(spn);
  if (!m) return spn;
  return `Service ${m[1]}/${m[2]}${m[3] ? ` port ${m[3]}` : ''}`;
}

const pct = (p: number) => `${Math.round(p * 100)}%`;

/** The endpoint-picking rules of a KUBE-SVC/KUBE-SVL chain: those that are not affinity or masquerade rules. */
function pickRules(rules: readonly string[]): string[] {
  return rules.filter((r) => /-j KUBE-SEP-/.test(r) && !/--rcheck/.test(r));
}

function explainServiceChain(words: string[], step: RuleStep, ctx: ExplainContext): string | undefined {
  const comment = optionValue(words, '--comment') ?? '';
  const spn = comment.split(' ')[0] ?? '';
  const svc = servicePortName(spn);
  const target = optionValue(words, '-j');
  if (target === 'KUBE-MARK-MASQ') {
    const notFrom = words.includes('!') ? optionValue(words, '-s') : undefined;
    return `${svc}: the source is outside the cluster CIDR${notFrom ? ` ${notFrom}` : ''}, so mark it for masquerade (the endpoint may be on another node)`;
  }
  const endpoint = comment.split(' -> ')[1];
  const pod = endpoint ? describePod(ctx.pods(endpoint.split(':')[0]!)) : '';
  if (words.includes('--rcheck')) {
    const secs = optionValue(words, '--seconds');
    return `${svc}: session affinity (ClientIP${secs ? `, ${secs} s` : ''}): this client was sent to ${endpoint}${pod ? ` (${pod})` : ''} before, so it goes there again (recent list ${optionValue(words, '--name')})`;
  }
  const all = ctx.chainRules(step.table, step.chain);
  const picks = all ? pickRules(all) : [];
  const n = picks.length;
  const prob = optionValue(words, '--probability');
  const odds = prob
    ? `; this rule takes ${pct(Number(prob))} of what reaches it`
    : n > 1
      ? '; the last rule takes what is left'
      : '';
  const choice = n > 0 ? `pick one of ${n} endpoint${n === 1 ? '' : 's'}, ${pct(1 / n)}` : 'pick an endpoint';
  return `${svc}: ${choice} -> ${endpoint ?? target}${pod ? ` (${pod})` : ''}${odds}`;
}

function explainRule(step: RuleStep, ctx: ExplainContext): string | undefined {
  if (!step.source) return undefined;
  const words = splitRule(step.source);
  const comment = optionValue(words, '--comment') ?? '';
  const target = optionValue(words, '-j');
  const chain = step.chain;
  if (chain.startsWith('KUBE-SVC-') || chain.startsWith('KUBE-SVL-')) return explainServiceChain(words, step, ctx);
  if (chain.startsWith('KUBE-SEP-')) {
    const svc = servicePortName(comment);
    if (target === 'KUBE-MARK-MASQ')
      return `${svc}: hairpin: the pod ${optionValue(words, '-s')?.replace('/32', '')} is reaching itself through its Service, so mark it for masquerade (or it would answer itself directly)`;
    if (target === 'DNAT') {
      const to = optionValue(words, '--to-destination') ?? '';
      const pod = describePod(ctx.pods(to.split(':')[0]!));
      const before = `${ctx.packet.daddr}:${ctx.packet.dport}`;
      const sticky = words.includes('--set') ? '; remember this client for session affinity' : '';
      return `${svc}: endpoint ${to}${pod ? `, ${pod}` : ''}: DNAT ${before} -> ${to}${sticky}`;
    }
  }
  if (chain.startsWith('KUBE-EXT-')) {
    if (target === 'KUBE-MARK-MASQ')
      return `${servicePortName(comment.replace(/^(masquerade|masquerade LOCAL) traffic for /, '').replace(/ external destinations$/, ''))}: external traffic (externalTrafficPolicy Cluster): mark for masquerade, so replies come back through this node`;
    return `${servicePortName(comment.split(' ')[0]!)}: external traffic goes on to ${target}`;
  }
  if (chain.startsWith('KUBE-FW-'))
    return `${servicePortName(comment.split(' ')[0]!)}: loadBalancerSourceRanges check -> ${target ?? 'drop'}`;
  if (
    chain === 'KUBE-SERVICES' ||
    chain === 'KUBE-NODEPORTS' ||
    chain === 'KUBE-EXTERNAL-SERVICES' ||
    chain === 'KUBE-PROXY-FIREWALL'
  ) {
    const spn = comment.split(' ')[0]!;
    if (target === 'REJECT' || target === 'DROP') {
      const why = / has no endpoints$/.test(comment)
        ? 'has no endpoints'
        : / has no local endpoints$/.test(comment)
          ? 'has no local endpoints'
          : comment;
      return `${servicePortName(spn)} ${why}: ${target}${target === 'REJECT' ? ` (${optionValue(words, '--reject-with') ?? 'icmp-port-unreachable'}: the client is refused at once)` : ''}`;
    }
    if (target === 'KUBE-NODEPORTS') return 'the destination is a local address: look for a NodePort';
    if (/ cluster IP$/.test(comment))
      return `${servicePortName(spn)}: cluster IP ${optionValue(words, '-d')?.replace('/32', '')}:${optionValue(words, '--dport')}`;
    if (/ external IP$/.test(comment))
      return `${servicePortName(spn)}: external IP ${optionValue(words, '-d')?.replace('/32', '')}`;
    if (/ loadbalancer IP$/.test(comment))
      return `${servicePortName(spn)}: load balancer IP ${optionValue(words, '-d')?.replace('/32', '')}`;
    if (/ health check node port$/.test(comment)) return `${servicePortName(spn)}: health check node port: accept`;
    if (chain === 'KUBE-NODEPORTS') return `${servicePortName(spn)}: NodePort ${optionValue(words, '--dport')}`;
  }
  if (chain === 'KUBE-MARK-MASQ')
    return `mark ${optionValue(words, '--set-xmark')?.split('/')[0] ?? ''}: masquerade this connection when it leaves (KUBE-POSTROUTING)`;
  if (chain === 'KUBE-POSTROUTING') {
    if (target === 'RETURN') return 'not marked for masquerade: the source address is kept';
    if (target === 'MARK') return 'marked for masquerade: clear the mark (so it is done once)';
    if (target === 'MASQUERADE') return "masquerade: the source becomes this node's address on the way out (SNAT)";
  }
  if (chain === 'KUBE-FORWARD') {
    if (target === 'DROP') return 'conntrack says INVALID: drop';
    if (/--mark/.test(step.source)) return 'marked by kube-proxy: allowed to be forwarded';
    return 'part of a known connection: allowed to be forwarded';
  }
  if (/^kubernetes /.test(comment)) return `${comment} -> ${target}`;
  return undefined;
}

export const iptablesMode: ModeExplainer = {
  mode: 'iptables',
  explain: (step, ctx) => (step.kind === 'rule' ? explainRule(step, ctx) : undefined),
};
