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
import type { BridgeState, HostLinks } from '../link/types.js';
import { hostLinks } from '../link/host.js';
import { ipBatch, isExists } from '../link/iproute.js';
import { requireNetns } from '../link/netns.js';
import { enableForwarding } from '../link/sysctl.js';
import type { PluginEnv } from '../skel/env.js';
import type { CommandContext } from '../skel/skel.js';
import { trace } from '../skel/trace.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import type { CniResult } from '../spec/result.js';
import { type BridgeConf, parseBridgeConf } from './config.js';
import { installMasq, removeMasq } from './firewall.js';
import { type IpamClient, ipamClient } from './ipam-client.js';
import { type AttachmentNames, attachmentNames, bridgeMac } from './names.js';
import { buildResult, clashingBridgeAddrs, planWiring, podBatch, portPlan, type Wiring } from './plan.js';
import { errorMessage } from '../../lib/errors.js';

/** What an ADD has done so far, to be undone newest first if a later step fails. */
type UndoList = { what: string; fn: () => Promise<void> | void }[];

export async function cmdAdd(ctx: CommandContext): Promise<CniResult> {
  // 1. validate.
  const { env, conf: netconf } = ctx;
  const conf = parseBridgeConf(netconf, env.args);
  requireNetns(env.netns);
  const names = attachmentNames(netconf.name, env.containerId, env.ifName);
  const ipam = ipamClient(ctx);
  const links = await hostLinks();
  const undo: UndoList = [];

  try {
    // 2. IPAM.
    const ipamResult = ipam ? await allocateAddresses(ipam, undo) : undefined;
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

    // 3. pod side.
    setUpPodSide(w, env, names, links, undo);
    // 4. host side.
    const bridge = await setUpHostSide(w, conf, links);
    // 5. ipMasq.
    if (conf.ipMasq && w.addresses.length) {
      undo.push({
        what: `remove chain ${names.masqChain}`,
        fn: () => removeMasq(new Set([names.masqChain]), families),
      });
      installMasq({ chain: names.masqChain, comment: names.masqComment, addresses: w.addresses.map((a) => a.cidr) });
    }
    return buildResult(w, netconf.cniVersion, bridge.mac, netconf.dns ?? ipamResult?.dns, netconf.prevResult);
  } catch (e) {
    await rollBack(undo);
    throw e;
  }
}

/** Step 2: addresses from the IPAM plugin; released on failure only if this ADD allocated them. */
async function allocateAddresses(ipam: IpamClient, undo: UndoList): Promise<CniResult> {
  const r = await ipam.add();
  if (r.created) undo.push({ what: `release addresses (${ipam.type})`, fn: () => ipam.del() });
  return r.result;
}

/** Step 3: the veth pair, addresses and routes, one `ip -batch` inside the pod's namespace. */
function setUpPodSide(w: Wiring, env: PluginEnv, names: AttachmentNames, links: HostLinks, undo: UndoList): void {
  const deleteHostVeth = {
    what: `delete ${names.hostVeth}`,
    fn: async () => {
      await links.deleteLink(names.hostVeth);
    },
  };
  const podLines = podBatch(w);
  const pod = ipBatch(podLines, { netns: env.netns });
  if (!pod.ok) {
    const first = pod.failures[0];
    // Line 1 creates the pair: if it failed, the host end is not ours to delete.
    if (!first || first.line > 1) undo.push(deleteHostVeth);
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
  undo.push(deleteHostVeth);
}

/** Step 4: the bridge ensured and the host end attached; a clashing bridge address replaced only with forceAddress. */
async function setUpHostSide(w: Wiring, conf: BridgeConf, links: HostLinks): Promise<BridgeState> {
  const bridge = await links.attachPort(portPlan(w));
  const clash = clashingBridgeAddrs(w, bridge.addrs);
  if (!clash.length) return bridge;
  if (!conf.forceAddress) {
    throw new CniError(
      ErrorCode.Internal,
      `bridge ${conf.bridge} already has a different address`,
      `${clash.map(formatCIDR).join(', ')} on ${conf.bridge} overlaps gateway ${w.bridgeAddrs.map(formatCIDR).join(', ')}; set "forceAddress": true to replace it`,
    );
  }
  await links.deleteAddrs(conf.bridge, clash);
  return { ...bridge, addrs: bridge.addrs.filter((a) => !clash.includes(a)) };
}

/** Undo what this ADD did, newest first; a failed undo is logged and the next one still runs. */
async function rollBack(undo: UndoList): Promise<void> {
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
}
