// What an ADD will do, decided before anything is touched: the pod's addresses, gateways and
// routes, the iproute2 batches for the pod side and the host side, and the result to print.
// Pure: data in, data out (the kernel work is in add.ts).
import {
  addOffset,
  defaultDst,
  formatCIDR,
  formatIP,
  networkOf,
  parseCIDR,
  parseIP,
  type CIDR,
  type Family,
  type IP,
} from '../../lib/ip.js';
import type { CniDNS, CniInterface, CniIPConfig, CniResult, CniRoute } from '../spec/result.js';
import type { BridgeConf } from './config.js';
import type { PortPlan } from '../link/types.js';
import type { AttachmentNames } from './names.js';

export interface PodAddress {
  cidr: CIDR;
  gateway?: IP;
}

export interface WiringInput {
  conf: BridgeConf;
  names: AttachmentNames;
  ifName: string;
  netns: string;
  /** The plugin's own pid: `ip ... netns <pid>` moves the host end of the veth into our namespace. */
  pid: number;
  bridgeMac: string;
  ipam?: CniResult;
}

export interface Wiring extends Omit<WiringInput, 'ipam'> {
  addresses: PodAddress[];
  routes: CniRoute[];
  /** Gateway addresses to put on the bridge (isGateway). */
  bridgeAddrs: CIDR[];
}

export function planWiring(i: WiringInput): Wiring {
  const addresses: PodAddress[] = (i.ipam?.ips ?? []).map((ip) => {
    const cidr = parseCIDR(ip.address)!;
    let gateway = ip.gateway ? parseIP(ip.gateway) : undefined;
    // As the reference plugin: a gateway bridge without an IPAM-given gateway uses the subnet's
    // first address.
    if (!gateway && i.conf.isGateway) gateway = addOffset(networkOf(cidr), 1n);
    return { cidr, ...(gateway ? { gateway } : {}) };
  });
  const routes: CniRoute[] = (i.ipam?.routes ?? []).map((r) => ({ ...r }));
  if (i.conf.isDefaultGateway) {
    for (const a of addresses) {
      if (!a.gateway) continue;
      const dst = defaultDst(a.cidr.ip.family);
      if (!routes.some((r) => r.dst === dst)) routes.push({ dst, gw: formatIP(a.gateway) });
    }
  }
  const bridgeAddrs: CIDR[] = i.conf.isGateway
    ? addresses.filter((a) => a.gateway).map((a) => ({ ip: a.gateway!, prefix: a.cidr.prefix }))
    : [];
  return {
    conf: i.conf,
    names: i.names,
    ifName: i.ifName,
    netns: i.netns,
    pid: i.pid,
    bridgeMac: i.bridgeMac,
    addresses,
    routes,
    bridgeAddrs,
  };
}

const familyOf = (dst: string): Family => parseCIDR(dst)!.ip.family;

/** The gateway a route without "gw" goes through: the pod address's gateway of that family. */
export function routeVia(w: Wiring, r: CniRoute): string | undefined {
  if (r.gw) return r.gw;
  const a = w.addresses.find((x) => x.cidr.ip.family === familyOf(r.dst) && x.gateway);
  return a?.gateway ? formatIP(a.gateway) : undefined;
}

/** Inside the pod: create the veth pair (host end straight into our namespace), address it, bring
 * it up, add routes. One `ip -batch` process. */
export function podBatch(w: Wiring): string[] {
  const mtu = w.conf.mtu ? ` mtu ${w.conf.mtu}` : '';
  const podMac = w.conf.mac ?? w.names.containerMac;
  const lines = [
    `link add name ${w.ifName} address ${podMac}${mtu} type veth peer name ${w.names.hostVeth} address ${w.names.hostMac}${mtu} netns ${w.pid}`,
  ];
  for (const a of w.addresses) {
    const nodad = a.cidr.ip.family === 6 && !w.conf.enableDad ? ' nodad' : '';
    lines.push(`addr add ${formatCIDR(a.cidr)} dev ${w.ifName}${nodad}`);
  }
  lines.push(`link set dev ${w.ifName} up`);
  for (const r of w.routes) {
    const via = routeVia(w, r);
    let line = `route add ${r.dst}${via ? ` via ${via}` : ''} dev ${w.ifName}`;
    if (r.mtu) line += ` mtu ${r.mtu}`;
    if (r.advmss) line += ` advmss ${r.advmss}`;
    if (r.priority !== undefined) line += ` metric ${r.priority}`;
    if (r.table !== undefined) line += ` table ${r.table}`;
    if (r.scope !== undefined) line += ` scope ${r.scope}`;
    lines.push(line);
  }
  return lines;
}

/** The host side of the wiring, for cni/link/host.ts. */
export function portPlan(w: Wiring): PortPlan {
  return {
    bridge: w.conf.bridge,
    bridgeMac: w.bridgeMac,
    ...(w.conf.mtu ? { mtu: w.conf.mtu } : {}),
    promisc: w.conf.promiscMode,
    gateways: w.bridgeAddrs,
    port: w.names.hostVeth,
    hairpin: w.conf.hairpinMode,
  };
}

/** Bridge addresses (from `ip -j addr show`) that clash with a gateway: same family, overlapping
 * subnet, different address. With forceAddress they are removed, otherwise ADD fails. */
export function clashingBridgeAddrs(w: Wiring, current: CIDR[]): CIDR[] {
  const out: CIDR[] = [];
  for (const cur of current) {
    if (w.bridgeAddrs.some((b) => b.ip.family === cur.ip.family && b.ip.value === cur.ip.value)) continue;
    const clash = w.bridgeAddrs.some((g) => {
      if (g.ip.family !== cur.ip.family) return false;
      const p = Math.min(g.prefix, cur.prefix);
      return networkOf({ ip: g.ip, prefix: p }).value === networkOf({ ip: cur.ip, prefix: p }).value;
    });
    if (clash && !out.includes(cur)) out.push(cur);
  }
  return out;
}

/** The ADD result: bridge, host veth, pod interface (in that order, as the reference plugin, so
 * chained plugins such as portmap and bandwidth find what they expect), appended to any
 * prevResult. */
export function buildResult(
  w: Wiring,
  cniVersion: string,
  bridgeMac: string,
  dns: CniDNS | undefined,
  prev?: CniResult,
): CniResult {
  const base = prev?.interfaces?.length ?? 0;
  const interfaces: CniInterface[] = [
    ...(prev?.interfaces ?? []),
    { name: w.conf.bridge, mac: bridgeMac },
    { name: w.names.hostVeth, mac: w.names.hostMac },
    {
      name: w.ifName,
      mac: w.conf.mac ?? w.names.containerMac,
      sandbox: w.netns,
      ...(w.conf.mtu ? { mtu: w.conf.mtu } : {}),
    },
  ];
  const ips: CniIPConfig[] = [
    ...(prev?.ips ?? []),
    ...w.addresses.map((a) => ({
      address: formatCIDR(a.cidr),
      ...(a.gateway ? { gateway: formatIP(a.gateway) } : {}),
      interface: base + 2,
    })),
  ];
  const routes = [...(prev?.routes ?? []), ...w.routes];
  const r: CniResult = { cniVersion, interfaces, ips, routes };
  const d = dns ?? prev?.dns;
  if (d) r.dns = d;
  return r;
}
