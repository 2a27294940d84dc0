// Service addresses on the kube-ipvs0 dummy interface (pure). IPVS only sees packets addressed
// to the node itself, so every ClusterIP, externalIP and load balancer IP is bound to a dummy
// interface that is never brought up: its addresses are local (the kernel adds local routes for
// them even while it is down), yet it answers nothing by itself (upstream does the same).
import { DUMMY_INTERFACE } from './kernel.js';

export interface AddressChanges {
  /** Run before IPVS is programmed: create the interface, add new addresses. */
  before: string[];
  /** Run after IPVS is programmed: remove addresses no Service has any more. */
  after: string[];
  added: number;
  removed: number;
}

export function planDummyAddresses(
  linkExists: boolean,
  current: readonly string[],
  desired: readonly string[],
): AddressChanges {
  const have = new Set(current);
  const want = new Set(desired);
  const before: string[] = [];
  if (!linkExists) before.push(`link add ${DUMMY_INTERFACE} type dummy`);
  const adds = desired.filter((a) => !have.has(a));
  const dels = current.filter((a) => !want.has(a));
  for (const a of adds) before.push(`address add ${a}/32 dev ${DUMMY_INTERFACE}`);
  return {
    before,
    after: dels.map((a) => `address del ${a}/32 dev ${DUMMY_INTERFACE}`),
    added: adds.length,
    removed: dels.length,
  };
}
