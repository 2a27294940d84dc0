// The proxy modes the trace can explain, and which one a node runs (pure).
// Adding a mode: a module beside iptables.ts and ipvs.ts exporting a ModeExplainer, an entry in
// MODES, and a test in detectMode.
import { iptablesMode } from './iptables.js';
import { ipvsMode } from './ipvs.js';
import { nftablesMode } from './nftables.js';
import { userspaceMode } from './userspace.js';
import type { ModeExplainer, ProxyMode } from './types.js';

export const MODES: Record<ProxyMode, ModeExplainer | undefined> = {
  iptables: iptablesMode,
  ipvs: ipvsMode,
  nftables: nftablesMode,
  userspace: userspaceMode,
};

/** The mode behind a node's rules: iptables-save and `nft list tables` say which proxy wrote them. */
export function detectMode(iptablesSave: string, nftTables: string): ProxyMode | undefined {
  if (/^:KUBE-SVC-|^:KUBE-SVL-/m.test(iptablesSave)) return 'iptables';
  if (/--match-set KUBE-CLUSTER-IP/.test(iptablesSave)) return 'ipvs';
  if (/^:KUBE-PORTALS-(CONTAINER|HOST) /m.test(iptablesSave)) return 'userspace';
  // Our nftables mode's table (proxy/nftables/names.ts); not the tracing tables "kubenode_trace_…".
  if (/^table ip kubenode\s*$/m.test(nftTables)) return 'nftables';
  if (/^:KUBE-SERVICES /m.test(iptablesSave)) return 'iptables';
  return undefined;
}
