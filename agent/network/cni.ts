// The runtime side of CNI for the agent (the interface the pod workers use): run the
// node's network configuration list for a pod sandbox, the way libcni does for kubelet and
// containerd (SPEC.md section 3):
//   ADD   plugins in order, each given the previous one's result as prevResult; the final result
//         cached; on failure the chain is DELeted again so nothing is left half-done
//   DEL   plugins in reverse, with the cached configuration and result; idempotent
//   CHECK plugins in order with the cached result (skipped when disableCheck or before 0.4.0)
//   STATUS for 1.1.0 configurations; GC with the list of attachments still valid
// Capability arguments (portMappings, bandwidth) go into runtimeConfig only for plugins that
// declare the capability.
import { existsSync } from 'node:fs';
import { createLogger, type Logger } from '../../lib/log.js';
import { ResultCache, type CachedAttachment } from './cache.js';
import {
  compareVersions,
  loadNetwork,
  NoNetworkConfigError,
  noNetworkMessage,
  parseConfig,
  type NetworkConfigList,
  type PluginConf,
} from './conflist.js';
import { GcGate } from './gc-gate.js';
import { findPlugin, invokePlugin, requestConfig, type Invocation } from './invoke.js';
import { errorMessage } from '../../lib/errors.js';

export { CniPluginError } from './invoke.js';

export interface PodNetworkRequest {
  containerId: string;
  netnsPath: string;
  ifName?: string;
  podName: string;
  podNamespace: string;
  podUid: string;
  portMappings?: { hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' | 'sctp'; hostIP?: string }[];
  bandwidth?: { ingressRate?: number; ingressBurst?: number; egressRate?: number; egressBurst?: number };
}

export interface ValidAttachment {
  containerId: string;
  ifName?: string;
}

export interface PodNetworkStatus {
  ips: string[];
  interfaceName: string;
  result: unknown;
}

export interface CniNetworkOptions {
  confDir: string;
  binDirs: string[];
  cacheDir: string;
  logger?: Logger;
}

const atLeast = (v: string, min: string) => compareVersions(v, min) >= 0;

/** CNI_ARGS as kubelet passes them. */
export function cniArgs(req: PodNetworkRequest): [string, string][] {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', req.podNamespace],
    ['K8S_POD_NAME', req.podName],
    ['K8S_POD_INFRA_CONTAINER_ID', req.containerId],
    ['K8S_POD_UID', req.podUid],
  ];
}

/** The capability arguments this request carries. */
export function capabilityArgs(req: PodNetworkRequest): Record<string, unknown> {
  const c: Record<string, unknown> = {};
  if (req.portMappings?.length)
    c.portMappings = req.portMappings.map((p) => ({ ...p, protocol: p.protocol.toLowerCase() }));
  if (req.bandwidth && Object.keys(req.bandwidth).length) c.bandwidth = { ...req.bandwidth };
  return c;
}

/** runtimeConfig for one plugin: the capabilities it declares and we have. Pure. */
export function runtimeConfigFor(plugin: PluginConf, caps: Record<string, unknown>): Record<string, unknown> {
  const rc: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(caps)) if (plugin.capabilities?.[k] === true) rc[k] = v;
  return rc;
}

/** The pod's addresses from a result: those on its interface inside the sandbox (or on no
 * interface in particular), not those of host-side interfaces. Pure. */
export function podIPs(result: unknown, ifName: string): string[] {
  const r = result as
    | { interfaces?: { name: string; sandbox?: string }[]; ips?: { address: string; interface?: number }[] }
    | undefined;
  const ifs = r?.interfaces ?? [];
  const inPod = (i: number) => !!ifs[i]?.sandbox && ifs[i]?.name === ifName;
  return (r?.ips ?? [])
    .filter((ip) => ip.interface === undefined || inPod(ip.interface))
    .map((ip) => ip.address.split('/')[0]!);
}

export class CniNetwork {
  private readonly log: Logger;
  private readonly cache: ResultCache;
  private readonly gate = new GcGate();

  constructor(private readonly opts: CniNetworkOptions) {
    this.log = opts.logger ?? createLogger('cni');
    this.cache = new ResultCache(opts.cacheDir);
  }

  private async network(): Promise<NetworkConfigList> {
    const { network, skipped } = await loadNetwork(this.opts.confDir);
    for (const s of skipped) this.log.warn('skipping CNI configuration file', { file: s.file, reason: s.reason });
    if (!network) {
      const message = noNetworkMessage(this.opts.confDir, skipped);
      throw skipped.length ? new Error(message) : new NoNetworkConfigError(message);
    }
    return network;
  }

  private invocation(command: Invocation['command'], req: PodNetworkRequest, netns = req.netnsPath): Invocation {
    return { command, containerId: req.containerId, netns, ifName: req.ifName ?? 'eth0', args: cniArgs(req) };
  }

  async setUpPod(req: PodNetworkRequest): Promise<PodNetworkStatus> {
    return this.gate.add(() => this.add(req));
  }

  private async add(req: PodNetworkRequest): Promise<PodNetworkStatus> {
    const net = await this.network();
    const ifName = req.ifName ?? 'eth0';
    const caps = capabilityArgs(req);
    const log = this.log.with({
      network: net.name,
      containerId: req.containerId,
      pod: `${req.podNamespace}/${req.podName}`,
    });
    let prev: unknown;
    let ran = 0;
    try {
      for (const plugin of net.plugins) {
        const conf = requestConfig(plugin, net.name, net.cniVersion, {
          prevResult: prev,
          runtimeConfig: runtimeConfigFor(plugin, caps),
        });
        ran++;
        prev = await invokePlugin(this.opts.binDirs, plugin, conf, this.invocation('ADD', req));
        if (prev === undefined) throw new Error(`CNI plugin ${plugin.type} ADD printed no result`);
      }
    } catch (e) {
      log.warn('CNI ADD failed; deleting what the chain set up', { error: e as Error, pluginsRun: ran });
      try {
        await this.runDel(net, req, prev, caps, ran, true);
      } catch (de) {
        log.error('rollback DEL after failed ADD also failed', { error: de as Error });
      }
      throw e;
    }
    await this.cache.write({
      kind: 'kubenodeCniCacheV1',
      networkName: net.name,
      cniVersion: net.cniVersion,
      config: net.raw,
      configFile: net.file,
      containerId: req.containerId,
      ifName,
      netnsPath: req.netnsPath,
      cniArgs: cniArgs(req),
      capabilityArgs: caps,
      result: prev,
    });
    const ips = podIPs(prev, ifName);
    log.info('pod network set up', { ips });
    return { ips, interfaceName: ifName, result: prev };
  }

  /** DEL through the first `count` plugins, in reverse. The spec stops at the first error (a
   * teardown); a rollback (`bestEffort`) goes on, so that one broken plugin does not leave the
   * others' resources behind, and reports every error at the end. */
  private async runDel(
    net: NetworkConfigList,
    req: PodNetworkRequest,
    prevResult: unknown,
    caps: Record<string, unknown>,
    count = net.plugins.length,
    bestEffort = false,
  ): Promise<void> {
    // A namespace that is gone is passed as "" (the spec allows DEL without CNI_NETNS), so
    // plugins clean up what they can instead of failing to enter it.
    const netns = req.netnsPath && existsSync(req.netnsPath) ? req.netnsPath : '';
    const withPrev = atLeast(net.cniVersion, '0.4.0') && prevResult !== undefined;
    const errors: Error[] = [];
    for (const plugin of net.plugins.slice(0, count).reverse()) {
      const conf = requestConfig(plugin, net.name, net.cniVersion, {
        ...(withPrev ? { prevResult } : {}),
        runtimeConfig: runtimeConfigFor(plugin, caps),
      });
      try {
        await invokePlugin(this.opts.binDirs, plugin, conf, this.invocation('DEL', req, netns));
      } catch (e) {
        if (!bestEffort) throw e;
        errors.push(e as Error);
      }
    }
    if (errors.length) throw new Error(errors.map((e) => e.message).join('; '));
  }

  private async cachedOrCurrent(
    req: PodNetworkRequest,
  ): Promise<{ net: NetworkConfigList; cached?: CachedAttachment }> {
    const cached = await this.cache.read(req.containerId, req.ifName ?? 'eth0');
    if (cached) {
      try {
        return { net: parseConfig(cached.configFile, cached.config), cached };
      } catch (e) {
        this.log.warn('cached CNI configuration unusable; using the current one', {
          containerId: req.containerId,
          error: e as Error,
        });
      }
    }
    return { net: await this.network() };
  }

  async tearDownPod(req: PodNetworkRequest): Promise<void> {
    const { net, cached } = await this.cachedOrCurrent(req);
    await this.runDel(net, req, cached?.result, cached?.capabilityArgs ?? capabilityArgs(req));
    await this.cache.remove(req.containerId, req.ifName ?? 'eth0');
    this.log.info('pod network torn down', { network: net.name, containerId: req.containerId });
  }

  async checkPod(req: PodNetworkRequest): Promise<void> {
    const { net, cached } = await this.cachedOrCurrent(req);
    if (net.disableCheck || !atLeast(net.cniVersion, '0.4.0')) return;
    if (!cached)
      throw new Error(
        `no cached CNI result for container ${req.containerId} (${req.ifName ?? 'eth0'}): it was never set up by this agent`,
      );
    for (const plugin of net.plugins) {
      const conf = requestConfig(plugin, net.name, net.cniVersion, {
        prevResult: cached.result,
        runtimeConfig: runtimeConfigFor(plugin, cached.capabilityArgs),
      });
      await invokePlugin(this.opts.binDirs, plugin, conf, this.invocation('CHECK', req));
    }
  }

  async status(): Promise<{ ready: boolean; message: string }> {
    let net: NetworkConfigList;
    try {
      net = await this.network();
    } catch (e) {
      return { ready: false, message: errorMessage(e) };
    }
    for (const plugin of net.plugins) {
      try {
        await findPlugin(plugin.type, this.opts.binDirs);
      } catch (e) {
        return { ready: false, message: errorMessage(e) };
      }
    }
    if (atLeast(net.cniVersion, '1.1.0')) {
      for (const plugin of net.plugins) {
        try {
          await invokePlugin(this.opts.binDirs, plugin, requestConfig(plugin, net.name, net.cniVersion, {}), {
            command: 'STATUS',
          });
        } catch (e) {
          return { ready: false, message: `network ${net.name}: ${errorMessage(e)}` };
        }
      }
    }
    return { ready: true, message: `network ${net.name} (${net.file}, CNI ${net.cniVersion}) ready` };
  }

  /**
   * GC (CNI 1.1, libcni's GCNetworkList): every attachment not listed is released by the plugins
   * (1.1.0 configurations without disableGC) and dropped from the cache. `valid` may be a function
   * listing the sandboxes that exist: it is called with ADDs held back (see GcGate), and when it
   * throws nothing is collected, so a runtime that cannot be listed never looks like an empty node.
   */
  async garbageCollect(valid: ValidAttachment[] | (() => Promise<ValidAttachment[]>)): Promise<number> {
    return this.gate.exclusive(async () => this.collect(typeof valid === 'function' ? await valid() : valid));
  }

  /** Returns how many cached attachments were dropped. */
  private async collect(valid: ValidAttachment[]): Promise<number> {
    const keep = new Set(valid.map((v) => `${v.containerId}\0${v.ifName ?? 'eth0'}`));
    const net = await this.network();
    const errors: Error[] = [];
    if (atLeast(net.cniVersion, '1.1.0') && !net.disableGC) {
      const attachments = valid.map((v) => ({ containerID: v.containerId, ifname: v.ifName ?? 'eth0' }));
      for (const plugin of net.plugins) {
        try {
          await invokePlugin(
            this.opts.binDirs,
            plugin,
            requestConfig(plugin, net.name, net.cniVersion, { validAttachments: attachments }),
            { command: 'GC' },
          );
        } catch (e) {
          errors.push(e as Error); // the spec says: continue, report all
        }
      }
    }
    let dropped = 0;
    for (const c of await this.cache.list()) {
      if (c.networkName === net.name && !keep.has(`${c.containerId}\0${c.ifName}`)) {
        await this.cache.remove(c.containerId, c.ifName);
        dropped++;
      }
    }
    if (errors.length) throw new Error(`CNI GC: ${errors.map((e) => e.message).join('; ')}`);
    return dropped;
  }
}
