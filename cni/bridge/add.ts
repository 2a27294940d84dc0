// ADD: connect a pod's network namespace to the node's bridge.
//   1. validate everything we can before touching anything (config, CNI_NETNS)
//   2. IPAM (in-process or delegated) -> addresses, gateways, routes
//   3. pod side, one `ip -batch` inside the namespace: veth pair created there with its host end
//      sent straight to our namespace, address, up, routes
//   4. host side: bridge ensured (gateway address, up), veth attached, hairpin
//   5. ipMasq rules, one iptables-restore
// Any failure undoes what this ADD did, newest first (veth, rules, addresses), as the reference
// plugin's cmdAdd does, so a failed ADD leaves nothing behind.
import { writeSync } from 'node:fs';
import { formatCIDR, type Family } from '../../lib/ip.js';
import { hostLinks } from '../link/host.js';
import { ipBatch, isExists } from '../link/iproute.js';
import { requireNetns } from '../link/netns.js';
import { enableForwarding } from '../link/sysctl.js';
import type { CommandContext } from '../skel/skel.js';
import { trace } from '../skel/trace.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import type { CniResult } from '../spec/result.js';
import { parseBridgeConf } from './config.js';
import { installMasq, removeMasq } from './firewall.js';
import { ipamClient } from './ipam-client.js';
import { attachmentNames, bridgeMac } from './names.js';
import { buildResult, clashingBridgeAddrs, planWiring, podBatch, portPlan } from './plan.js';
import { errorMessage } from '../../lib/errors.js';

export async function cmdAdd(ctx: CommandContext): Promise<CniResult> {
  const { env, conf: netconf } = ctx;
  const conf = parseBridgeConf(netconf, env.args);
  requireNetns(env.netns);
  const names = attachmentNames(netconf.name, env.containerId, env.ifName);
  const ipam = ipamClient(ctx);
  const links = await hostLinks();
  const undo: { what: string; fn: () => Promise<void> | void }[] = [];

  try {
    let ipamResult: CniResult | undefined;
    if (ipam) {
      const r = await ipam.add();
      ipamResult = r.result;
      if (r.created) undo.push({ what: `release addresses (${ipam.type})`, fn: () => ipam.del() });
    }
    trace('IPAM done');
    const w = planWiring({
      conf,
      names,
      ifName: env.ifName,
      netns: env.netns,
      pid: process.pid,
      bridgeMac: bridgeMac(conf.bridge, `${process.pid}-${Date.now()}`),
      ipam: ipamResult,
    });
    const families = new Set<Family>(w.addresses.map((a) => a.cidr.ip.family));
    if (conf.isGateway) enableForwarding(families);

    const podLines = podBatch(w);
    const pod = ipBatch(podLines, { netns: env.netns });
    if (!pod.ok) {
      const first = pod.failures[0];
      if (!first || first.line > 1)
        undo.push({
          what: `delete ${names.hostVeth}`,
          fn: async () => {
            await links.deleteLink(names.hostVeth);
          },
        });
      if (first?.line === 1 && isExists(first)) {
        throw new CniError(
          ErrorCode.Internal,
          `interface ${env.ifName} already exists`,
          `container ${env.containerId}: ${env.ifName} exists in ${env.netns}, or host interface ${names.hostVeth} exists (an earlier attachment was not deleted)`,
        );
      }
      const what = first ? `"${podLines[first.line - 1]}": ${first.message}` : pod.otherErrors;
      throw new CniError(ErrorCode.Internal, `failed to set up ${env.ifName} in the pod network namespace`, what);
    }
    undo.push({
      what: `delete ${names.hostVeth}`,
      fn: async () => {
        await links.deleteLink(names.hostVeth);
      },
    });

    let bridge = await links.attachPort(portPlan(w));
    const clash = clashingBridgeAddrs(w, bridge.addrs);
    if (clash.length) {
      if (!conf.forceAddress) {
        throw new CniError(
          ErrorCode.Internal,
          `bridge ${conf.bridge} already has a different address`,
          `${clash.map(formatCIDR).join(', ')} on ${conf.bridge} overlaps gateway ${w.bridgeAddrs.map(formatCIDR).join(', ')}; set "forceAddress": true to replace it`,
        );
      }
      await links.deleteAddrs(conf.bridge, clash);
      bridge = { ...bridge, addrs: bridge.addrs.filter((a) => !clash.includes(a)) };
    }

    if (conf.ipMasq && w.addresses.length) {
      undo.push({
        what: `remove chain ${names.masqChain}`,
        fn: () => removeMasq(new Set([names.masqChain]), families),
      });
      installMasq({ chain: names.masqChain, comment: names.masqComment, addresses: w.addresses.map((a) => a.cidr) });
    }
    return buildResult(w, netconf.cniVersion, bridge.mac, netconf.dns ?? ipamResult?.dns, netconf.prevResult);
  } catch (e) {
    for (const u of undo.reverse()) {
      try {
        await u.fn();
      } catch (ue) {
        // The original error is what the runtime needs; the failed undo goes to the log.
        writeSync(
          2,
          JSON.stringify({
            level: 'error',
            component: 'kubenode-bridge',
            msg: `rollback step failed: ${u.what}`,
            error: errorMessage(ue),
          }) + '\n',
        );
      }
    }
    throw e;
  }
}
