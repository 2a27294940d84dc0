// Host-side link operations for the bridge plugin, behind one small interface with two
// implementations:
//   iproute2 (default): one `ip -j -force -batch -` process per ADD
//   netlink:            the `netlink` npm package, in-process (KUBENODE_CNI_HOST_LINK=netlink)
// bench/cni-latency measures both; see the README for why iproute2 is the default.
import { formatCIDR, parseIP, type CIDR } from '../../lib/ip.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import { ipBatch, isExists, isNoDevice } from './iproute.js';
import { runSync } from './exec.js';
import type { BridgeState, HostLinks, PortPlan } from './types.js';

/** The iproute2 batch for attachPort. Pure. Line 1 may fail with "File exists". */
export function attachBatch(p: PortPlan): string[] {
  const mtu = p.mtu ? ` mtu ${p.mtu}` : '';
  const lines = [`link add name ${p.bridge} address ${p.bridgeMac}${mtu} type bridge`];
  if (p.promisc) lines.push(`link set dev ${p.bridge} promisc on`);
  for (const g of p.gateways)
    lines.push(`addr replace ${formatCIDR(g)} dev ${p.bridge}${g.ip.family === 6 ? ' nodad' : ''}`);
  lines.push(`link set dev ${p.bridge} up`);
  lines.push(`link set dev ${p.port} master ${p.bridge} up`);
  if (p.hairpin) lines.push(`link set dev ${p.port} type bridge_slave hairpin on`);
  lines.push(`addr show dev ${p.bridge}`);
  return lines;
}

interface IpAddrJson {
  address?: string;
  addr_info?: { family: string; local: string; prefixlen: number; scope?: string }[];
}

/** `ip -j addr show` output -> MAC and global addresses. Pure. */
export function bridgeStateFrom(outputs: unknown[]): BridgeState | undefined {
  const last = outputs[outputs.length - 1];
  const dev = Array.isArray(last) ? (last[0] as IpAddrJson | undefined) : undefined;
  if (!dev?.address) return undefined;
  const addrs: CIDR[] = [];
  for (const a of dev.addr_info ?? []) {
    if (a.scope === 'link') continue;
    const ip = parseIP(a.local);
    if (ip) addrs.push({ ip, prefix: a.prefixlen });
  }
  return { mac: dev.address, addrs };
}

export const iproute2HostLinks: HostLinks = {
  async attachPort(p) {
    const lines = attachBatch(p);
    const r = ipBatch(lines, { json: true, force: true });
    const fatal = r.failures.filter((f) => !(f.line === 1 && isExists(f)));
    if (fatal.length || r.otherErrors) {
      const what = fatal.map((f) => `"${lines[f.line - 1]}": ${f.message}`).join('; ') || r.otherErrors;
      throw new CniError(ErrorCode.Internal, `failed to attach ${p.port} to bridge ${p.bridge}`, what);
    }
    const state = bridgeStateFrom(r.outputs);
    if (!state)
      throw new CniError(ErrorCode.Internal, `failed to read bridge ${p.bridge}`, 'ip addr show printed nothing');
    return state;
  },
  async deleteAddrs(bridge, addrs) {
    if (!addrs.length) return;
    const r = ipBatch(
      addrs.map((a) => `addr del ${formatCIDR(a)} dev ${bridge}`),
      { force: true },
    );
    if (!r.ok)
      throw new CniError(
        ErrorCode.Internal,
        `failed to remove old addresses from ${bridge}`,
        r.failures.map((f) => f.message).join('; ') || r.otherErrors,
      );
  },
  async deleteLink(name) {
    const r = runSync('ip', ['link', 'del', 'dev', name], { allowFailure: true });
    if (r.code === 0) return true;
    if (isNoDevice(r.stderr)) return false;
    throw new CniError(ErrorCode.Internal, `failed to delete ${name}`, r.stderr.trim());
  },
};

export async function hostLinks(env: NodeJS.ProcessEnv = process.env): Promise<HostLinks> {
  if (env.KUBENODE_CNI_HOST_LINK === 'netlink') return (await import('./host-netlink.js')).netlinkHostLinks();
  return iproute2HostLinks;
}
