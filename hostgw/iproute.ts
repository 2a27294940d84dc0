// Reading iproute2's JSON output (`ip -j`) into the planner's shapes. Pure: the text comes in,
// the applier runs the programs.
import type { LocalAddress, Route } from './routes.js';

/**
 * The route protocol number that marks host-gw routes (`ip route ... proto 107`). Any number
 * the kernel does not use itself (0-4) and iproute2 does not name in rt_protos works; 107 is
 * unassigned there. It is how a sync finds the routes it made, and `--cleanup` removes them.
 */
export const HOSTGW_ROUTE_PROTOCOL = 107;

interface IpRouteJson {
  type?: string;
  dst?: string;
  gateway?: string;
  dev?: string;
}

/** `ip -j -4 route show proto 107`: gatewayed unicast routes only ("default" is never ours). */
export function parseRoutes(json: string): Route[] {
  const list = JSON.parse(json.trim() || '[]') as IpRouteJson[];
  const out: Route[] = [];
  for (const r of list) {
    if ((r.type ?? 'unicast') !== 'unicast' || !r.dst || !r.gateway || !r.dev || r.dst === 'default') continue;
    // iproute2 prints a /32 destination without its prefix length.
    out.push({ dst: r.dst.includes('/') ? r.dst : `${r.dst}/32`, via: r.gateway, dev: r.dev });
  }
  return out;
}

interface IpAddrJson {
  ifname?: string;
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

/** `ip -j -4 addr show`: global-scope IPv4 addresses with their interfaces. */
export function parseAddresses(json: string): LocalAddress[] {
  const list = JSON.parse(json.trim() || '[]') as IpAddrJson[];
  const out: LocalAddress[] = [];
  for (const link of list) {
    for (const a of link.addr_info ?? []) {
      if (a.family !== 'inet' || a.scope !== 'global' || !a.local || a.prefixlen === undefined || !link.ifname)
        continue;
      out.push({ interface: link.ifname, cidr: `${a.local}/${a.prefixlen}` });
    }
  }
  return out;
}
