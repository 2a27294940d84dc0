// CHECK: is the attachment still as ADD left it? Compared against prevResult (SPEC.md: "the
// plugin must consult the prevResult"): the pod interface exists with its MAC and addresses, the
// routes we added are there (later plugins may add more), the host end is on the bridge (with
// hairpin), the IPAM reservation and the ipMasq chain exist.
import { canonicalNetwork, defaultDst, parseCIDR, parseIP, sameIP, type Family } from '../../lib/ip.js';
import { runSync } from '../link/exec.js';
import { ipBatch } from '../link/iproute.js';
import { requireNetns } from '../link/netns.js';
import type { CommandContext } from '../skel/skel.js';
import { CniError, ErrorCode, invalidConfig } from '../spec/errors.js';
import type { CniResult } from '../spec/result.js';
import { parseBridgeConf } from './config.js';
import { masqChainExists } from './firewall.js';
import { ipamClient } from './ipam-client.js';
import { attachmentNames } from './names.js';

interface AddrShow {
  address?: string;
  flags?: string[];
  addr_info?: { family: string; local: string; prefixlen: number }[];
}
interface RouteShow {
  dst: string;
  gateway?: string;
  dev?: string;
}
interface LinkShow {
  ifname: string;
  master?: string;
  linkinfo?: { info_slave_kind?: string; info_slave_data?: { hairpin?: boolean } };
}

const failed = (what: string, details: string) => new CniError(ErrorCode.Internal, `CHECK failed: ${what}`, details);

/** Compare the pod's observed state with what the result says we configured. Pure. */
export function podStateProblems(
  result: CniResult,
  podIndex: number,
  ifName: string,
  addr: AddrShow | undefined,
  routes: RouteShow[],
): string[] {
  const problems: string[] = [];
  const iface = result.interfaces![podIndex]!;
  if (!addr) return [`interface ${ifName} is missing`];
  if (iface.mac && addr.address?.toLowerCase() !== iface.mac.toLowerCase())
    problems.push(`${ifName} has MAC ${addr.address}, expected ${iface.mac}`);
  if (addr.flags && !addr.flags.includes('UP')) problems.push(`${ifName} is down`);
  for (const ip of result.ips ?? []) {
    if (ip.interface !== podIndex) continue;
    const want = parseCIDR(ip.address)!;
    const have = (addr.addr_info ?? []).some((a) => {
      const got = parseIP(a.local);
      return got && sameIP(got, want.ip) && a.prefixlen === want.prefix;
    });
    if (!have) problems.push(`${ifName} lacks address ${ip.address}`);
  }
  const norm = (dst: string, fam: Family) =>
    dst === 'default'
      ? defaultDst(fam)
      : dst.includes('/')
        ? canonicalNetwork(parseCIDR(dst)!)
        : `${dst}/${fam === 4 ? 32 : 128}`;
  for (const r of result.routes ?? []) {
    const cidr = parseCIDR(r.dst)!;
    const fam = cidr.ip.family;
    const want = canonicalNetwork(cidr);
    const found = routes.some((o) => {
      if (!o.dst || (o.dev && o.dev !== ifName)) return false;
      const od = parseIP(o.dst === 'default' ? (fam === 4 ? '0.0.0.0' : '::') : o.dst.split('/')[0]!);
      if (!od || od.family !== fam || norm(o.dst, fam) !== want) return false;
      return !r.gw || (o.gateway !== undefined && sameIP(parseIP(o.gateway)!, parseIP(r.gw)!));
    });
    if (!found) problems.push(`route to ${r.dst}${r.gw ? ` via ${r.gw}` : ''} is missing`);
  }
  return problems;
}

export async function cmdCheck(ctx: CommandContext): Promise<void> {
  const { env, conf: netconf } = ctx;
  const conf = parseBridgeConf(netconf, env.args);
  const prev = netconf.prevResult;
  if (!prev) throw invalidConfig('prevResult', 'CHECK needs the result of the ADD as prevResult');
  requireNetns(env.netns);
  const names = attachmentNames(netconf.name, env.containerId, env.ifName);

  const ipam = ipamClient(ctx);
  if (ipam) await ipam.check();

  const podIndex = (prev.interfaces ?? []).findIndex((i) => i.name === env.ifName && i.sandbox === env.netns);
  if (podIndex < 0)
    throw failed('interface not in prevResult', `prevResult has no interface ${env.ifName} in sandbox ${env.netns}`);
  // Only the part of prevResult that belongs to our interface is ours to check.
  const ours: CniResult = {
    ...prev,
    routes: (prev.routes ?? []).filter((r) =>
      (prev.ips ?? []).some(
        (ip) => ip.interface === podIndex && parseCIDR(ip.address)!.ip.family === parseCIDR(r.dst)!.ip.family,
      ),
    ),
  };
  const pod = ipBatch([`addr show dev ${env.ifName}`, 'route show'], { netns: env.netns, json: true });
  const addr = pod.ok ? (pod.outputs[0] as AddrShow[] | undefined)?.[0] : undefined;
  let routes = (pod.outputs[1] as RouteShow[] | undefined) ?? [];
  if (ours.routes!.some((r) => parseCIDR(r.dst)!.ip.family === 6)) {
    const r6 = runSync('nsenter', [`--net=${env.netns}`, '--', 'ip', '-6', '-j', 'route', 'show'], {
      allowFailure: true,
    });
    try {
      routes = routes.concat(JSON.parse(r6.stdout || '[]') as RouteShow[]);
    } catch {
      /* reported as missing routes */
    }
  }
  const problems = podStateProblems(ours, podIndex, env.ifName, addr, routes);

  const host = ipBatch([`link show dev ${names.hostVeth}`], { json: true, details: true });
  const port = host.ok ? (host.outputs[0] as LinkShow[] | undefined)?.[0] : undefined;
  if (!port) problems.push(`host interface ${names.hostVeth} is missing`);
  else {
    if (port.master !== conf.bridge) problems.push(`${names.hostVeth} is not attached to bridge ${conf.bridge}`);
    if (conf.hairpinMode && port.linkinfo?.info_slave_data?.hairpin !== true)
      problems.push(`${names.hostVeth} does not have hairpin mode on`);
  }
  if (conf.ipMasq) {
    const fams = new Set(
      (prev.ips ?? []).filter((i) => i.interface === podIndex).map((i) => parseCIDR(i.address)!.ip.family),
    );
    for (const f of fams)
      if (!masqChainExists(names.masqChain, f)) problems.push(`ipMasq chain ${names.masqChain} is missing (IPv${f})`);
  }
  if (problems.length) throw failed(problems[0]!, problems.join('; '));
}
