// The userspace mode's rules, translated (pure). Its iptables rules (proxy/userspace/rules.ts)
// do not send the packet to an endpoint: they REDIRECT it (from pods, KUBE-PORTALS-CONTAINER,
// KUBE-NODEPORT-CONTAINER) or DNAT it to the node's own address (from the node,
// KUBE-PORTALS-HOST, KUBE-NODEPORT-HOST) at the proxy's listening port for that Service port. The
// proxy process accepts the connection and opens a second one to an endpoint it picks: a new
// flow from the node, which this packet's trace does not contain.
import { optionValue, splitRule } from '../ruleset.js';
import { servicePortName } from './iptables.js';
import type { ModeExplainer, RuleStep } from './types.js';

const SECOND_LEG =
  'the proxy process accepts the connection and opens a second connection, a new flow from this node, to an endpoint it picks';

/** The proxy's port a portal or NodePort rule sends the packet to. */
export function proxyPortOf(source: string): number | undefined {
  const words = splitRule(source);
  const port = optionValue(words, '--to-ports') ?? optionValue(words, '--to-destination')?.split(':')[1];
  return port ? Number(port) : undefined;
}

function explain(step: RuleStep): string | undefined {
  if (step.kind !== 'rule' || !step.source) return undefined;
  const words = splitRule(step.source);
  const comment = optionValue(words, '--comment') ?? '';
  const target = optionValue(words, '-j');
  const svc = servicePortName(comment.split(' ')[0]!);
  const chain = step.chain;
  if (/^KUBE-(PORTALS|NODEPORT)-(CONTAINER|HOST)$/.test(chain) && (target === 'REDIRECT' || target === 'DNAT')) {
    const port = proxyPortOf(step.source);
    const what = chain.startsWith('KUBE-NODEPORT-')
      ? `NodePort ${optionValue(words, '--dport')}`
      : `cluster IP ${optionValue(words, '-d')?.replace('/32', '')}:${optionValue(words, '--dport')}`;
    const how =
      target === 'REDIRECT'
        ? `REDIRECT to the proxy's own port ${port}`
        : `DNAT to the proxy's own port ${port} on ${optionValue(words, '--to-destination')?.split(':')[0]} (from the node itself)`;
    return `${svc}: ${what} -> ${how}; ${SECOND_LEG}`;
  }
  if (chain === 'KUBE-PORTALS-REJECT' && target === 'REJECT')
    return `${svc} has no endpoints: REJECT (${optionValue(words, '--reject-with') ?? 'icmp-port-unreachable'}: the client is refused at once)`;
  if (chain === 'KUBE-NODEPORT-NON-LOCAL')
    return `${svc}: a new connection to the proxy's port ${optionValue(words, '--dport')}: accept`;
  if (/^kubernetes /.test(comment)) return `${comment} -> ${target}`;
  return undefined;
}

export const userspaceMode: ModeExplainer = { mode: 'userspace', explain };

export interface ProxyListener {
  port: number;
  process?: string;
  pid?: number;
}

/** The process listening on this TCP port, from `ss -ltnp` ("users:(("node",pid=123,fd=20))"). */
export function listenerOn(ssOutput: string, port: number): ProxyListener | undefined {
  for (const line of ssOutput.split('\n')) {
    const w = line.trim().split(/\s+/);
    if (w[0] !== 'LISTEN' || !w[3]?.endsWith(`:${port}`)) continue;
    const u = /users:\(\("([^"]+)",pid=(\d+)/.exec(line);
    return { port, ...(u ? { process: u[1]!, pid: Number(u[2]) } : {}) };
  }
  return undefined;
}
