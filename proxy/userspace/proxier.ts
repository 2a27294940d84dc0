// The userspace proxier: a listening socket per Service port (TCP and UDP) and the nat rules
// that redirect the Service's addresses to it (rules.ts). A sync opens the sockets of new
// Service ports, hands every picker its endpoints, rewrites our chains in one iptables-restore
// (only when their text changed, or on a full sync, which also re-inserts missing jumps), and
// only then closes the sockets of Service ports that are gone, so no rule ever points at a
// closed port.
import { performance } from 'node:perf_hooks';
import type { Logger } from '../../lib/log.js';
import { clearConntrack } from '../conntrack/clear.js';
import type { ConntrackDeletion } from '../conntrack/plan.js';
import type { IptablesBackend } from '../iptables/backend.js';
import { categorizeEndpoints } from '../model/categorize.js';
import { endpointsKey, type ProxyState, type ServicePort } from '../model/types.js';
import type { Proxier, SyncOptions, SyncResult } from '../proxier.js';
import { removeUserspaceRules } from './cleanup.js';
import { EndpointPicker } from './picker.js';
import { missingUserspaceJumps, planPortals, type Portal, renderPortals, USERSPACE_JUMP_RULES } from './rules.js';
import { type ProxySocket, TcpProxySocket } from './tcp.js';
import { UdpProxySocket } from './udp.js';

export interface UserspaceProxierOptions {
  backend: IptablesBackend;
  log: Logger;
  nodeName: string;
  /** --udp-timeout: an idle UDP "connection" is closed after this long. */
  udpIdleMs: number;
  /** The address traffic from the node itself is DNATed to (see rules.ts). */
  hostIP: () => Promise<string | undefined>;
}

interface ProxiedPort {
  protocol: ServicePort['protocol'];
  socket: ProxySocket;
  picker: EndpointPicker;
}

export class UserspaceProxier implements Proxier {
  private readonly ports = new Map<string, ProxiedPort>();
  private lastInput = '';
  private lastPortals = new Map<string, Portal>();
  private hostIP: string | undefined;

  constructor(private readonly opts: UserspaceProxierOptions) {}

  /** Ready endpoints (or serving terminating ones when none is ready). Traffic policies are ignored, as upstream's userspace mode did. */
  private usable(sp: ServicePort, state: ProxyState) {
    const plain = { ...sp, internalPolicyLocal: false, externalPolicyLocal: false };
    return categorizeEndpoints(plain, state.endpoints.get(endpointsKey(sp.name, sp.protocol)) ?? [], this.opts.nodeName)
      .cluster;
  }

  private async ensurePort(key: string, sp: ServicePort): Promise<ProxiedPort> {
    const have = this.ports.get(key);
    if (have && have.protocol === sp.protocol) return have;
    const picker = new EndpointPicker(sp.affinityTimeoutSeconds);
    const socket =
      sp.protocol === 'UDP'
        ? await UdpProxySocket.listen(sp.name, picker, this.opts.udpIdleMs, this.opts.log)
        : await TcpProxySocket.listen(sp.name, picker, this.opts.log);
    this.opts.log.info('proxying Service port', { service: sp.name, protocol: sp.protocol, proxyPort: socket.port });
    const p = { protocol: sp.protocol, socket, picker };
    this.ports.set(key, p);
    return p;
  }

  async sync(state: ProxyState, opts: SyncOptions = {}): Promise<SyncResult> {
    const t0 = performance.now();
    const { backend, log } = this.opts;
    const full = opts.full === true || this.lastInput === '';
    if (full) this.hostIP = await this.opts.hostIP();
    if (full && !this.hostIP)
      log.warn('no non-loopback IPv4 address on this node: Services are not reachable from the node itself');

    const portals = new Map<string, Portal>();
    for (const sps of state.services.values()) {
      for (const sp of sps) {
        if (sp.protocol === 'SCTP') {
          log.warn('userspace mode does not proxy SCTP; Service port skipped', { service: sp.name });
          continue;
        }
        const key = endpointsKey(sp.name, sp.protocol);
        const eps = this.usable(sp, state);
        // A socket is opened when a Service port first has endpoints, and kept while it exists.
        const port = eps.length > 0 || this.ports.has(key) ? await this.ensurePort(key, sp) : undefined;
        port?.picker.update(eps, sp.affinityTimeoutSeconds);
        portals.set(key, {
          name: sp.name,
          protocol: sp.protocol,
          clusterIP: sp.clusterIP,
          port: sp.port,
          nodePort: sp.nodePort,
          externalAddresses: [...sp.externalIPs, ...sp.loadBalancerIPs],
          proxyPort: eps.length > 0 ? port!.socket.port : 0,
        });
      }
    }
    const rules = planPortals([...portals.values()], { hostIP: this.hostIP });
    const missing = full ? missingUserspaceJumps(await backend.builtinRules(USERSPACE_JUMP_RULES)) : [];
    const input = renderPortals(rules, missing);
    let restores = 0;
    if (full || input !== this.lastInput) {
      this.lastInput = '';
      await backend.restore(input);
      restores++;
      this.lastInput = input;
    }
    // The rules no longer point at these: close them.
    for (const [key, p] of this.ports) {
      if (portals.has(key) && portals.get(key)!.protocol === p.protocol) continue;
      await p.socket.close();
      this.ports.delete(key);
      log.info('stopped proxying Service port', { service: key });
    }
    const stale = staleUdpFlows(this.lastPortals, portals);
    if (stale.length) await clearConntrack(stale, log);
    this.lastPortals = portals;
    const now = Date.now();
    for (const p of this.ports.values()) p.picker.expire(now);

    let nat = 0;
    let filter = 0;
    for (const [k, lines] of rules) k.startsWith('nat ') ? (nat += lines.length) : (filter += lines.length);
    return {
      full,
      durationMs: performance.now() - t0,
      rules: { nat, filter, sockets: this.ports.size },
      objectsWritten: restores ? portals.size : 0,
      restores,
    };
  }

  async cleanup(): Promise<void> {
    await removeUserspaceRules(this.opts.backend, this.opts.log);
    await this.close();
  }

  /** Close every proxy socket (rules stay, as the other modes leave theirs on exit). */
  async close(): Promise<void> {
    for (const p of this.ports.values()) await p.socket.close(true);
    this.ports.clear();
    this.lastInput = '';
  }
}

/**
 * UDP flows whose conntrack entry redirects to a proxy port that changed (the Service port was
 * removed, lost or gained endpoints): UDP has no teardown, so without this they would keep
 * going to a closed port, or keep being rejected, for as long as the client keeps sending.
 */
export function staleUdpFlows(
  prev: ReadonlyMap<string, Portal>,
  next: ReadonlyMap<string, Portal>,
): ConntrackDeletion[] {
  const out: ConntrackDeletion[] = [];
  for (const [key, old] of prev) {
    if (old.protocol !== 'UDP') continue;
    const cur = next.get(key);
    if (
      cur &&
      cur.proxyPort === old.proxyPort &&
      cur.clusterIP === old.clusterIP &&
      cur.port === old.port &&
      cur.nodePort === old.nodePort
    )
      continue;
    for (const ip of [old.clusterIP, ...old.externalAddresses])
      out.push({ kind: 'service', serviceIP: ip, port: old.port });
    if (old.nodePort) out.push({ kind: 'nodeport', nodePort: old.nodePort });
  }
  return out;
}
