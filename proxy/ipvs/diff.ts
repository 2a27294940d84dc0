// The pure difference between the virtual servers we want and those the kernel has, as
// `ipvsadm -R` lines. Only virtual servers we own are changed or deleted. A real server whose
// endpoint went away is not deleted at once: its weight drops to 0, so the scheduler sends it no
// new connection while the established ones finish, and it is deleted by a later sync once IPVS
// counts no connection on it (upstream: pkg/proxy/ipvs/graceful_termination.go). UDP and SCTP
// have no connection end to wait for, so their real servers go at once, as upstream does.
import type { Protocol } from '../model/types.js';
import type { ConnectionCounts, KernelVirtualServer } from './ipvsadm.js';
import { type IpvsOp, rsKey, type VirtualServer } from './types.js';

export interface IpvsDiffInput {
  desired: ReadonlyMap<string, VirtualServer>;
  current: ReadonlyMap<string, KernelVirtualServer>;
  /** Whether a virtual server in the kernel is ours to change or delete. */
  owned: (vs: KernelVirtualServer) => boolean;
  /** Connections per "vsKey rsKey"; without them a draining real server counts as still busy. */
  counts?: ReadonlyMap<string, ConnectionCounts>;
}

export interface DrainingServer {
  virtualServer: string;
  realServer: string;
}

export interface IpvsDiff {
  /** Deletes first, then services, then real servers. */
  ops: IpvsOp[];
  virtualServersAdded: number;
  virtualServersEdited: number;
  virtualServersDeleted: number;
  realServersAdded: number;
  realServersDeleted: number;
  /** Real servers whose weight this diff sets to 0. */
  drainStarted: DrainingServer[];
  /** Real servers left at weight 0 with connections still open. */
  draining: DrainingServer[];
  /** Drained real servers this diff deletes. */
  drained: DrainingServer[];
}

export function gracefulTerminationNeeded(p: Protocol): boolean {
  return p === 'TCP';
}

/** Real servers that are already draining: the applier must read connection counts for them. */
export function needsConnectionCounts(
  desired: ReadonlyMap<string, VirtualServer>,
  current: ReadonlyMap<string, KernelVirtualServer>,
  owned: (vs: KernelVirtualServer) => boolean,
): boolean {
  for (const [key, cur] of current) {
    const want = desired.get(key);
    if (!want || !owned(cur) || !gracefulTerminationNeeded(cur.protocol)) continue;
    const wanted = new Set(want.realServers.map(rsKey));
    if (cur.realServers.some((rs) => rs.weight === 0 && !wanted.has(rsKey(rs)))) return true;
  }
  return false;
}

export function diffIpvs(input: IpvsDiffInput): IpvsDiff {
  const d: IpvsDiff = {
    ops: [],
    virtualServersAdded: 0,
    virtualServersEdited: 0,
    virtualServersDeleted: 0,
    realServersAdded: 0,
    realServersDeleted: 0,
    drainStarted: [],
    draining: [],
    drained: [],
  };
  const deletes: IpvsOp[] = [];
  const changes: IpvsOp[] = [];

  for (const [key, cur] of input.current) {
    if (input.desired.has(key) || !input.owned(cur)) continue;
    // A Service (or one of its addresses) is gone: its virtual server goes with it, as upstream.
    deletes.push({ kind: 'deleteService', vs: cur });
    d.virtualServersDeleted++;
  }

  for (const [key, want] of input.desired) {
    const cur = input.current.get(key);
    if (!cur) {
      changes.push({ kind: 'addService', vs: want });
      d.virtualServersAdded++;
      for (const rs of want.realServers) changes.push({ kind: 'addServer', vs: want, rs });
      d.realServersAdded += want.realServers.length;
      continue;
    }
    if (cur.scheduler !== want.scheduler || cur.persistenceSeconds !== want.persistenceSeconds || cur.extra !== '') {
      changes.push({ kind: 'editService', vs: want });
      d.virtualServersEdited++;
    }
    const have = new Map(cur.realServers.map((rs) => [rsKey(rs), rs]));
    for (const rs of want.realServers) {
      const h = have.get(rsKey(rs));
      if (!h) {
        changes.push({ kind: 'addServer', vs: want, rs });
        d.realServersAdded++;
      } else if (h.weight !== rs.weight || h.method !== 'masq') {
        // Also an endpoint that came back while it was draining.
        changes.push({ kind: 'editServer', vs: want, rs });
      }
    }
    const wanted = new Set(want.realServers.map(rsKey));
    for (const rs of cur.realServers) {
      const rk = rsKey(rs);
      if (wanted.has(rk)) continue;
      const ref = { virtualServer: key, realServer: rk };
      if (!gracefulTerminationNeeded(cur.protocol)) {
        deletes.push({ kind: 'deleteServer', vs: cur, rs });
        d.realServersDeleted++;
      } else if (rs.weight !== 0) {
        changes.push({ kind: 'editServer', vs: cur, rs: { address: rs.address, port: rs.port, weight: 0 } });
        d.drainStarted.push(ref);
        d.draining.push(ref);
      } else {
        const c = input.counts?.get(`${key} ${rk}`);
        if (c && c.active + c.inactive === 0) {
          deletes.push({ kind: 'deleteServer', vs: cur, rs });
          d.realServersDeleted++;
          d.drained.push(ref);
        } else {
          d.draining.push(ref);
        }
      }
    }
  }
  d.ops = [...deletes, ...changes];
  return d;
}

/**
 * What the kernel holds for our virtual servers once a diff is applied: the desired servers,
 * plus the real servers left draining at weight 0. A partial sync diffs against this instead of
 * reading the kernel again.
 */
export function stateAfter(
  desired: ReadonlyMap<string, VirtualServer>,
  diff: Pick<IpvsDiff, 'draining'>,
): Map<string, KernelVirtualServer> {
  const draining = new Map<string, string[]>();
  for (const d of diff.draining)
    draining.set(d.virtualServer, [...(draining.get(d.virtualServer) ?? []), d.realServer]);
  const out = new Map<string, KernelVirtualServer>();
  for (const [key, vs] of desired) {
    const rs = vs.realServers.map((r) => ({ ...r, method: 'masq' as const }));
    for (const r of draining.get(key) ?? []) {
      const i = r.lastIndexOf(':');
      rs.push({ address: r.slice(0, i), port: Number(r.slice(i + 1)), weight: 0, method: 'masq' });
    }
    out.set(key, {
      protocol: vs.protocol,
      address: vs.address,
      port: vs.port,
      scheduler: vs.scheduler,
      persistenceSeconds: vs.persistenceSeconds,
      realServers: rs,
      extra: '',
    });
  }
  return out;
}
