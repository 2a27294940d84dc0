// IPAM operations on the disk store: allocate (ADD), release (DEL), verify (CHECK), reclaim
// (GC), capacity (STATUS). One (containerID, ifname) attachment holds one address per range set.
import { formatIP, type IP } from '../../lib/ip.js';
import { CniError, ErrorCode } from '../spec/errors.js';
import type { CniDNS, CniResult } from '../spec/result.js';
import { checkRequested, pickFree, type Pick } from './allocator.js';
import type { IpamConfig } from './config.js';
import { capacity, describeRangeSet, rangeFor, type RangeSet } from './range.js';
import type { Allocation, DiskStore } from './store.js';

export interface Attachment {
  containerId: string;
  ifName: string;
}

const isMine = (a: Allocation, att: Attachment) =>
  a.containerId === att.containerId && (a.ifName === att.ifName || a.ifName === '');

function usedIn(set: RangeSet, all: Allocation[]): Set<bigint> {
  const fam = set[0]!.start.family;
  return new Set(all.filter((a) => a.ip.family === fam).map((a) => a.ip.value));
}

function toResult(cniVersion: string, picks: Pick[], cfg: IpamConfig, dns?: CniDNS): CniResult {
  const r: CniResult = {
    cniVersion,
    ips: picks.map((p) => ({
      address: `${formatIP(p.ip)}/${p.range.subnet.prefix}`,
      ...(p.range.gateway ? { gateway: formatIP(p.range.gateway) } : {}),
    })),
  };
  if (cfg.routes.length) r.routes = cfg.routes.map((rt) => ({ ...rt }));
  if (dns) r.dns = dns;
  return r;
}

/** Allocate one address per range set. An attachment that already holds addresses gets the same
 * ones back (`created: false`): ADD never allocates twice for one attachment. */
export function allocate(
  store: DiskStore,
  cfg: IpamConfig,
  att: Attachment,
  requested: IP[],
  cniVersion: string,
  dns?: CniDNS,
): { result: CniResult; created: boolean } {
  return store.withLock(() => {
    const all = store.allocations();
    const mine = all.filter((a) => isMine(a, att));
    const picks: Pick[] = [];
    const reserved: Allocation[] = [];
    try {
      for (const ip of requested) {
        if (!cfg.rangeSets.some((s) => rangeFor(s, ip))) {
          throw new CniError(
            ErrorCode.InvalidNetworkConfig,
            'requested address is not in any range',
            `${formatIP(ip)} is outside ${cfg.rangeSets.map(describeRangeSet).join('; ')}`,
          );
        }
      }
      cfg.rangeSets.forEach((set, i) => {
        const held = mine.find((a) => rangeFor(set, a.ip));
        if (held) {
          picks.push({ ip: held.ip, range: rangeFor(set, held.ip)! });
          return;
        }
        const used = usedIn(set, all);
        const wanted = requested.find((ip) => rangeFor(set, ip));
        for (;;) {
          let pick: Pick | undefined;
          if (wanted) {
            const c = checkRequested(set, used, wanted);
            if (c.problem)
              throw new CniError(
                ErrorCode.Internal,
                'requested address is not available',
                `${formatIP(wanted)} ${c.problem} in range set ipam.ranges[${i}]`,
              );
            pick = { ip: wanted, range: c.range! };
          } else {
            pick = pickFree(set, used, store.lastReserved(i));
            if (!pick) {
              throw new CniError(
                ErrorCode.TryAgainLater,
                'no free IP address',
                `range set ipam.ranges[${i}] ${describeRangeSet(set)} is exhausted: all ${capacity(set)} addresses are allocated; addresses return when pods are deleted`,
              );
            }
          }
          if (store.reserve(pick.ip, att.containerId, att.ifName, i)) {
            reserved.push({ ip: pick.ip, file: formatIP(pick.ip), ...att });
            picks.push(pick);
            return;
          }
          // Taken behind our back (a host-local sharing the directory): look further.
          used.add(pick.ip.value);
          if (wanted)
            throw new CniError(
              ErrorCode.Internal,
              'requested address is not available',
              `${formatIP(wanted)} is already allocated`,
            );
        }
      });
    } catch (e) {
      for (const a of reserved) store.release(a);
      throw e;
    }
    return { result: toResult(cniVersion, picks, cfg, dns), created: reserved.length > 0 };
  });
}

/** Release every address the attachment holds; nothing held is fine (DEL is idempotent). */
export function release(store: DiskStore, att: Attachment): Allocation[] {
  return store.withLock(() => {
    const mine = store.allocations().filter((a) => isMine(a, att));
    for (const a of mine) store.release(a);
    return mine;
  });
}

/** The addresses an attachment holds (without locking: a read-only view). */
export function held(store: DiskStore, att: Attachment): Allocation[] {
  return store.allocations().filter((a) => isMine(a, att));
}

/** CHECK: the attachment must hold an address in every range set, and the ones in prevResult. */
export function verify(store: DiskStore, cfg: IpamConfig, att: Attachment, expected: IP[]): void {
  const mine = held(store, att);
  cfg.rangeSets.forEach((set, i) => {
    if (!mine.some((a) => rangeFor(set, a.ip))) {
      throw new CniError(
        ErrorCode.Internal,
        'IP reservation missing',
        `container ${att.containerId} ifname ${att.ifName} holds no address in range set ipam.ranges[${i}] (${describeRangeSet(set)})`,
      );
    }
  });
  for (const ip of expected) {
    if (!mine.some((a) => a.ip.family === ip.family && a.ip.value === ip.value)) {
      throw new CniError(
        ErrorCode.Internal,
        'IP reservation missing',
        `${formatIP(ip)} from prevResult is not reserved for container ${att.containerId} ifname ${att.ifName}`,
      );
    }
  }
}

/** GC: release every allocation whose attachment is not in the valid list. */
export function collect(store: DiskStore, valid: Attachment[]): Allocation[] {
  const keep = new Set(valid.map((v) => `${v.containerId}\0${v.ifName}`));
  const keepLegacy = new Set(valid.map((v) => v.containerId));
  return store.withLock(() => {
    const stale = store
      .allocations()
      .filter((a) => (a.ifName ? !keep.has(`${a.containerId}\0${a.ifName}`) : !keepLegacy.has(a.containerId)));
    for (const a of stale) store.release(a);
    return stale;
  });
}

/** STATUS: can ADD be served? Not when every range set is full. */
export function capacityProblem(store: DiskStore, cfg: IpamConfig): string | undefined {
  const all = store.allocations();
  for (const [i, set] of cfg.rangeSets.entries()) {
    const used = all.filter((a) => rangeFor(set, a.ip)).length;
    if (BigInt(used) >= capacity(set))
      return `range set ipam.ranges[${i}] ${describeRangeSet(set)} is exhausted (${used} addresses allocated)`;
  }
  return undefined;
}
