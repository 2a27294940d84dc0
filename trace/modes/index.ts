// The proxy modes the trace can explain, and which one a node runs (pure).
// Adding a mode: a module beside iptables.ts and ipvs.ts exporting a ModeExplainer, an entry in
// MODES, and a test in detectMode. nftables (upstream's table "ip kube-proxy", rules with native
// comments that `nft monitor trace` prints itself) and userspace are left for those modes' authors.
import { iptablesMode } from './iptables.js';
import { ipvsMode } from './ipvs.js';
import type { ModeExplainer, ProxyMode } from './types.js';

export const MODES: Record<ProxyMode, ModeExplainer | undefined> = {
  iptables: iptablesMode,
  ipvs: ipvsMode,
  nftables: undefined,
  userspace: undefined,
};

/** The mode behind a node's rules: iptables-save and `nft list tables` say which proxy wrote them. */
export function detectMode(iptablesSave: string, nftTables: string): ProxyMode | undefined {
  if (/^:KUBE-SVC-|^:KUBE-SVL-/m.test(iptablesSave)) return 'iptables';
  if (/--match-set KUBE-CLUSTER-IP/.test(iptablesSave)) return 'ipvs';
  if (/^table ip kube-proxy\b/m.test(nftTables)) return 'nftables';
  if (/^:KUBE-SERVICES /m.test(iptablesSave)) return 'iptables';
  return undefined;
}
