// The thin layer that touches the kernel for IPVS mode: reads the IPVS table, addresses and
// ipsets, and writes each kind of change in one batch (`ip -batch`, `ipset restore`,
// `ipvsadm -R`). Nothing here decides anything.
import { writeFileSync, existsSync } from 'node:fs';
import { release } from 'node:os';
import { ExecError, run } from '../../lib/exec.js';
import type { Logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';

export const DUMMY_INTERFACE = 'kube-ipvs0';

export class IpvsUnavailableError extends Error {
  constructor(detail: string) {
    super(
      `IPVS is not available in this kernel (${release()}): ${detail}. Load the ip_vs modules, or use --proxy-mode iptables`,
    );
    this.name = 'IpvsUnavailableError';
  }
}

/** Fail early, with a way out, when the kernel has no IPVS (ipvsadm loads ip_vs if it can). */
export async function checkIpvsAvailable(): Promise<void> {
  const r = await run('ipvsadm', ['-Ln'], { allowFailure: true, timeoutMs: 30_000 });
  if (r.code !== 0)
    throw new IpvsUnavailableError(
      (r.stderr || r.stdout).trim().split('\n').filter(Boolean).slice(-2).join(' / ') || `ipvsadm exited ${r.code}`,
    );
  await run('ipset', ['list', '-n'], { timeoutMs: 30_000 });
}

/**
 * Kernel settings IPVS mode relies on (upstream sets the same): conntrack entries for IPVS
 * connections so that iptables can masquerade them; connections to a deleted real server are
 * dropped rather than left hanging; persistence templates of a weight-0 real server expire so
 * that clients with affinity move on; forwarding on.
 */
export const SYSCTLS: ReadonlyArray<[string, string]> = [
  ['net/ipv4/vs/conntrack', '1'],
  ['net/ipv4/vs/expire_nodest_conn', '1'],
  ['net/ipv4/vs/expire_quiescent_template', '1'],
  ['net/ipv4/ip_forward', '1'],
];

export function applySysctls(log: Logger): void {
  for (const [key, value] of SYSCTLS) {
    const path = `/proc/sys/${key}`;
    try {
      if (existsSync(path)) writeFileSync(path, value);
      else log.warn('sysctl missing', { key });
    } catch (e) {
      log.warn('could not set sysctl', { key, value, error: errorMessage(e) });
    }
  }
}

export async function readAddresses(): Promise<string> {
  return (await run('ip', ['-j', 'addr', 'show'], { timeoutMs: 30_000 })).stdout;
}

export async function ipvsSave(): Promise<string> {
  return (await run('ipvsadm', ['-Sn'], { timeoutMs: 120_000 })).stdout;
}

export async function ipvsList(): Promise<string> {
  return (await run('ipvsadm', ['-Ln'], { timeoutMs: 120_000 })).stdout;
}

export class IpvsRestoreError extends Error {
  constructor(
    readonly stderr: string,
    commands: number,
  ) {
    super(
      `ipvsadm -R reported errors in a batch of ${commands} commands: ${stderr.trim().split('\n').slice(0, 3).join(' / ')}`,
    );
    this.name = 'IpvsRestoreError';
  }
}

/** One `ipvsadm -R`. It goes on past a failing line and still exits 0, so any message is an error. */
export async function ipvsRestore(commands: readonly string[]): Promise<void> {
  if (commands.length === 0) return;
  const r = await run('ipvsadm', ['-R'], { input: commands.join('\n') + '\n', timeoutMs: 600_000, allowFailure: true });
  if (r.code !== 0 || r.stderr.trim() !== '') throw new IpvsRestoreError(r.stderr || `exit ${r.code}`, commands.length);
}

export async function ipsetSave(): Promise<string> {
  return (await run('ipset', ['save'], { timeoutMs: 120_000 })).stdout;
}

export async function ipsetRestore(input: string): Promise<void> {
  if (!input) return;
  // -exist: an entry already there (or already gone) is not an error; the rest is.
  await run('ipset', ['restore', '-exist'], { input, timeoutMs: 600_000 });
}

/** One `ip -batch`: lines such as "address add 10.96.0.1/32 dev kube-ipvs0". */
export async function ipBatch(lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  try {
    await run('ip', ['-batch', '-'], { input: lines.join('\n') + '\n', timeoutMs: 600_000 });
  } catch (e) {
    if (e instanceof ExecError)
      throw new Error(
        `ip -batch failed (${lines.length} commands): ${e.result.stderr.trim().split('\n').slice(0, 3).join(' / ')}`,
      );
    throw e;
  }
}
