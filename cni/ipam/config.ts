// kubenode-ipam's configuration: host-local's format (the "ipam" section of the network
// configuration) plus one field of our own:
//
//   "podCIDRFile": "/var/lib/kubenode/podcidr"
//     A file holding the node's podCIDR(s), one CIDR per line (IPv4 and/or IPv6), written by the
//     kubenode agent from the Node's spec.podCIDRs. Each line becomes one range set whose subnet
//     is that CIDR (first address = gateway). Used instead of "ranges"/"subnet"; setting both is
//     an error. Until the file exists, ADD fails with "try again later" (code 11) and STATUS
//     reports the plugin not available (code 50).
//
// Host-local's fields: "ranges" (list of range sets), or the older single-range form ("subnet",
// "rangeStart", "rangeEnd", "gateway" directly in "ipam"); "routes"; "dataDir" (default
// /var/lib/cni/networks); "resolvConf". Requested addresses come, as host-local takes them, from
// CNI_ARGS "IP=", args.cni.ips and runtimeConfig.ips.
// Pure: file contents are passed in by the caller.
import { parseIP, type IP } from '../../lib/ip.js';
import { invalidConfig } from '../spec/errors.js';
import { parseRoute, type CniRoute } from '../spec/result.js';
import { canonicalRangeSet, validateRangeSets, type RangeSet } from './range.js';

export const DEFAULT_DATA_DIR = '/var/lib/cni/networks';

export interface IpamConfig {
  rangeSets: RangeSet[];
  routes: CniRoute[];
  dataDir: string;
  resolvConf?: string;
  podCIDRFile?: string;
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The fields that name files the caller must read before calling parseIpamConfig. */
export function ipamFiles(ipam: Record<string, unknown>): { podCIDRFile?: string; resolvConf?: string } {
  const out: { podCIDRFile?: string; resolvConf?: string } = {};
  for (const k of ['podCIDRFile', 'resolvConf'] as const) {
    const v = ipam[k];
    if (v === undefined || v === null || v === '') continue;
    if (typeof v !== 'string' || !v.startsWith('/'))
      throw invalidConfig(`ipam.${k}`, `${JSON.stringify(v)} must be an absolute path`);
    out[k] = v;
  }
  return out;
}

/** podCIDR file text -> range sets (one per non-empty line; "#" starts a comment). */
export function podCIDRRangeSets(text: string, file: string): RangeSet[] {
  const lines = text
    .split('\n')
    .map((l) => l.replace(/#.*/, '').trim())
    .filter(Boolean);
  if (lines.length === 0) throw invalidConfig('ipam.podCIDRFile', `${file} holds no CIDR`);
  return lines.map((cidr, i) => canonicalRangeSet([{ subnet: cidr }], `ipam.podCIDRFile(${file} line ${i + 1})`));
}

export function parseIpamConfig(ipam: Record<string, unknown>, podCIDRText?: string): IpamConfig {
  const files = ipamFiles(ipam);
  const legacy = ipam.subnet !== undefined;
  const hasRanges = ipam.ranges !== undefined && ipam.ranges !== null;
  if (files.podCIDRFile && (hasRanges || legacy)) {
    throw invalidConfig('ipam.podCIDRFile', 'set either podCIDRFile or ranges/subnet, not both');
  }
  if (hasRanges && legacy) throw invalidConfig('ipam.subnet', 'set either ranges or subnet, not both');
  let rangeSets: RangeSet[];
  if (files.podCIDRFile) {
    rangeSets = podCIDRRangeSets(podCIDRText ?? '', files.podCIDRFile);
  } else if (legacy) {
    rangeSets = [
      canonicalRangeSet(
        [{ subnet: ipam.subnet, rangeStart: ipam.rangeStart, rangeEnd: ipam.rangeEnd, gateway: ipam.gateway }],
        'ipam',
      ),
    ];
  } else if (hasRanges) {
    if (!Array.isArray(ipam.ranges) || ipam.ranges.length === 0)
      throw invalidConfig('ipam.ranges', 'must be a non-empty list of range sets');
    rangeSets = ipam.ranges.map((s, i) => canonicalRangeSet(s, `ipam.ranges[${i}]`));
  } else {
    throw invalidConfig('ipam', 'no addresses to hand out: set "ranges", "subnet" or "podCIDRFile"');
  }
  validateRangeSets(rangeSets, 'ipam.ranges');

  let routes: CniRoute[] = [];
  if (ipam.routes !== undefined && ipam.routes !== null) {
    if (!Array.isArray(ipam.routes)) throw invalidConfig('ipam.routes', 'must be a list');
    routes = ipam.routes.map((r, i) => parseRoute(r, `ipam.routes[${i}]`, invalidConfig));
  }
  let dataDir = DEFAULT_DATA_DIR;
  if (ipam.dataDir !== undefined && ipam.dataDir !== null && ipam.dataDir !== '') {
    if (typeof ipam.dataDir !== 'string' || !ipam.dataDir.startsWith('/'))
      throw invalidConfig('ipam.dataDir', `${JSON.stringify(ipam.dataDir)} must be an absolute path`);
    dataDir = ipam.dataDir;
  }
  return { rangeSets, routes, dataDir, ...files };
}

/** Addresses asked for explicitly: CNI_ARGS IP=a,b; args.cni.ips; runtimeConfig.ips (the "ips"
 * capability). Later sources win, as in host-local. */
export function requestedIPs(
  cniArgs: Record<string, string>,
  args: Record<string, unknown>,
  runtimeConfig: Record<string, unknown>,
): IP[] {
  let list: { v: unknown; field: string }[] = [];
  if (cniArgs.IP) list = cniArgs.IP.split(',').map((v) => ({ v, field: 'CNI_ARGS IP' }));
  const cni = isObj(args.cni) ? args.cni : undefined;
  if (Array.isArray(cni?.ips)) list = cni!.ips.map((v: unknown) => ({ v, field: 'args.cni.ips' }));
  if (Array.isArray(runtimeConfig.ips))
    list = runtimeConfig.ips.map((v: unknown) => ({ v, field: 'runtimeConfig.ips' }));
  return list.map(({ v, field }) => {
    // Accept "10.1.0.5" and "10.1.0.5/24" (the runtime's "ips" capability uses CIDR form).
    const ip = typeof v === 'string' ? parseIP(v.split('/')[0]!) : undefined;
    if (!ip) throw invalidConfig(field, `${JSON.stringify(v)} is not an IP address`);
    return ip;
  });
}
