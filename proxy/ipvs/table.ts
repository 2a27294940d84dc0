// The kernel's IPVS table behind one small interface, with two ways to reach it: generic
// netlink on a socket of our own (the default: one round trip per change, no process), or
// ipvsadm (`-Sn` to read, one `-R` batch to write) when the netlink binding cannot be loaded.
import type { Logger } from '../../lib/log.js';
import type { IpvsOp } from './types.js';
import {
  type ConnectionCounts,
  type KernelVirtualServer,
  parseIpvsadmList,
  parseIpvsadmSave,
  renderIpvsadm,
} from './ipvsadm.js';
import { ipvsList, ipvsRestore, ipvsSave } from './kernel.js';
import { errorMessage } from '../../lib/errors.js';

export type IpvsBackendKind = 'netlink' | 'ipvsadm';

export interface IpvsTable {
  readonly kind: IpvsBackendKind;
  /** Virtual servers with their real servers; counts when they come for free. */
  read(): Promise<{ services: Map<string, KernelVirtualServer>; counts?: Map<string, ConnectionCounts> }>;
  /** Connection counts per "vsKey rsKey" of these virtual servers' real servers (draining ones). */
  readCounts(of: Iterable<KernelVirtualServer>): Promise<Map<string, ConnectionCounts>>;
  /** Write the changes of one sync as one batch. */
  apply(ops: readonly IpvsOp[]): Promise<void>;
  close(): void;
}

export class IpvsadmTable implements IpvsTable {
  readonly kind = 'ipvsadm';
  async read() {
    return { services: parseIpvsadmSave(await ipvsSave()) };
  }
  async readCounts() {
    return parseIpvsadmList(await ipvsList());
  }
  async apply(ops: readonly IpvsOp[]) {
    await ipvsRestore(renderIpvsadm(ops));
  }
  close() {}
}

/** The preferred table; ipvsadm when asked for, or when netlink is out of reach (logged). */
export async function openIpvsTable(log: Logger, prefer: IpvsBackendKind = 'netlink'): Promise<IpvsTable> {
  if (prefer === 'netlink') {
    try {
      // Loaded here, not at start-up: a missing native binding must not break iptables mode.
      const { IpvsNetlink } = await import('./netlink.js');
      const nl = await IpvsNetlink.open();
      if (nl) {
        return {
          kind: 'netlink',
          read: () => nl.read(),
          readCounts: () => nl.readCounts(),
          apply: (ops) => nl.apply(ops),
          close: () => nl.close(),
        };
      }
      log.warn('the IPVS generic netlink family is not reachable; programming IPVS with ipvsadm');
    } catch (e) {
      log.warn('generic netlink is unavailable; programming IPVS with ipvsadm', { error: errorMessage(e) });
    }
  }
  return new IpvsadmTable();
}
