// host-gw routing, the pure part: Node objects in, the routes this machine should have out.
//
// Every node owns a pod CIDR (spec.podCIDR, allocated by kube-controller-manager with
// --allocate-node-cidrs). When all nodes share one L2 network, a pod on node A reaches a pod on
// node B if A routes B's pod CIDR via B's InternalIP; no encapsulation. This is flannel's
// "host-gw" backend and what kube-controller-manager's route controller asks a cloud for
// (pkg/controller/route/route_controller.go reconciles "one route per node CIDR, via the node").
//
// The same planner serves two places: a node (nodeName set: every *other* node is routed) and
// the machine hosting emulated nodes (no nodeName: every node is routed, so the host reaches pods).
import type { V1Node } from '@kubernetes/client-node';
import {
  contains,
  covers,
  formatCIDR,
  formatIP,
  type IP,
  networkOf,
  overlaps,
  parseCIDR,
  parseIPv4,
  parseIPv4Network,
  type CIDR,
} from '../lib/ip.js';

/** An address this machine holds, with its prefix length: "192.168.56.11/24" on "eth0". */
export interface LocalAddress {
  interface: string;
  cidr: string;
}

/** A route to a pod CIDR via a node's address, out of the interface on that node's network. */
export interface Route {
  dst: string;
  via: string;
  dev: string;
}

export interface HostGwOptions {
  /** This node's name: its own pod CIDR is local (the CNI bridge serves it), never routed. */
  nodeName?: string;
  /** Only pod CIDRs inside it are routed, and only routes inside it are ever removed. */
  clusterCIDR?: string;
  local: LocalAddress[];
}

/** Why a node got no route. "waiting" is normal (no pod CIDR or address yet); the others are bad input or conflicts. */
export interface SkippedNode {
  node: string;
  kind: 'waiting' | 'invalid' | 'unreachable' | 'conflict' | 'unsupported';
  field?: string;
  reason: string;
}

export interface DesiredRoutes {
  routes: Route[];
  skipped: SkippedNode[];
}

function podCIDRsOf(node: V1Node): { field: string; value: string }[] {
  const list = node.spec?.podCIDRs;
  if (list && list.length > 0) return list.map((value, i) => ({ field: `spec.podCIDRs[${i}]`, value }));
  return node.spec?.podCIDR ? [{ field: 'spec.podCIDR', value: node.spec.podCIDR }] : [];
}

function internalIPv4s(node: V1Node): { field: string; ip: IP }[] {
  const out: { field: string; ip: IP }[] = [];
  (node.status?.addresses ?? []).forEach((a, i) => {
    if (a.type !== 'InternalIP') return;
    const ip = parseIPv4(a.address);
    if (ip !== undefined) out.push({ field: `status.addresses[${i}]`, ip });
  });
  return out;
}

interface LocalNet {
  dev: string;
  addr: IP;
  net: CIDR;
}

function localNetworks(local: LocalAddress[]): LocalNet[] {
  const out: LocalNet[] = [];
  for (const l of local) {
    const c = parseCIDR(l.cidr);
    // A /32 holds no neighbours: nothing is directly reachable through it.
    if (c && c.ip.family === 4 && c.prefix < 32)
      out.push({ dev: l.interface, addr: c.ip, net: { ip: networkOf(c), prefix: c.prefix } });
  }
  return out;
}

/** One sync's working state: what is known about this machine, and what has been decided so far. */
interface RoutePlan {
  cluster?: CIDR;
  nets: LocalNet[];
  localAddrs: Set<bigint>;
  /** Pod CIDRs already claimed, by this node or by a node routed earlier in name order. */
  claimed: { node: string; prefix: CIDR }[];
  routes: Route[];
  skipped: SkippedNode[];
}

interface PodCIDR {
  field: string;
  prefix: CIDR;
}

interface Gateway {
  ip: IP;
  dev: string;
}

/** The routes this machine should have, one per other node's IPv4 pod CIDR. */
export function desiredRoutes(nodes: readonly V1Node[], opts: HostGwOptions): DesiredRoutes {
  const cluster = opts.clusterCIDR === undefined ? undefined : parseIPv4Network(opts.clusterCIDR);
  if (opts.clusterCIDR !== undefined && !cluster)
    throw new Error(`cluster CIDR "${opts.clusterCIDR}" is not an IPv4 CIDR like 10.244.0.0/16`);
  const nets = localNetworks(opts.local);
  const plan: RoutePlan = {
    cluster,
    nets,
    localAddrs: new Set(nets.map((n) => n.addr.value)),
    claimed: [],
    routes: [],
    skipped: [],
  };

  // Pod CIDRs already claimed: this node's own first (never routed, but nobody may overlap
  // it), then other nodes in name order, so a conflict always resolves the same way.
  const sorted = [...nodes].sort((a, b) => (a.metadata?.name ?? '').localeCompare(b.metadata?.name ?? ''));
  const self = sorted.find((n) => opts.nodeName !== undefined && n.metadata?.name === opts.nodeName);
  if (self) {
    for (const c of podCIDRsOf(self)) {
      const p = parseIPv4Network(c.value);
      if (p) plan.claimed.push({ node: opts.nodeName!, prefix: p });
    }
  }

  for (const node of sorted) {
    const name = node.metadata?.name ?? '';
    if (name === opts.nodeName) continue;
    const cidrs = ipv4PodCIDRs(plan, name, node);
    if (!cidrs) continue;
    const gateway = gatewayTo(plan, name, node);
    if (!gateway) continue;
    for (const c of cidrs) routePodCIDR(plan, name, c, gateway);
  }
  return { routes: plan.routes, skipped: plan.skipped };
}

/** The node's IPv4 pod CIDRs; undefined (and the reason in plan.skipped) if it gets no route. */
function ipv4PodCIDRs(plan: RoutePlan, name: string, node: V1Node): PodCIDR[] | undefined {
  const cidrs = podCIDRsOf(node);
  if (cidrs.length === 0) {
    plan.skipped.push({ node: name, kind: 'waiting', field: 'spec.podCIDR', reason: 'no pod CIDR allocated yet' });
    return undefined;
  }
  const v4: PodCIDR[] = [];
  let bad = false;
  for (const c of cidrs) {
    if (c.value.includes(':')) {
      plan.skipped.push({
        node: name,
        kind: 'unsupported',
        field: c.field,
        reason: `${c.value} is IPv6; host-gw routes IPv4 pod CIDRs only`,
      });
      continue;
    }
    const p = parseIPv4Network(c.value);
    if (!p) {
      plan.skipped.push({ node: name, kind: 'invalid', field: c.field, reason: `"${c.value}" is not an IPv4 CIDR` });
      bad = true;
      continue;
    }
    v4.push({ field: c.field, prefix: p });
  }
  return bad || v4.length === 0 ? undefined : v4;
}

/** The node's InternalIP to route through, and the local interface that reaches it. */
function gatewayTo(plan: RoutePlan, name: string, node: V1Node): Gateway | undefined {
  const all = internalIPv4s(node);
  if (all.length === 0) {
    plan.skipped.push({ node: name, kind: 'waiting', field: 'status.addresses', reason: 'no IPv4 InternalIP yet' });
    return undefined;
  }
  // An address this machine holds itself cannot be a gateway (every Vagrant VM has 10.0.2.15
  // on its NAT interface, for one); another InternalIP of the node may still serve.
  const ips = all.filter((i) => !plan.localAddrs.has(i.ip.value));
  if (ips.length === 0) {
    plan.skipped.push({
      node: name,
      kind: 'conflict',
      field: 'status.addresses',
      reason: `its InternalIP ${all.map((i) => formatIP(i.ip)).join(', ')} is an address of this machine`,
    });
    return undefined;
  }
  // The first InternalIP on a network this machine is directly attached to is the gateway.
  for (const i of ips) {
    const n = plan.nets.find((l) => contains(l.net, i.ip));
    if (n) return { ip: i.ip, dev: n.dev };
  }
  plan.skipped.push({
    node: name,
    kind: 'unreachable',
    field: 'status.addresses',
    reason: `InternalIP ${ips.map((i) => formatIP(i.ip)).join(', ')} is not on a network directly attached here; host-gw needs all nodes on one L2 network`,
  });
  return undefined;
}

/** Routes one pod CIDR via the gateway, unless it lies outside the cluster CIDR or overlaps a network or another node's CIDR. */
function routePodCIDR(plan: RoutePlan, name: string, c: PodCIDR, gateway: Gateway): void {
  if (plan.cluster && !covers(plan.cluster, c.prefix)) {
    plan.skipped.push({
      node: name,
      kind: 'invalid',
      field: c.field,
      reason: `${formatCIDR(c.prefix)} is outside the cluster CIDR ${formatCIDR(plan.cluster)}`,
    });
    return;
  }
  if (plan.nets.some((l) => overlaps(l.net, c.prefix))) {
    plan.skipped.push({
      node: name,
      kind: 'conflict',
      field: c.field,
      reason: `${formatCIDR(c.prefix)} overlaps a network attached to this machine`,
    });
    return;
  }
  const clash = plan.claimed.find((x) => overlaps(x.prefix, c.prefix));
  if (clash) {
    plan.skipped.push({
      node: name,
      kind: 'conflict',
      field: c.field,
      reason: `${formatCIDR(c.prefix)} overlaps ${formatCIDR(clash.prefix)} of node ${clash.node}`,
    });
    return;
  }
  plan.claimed.push({ node: name, prefix: c.prefix });
  plan.routes.push({ dst: formatCIDR(c.prefix), via: formatIP(gateway.ip), dev: gateway.dev });
}

export interface RouteSync {
  /** Routes to install or correct (`ip route replace`). */
  replace: Route[];
  /** Routes we installed earlier that no node asks for any more. */
  remove: Route[];
}

const sameRoute = (a: Route, b: Route) => a.dst === b.dst && a.via === b.via && a.dev === b.dev;

/**
 * What to change so that `actual` (the routes carrying our protocol mark) becomes `desired`.
 * Routes outside the cluster CIDR are never removed: they are not ours to judge.
 */
export function planRouteSync(desired: readonly Route[], actual: readonly Route[], clusterCIDR?: string): RouteSync {
  const cluster = clusterCIDR === undefined ? undefined : parseIPv4Network(clusterCIDR);
  const mine = actual.filter((r) => {
    if (!cluster) return true;
    const p = parseIPv4Network(r.dst);
    return p !== undefined && covers(cluster, p);
  });
  const replace = desired.filter((d) => !mine.some((a) => sameRoute(a, d)));
  const remove = mine.filter((a) => !desired.some((d) => d.dst === a.dst));
  return { replace, remove };
}

/**
 * The `ip -batch` input for a sync: one line per route, each marked with our route protocol so
 * that the next sync (and `--cleanup`) can tell our routes from everyone else's.
 */
export function batchInput(sync: RouteSync, protocol: number): string {
  const lines: string[] = [];
  for (const r of sync.remove) lines.push(`route del ${r.dst} via ${r.via} dev ${r.dev} proto ${protocol}`);
  for (const r of sync.replace) lines.push(`route replace ${r.dst} via ${r.via} dev ${r.dev} proto ${protocol}`);
  return lines.length ? lines.join('\n') + '\n' : '';
}
