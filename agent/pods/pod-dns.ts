// The pod's resolver and hosts files, written into its directory for every container to bind,
// and the hostname its sandbox gets: the thin apply step around network/dns.ts and
// network/etc-hosts.ts (which decide). kubelet writes pods/<uid>/etc-hosts itself; its CRI
// runtime writes resolv.conf from the sandbox's DNS config. Here the agent does both.
import { readFile } from 'node:fs/promises';
import type { V1Pod } from '@kubernetes/client-node';
import { parseResolvConf, planPodDNS, renderResolvConf, type ResolvConf } from '../network/dns.js';
import {
  hostNetworkHostsFile,
  managedHostsFile,
  nodenameForKernel,
  podHostnameAndDomain,
} from '../network/etc-hosts.js';
import { podRef } from '../events/types.js';
import type { PodContext } from './context.js';
import type { PodState } from './pod-state.js';
import { errorMessage } from '../../lib/errors.js';

/** Where the node's own hosts file is (what host-network pods see, under kubelet's header). */
const NODE_HOSTS_FILE = '/etc/hosts';

async function readNodeResolvConf(path: string): Promise<ResolvConf | undefined> {
  if (path === '') return undefined;
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    throw new Error(`reading --resolv-conf ${path}: ${errorMessage(e)}`);
  }
  return parseResolvConf(text, path);
}

/**
 * The hostname the sandbox (and so every container sharing its UTS namespace) gets; undefined
 * for a host-network pod, which keeps the node's. Throws with the field when it cannot be made.
 */
export function sandboxHostname(ctx: PodContext, pod: V1Pod): string | undefined {
  if (pod.spec?.hostNetwork) return undefined;
  return nodenameForKernel(pod, podHostnameAndDomain(pod, ctx.dns.clusterDomain));
}

/**
 * Plan and write pods/<uid>/resolv.conf; its path. Done when the sandbox is made (the settings
 * are fixed for the sandbox's life, as a CRI runtime's are), and again if the file went missing.
 */
export async function writeResolvConf(ctx: PodContext, state: PodState): Promise<string> {
  const pod = state.pod;
  const plan = planPodDNS(pod, {
    clusterDNS: ctx.dns.clusterDNS,
    clusterDomain: ctx.dns.clusterDomain,
    host: await readNodeResolvConf(ctx.dns.resolvConf),
    nodeIPs: ctx.hostIPs,
  });
  for (const e of plan.events) {
    ctx.recorder.event(
      podRef(pod),
      'Warning',
      e.reason,
      e.reason === 'MissingClusterDNS'
        ? `pod: "${pod.metadata?.name}_${pod.metadata?.namespace}(${pod.metadata?.uid})". ${e.message}`
        : e.message,
      { repeatAfterMs: 60_000 },
    );
    state.log.warn('pod DNS settings trimmed or fell back', { reason: e.reason, message: e.message });
  }
  return ctx.volumes.writePodFile(state.uid, 'resolv.conf', renderResolvConf(plan.config));
}

/** The resolv.conf a container binds: the one written with the sandbox, else written now. */
export async function resolvConfFor(ctx: PodContext, state: PodState): Promise<string> {
  return (await ctx.volumes.existingPodFile(state.uid, 'resolv.conf')) ?? writeResolvConf(ctx, state);
}

/**
 * Plan and write pods/<uid>/etc-hosts; its path. Rewritten before each container starts, as
 * kubelet's makeMounts does (the pod's IPs are known by then).
 */
export async function writeHostsFile(ctx: PodContext, state: PodState): Promise<string> {
  const pod = state.pod;
  let content: string;
  if (pod.spec?.hostNetwork) {
    content = hostNetworkHostsFile(await readFile(NODE_HOSTS_FILE, 'utf8'), pod.spec.hostAliases);
  } else {
    content = managedHostsFile(state.podIPs, podHostnameAndDomain(pod, ctx.dns.clusterDomain), pod.spec?.hostAliases);
  }
  return ctx.volumes.writePodFile(state.uid, 'etc-hosts', content);
}
