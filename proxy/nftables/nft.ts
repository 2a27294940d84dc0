// The thin layer that runs nft(8). Every change is one `nft -f -` reading a script from stdin,
// which nft applies as one transaction: all of it or nothing. The table is listed only on a
// first sync (to find leftovers of an earlier run), never on a partial one.
import { ExecError, MissingProgramError, run } from '../../lib/exec.js';
import { FAMILY, isServiceChain, TABLE } from './names.js';

export class NftError extends Error {
  constructor(
    readonly stderr: string,
    /** The script line nft complained about, when it says which. */
    readonly failedLine?: string,
  ) {
    super(`nft -f failed: ${stderr.trim().split('\n').slice(0, 3).join(' / ')}${failedLine ? ` (input: ${failedLine.slice(0, 300)})` : ''}`);
    this.name = 'NftError';
  }
}

/** Run one script as one transaction. */
export async function nftApply(script: string): Promise<void> {
  try {
    await run('nft', ['-f', '-'], { input: script, timeoutMs: 600_000 });
  } catch (e) {
    if (!(e instanceof ExecError)) throw e;
    // nft names the failing input as "/dev/stdin:LINE:COL-COL:".
    const m = /stdin:(\d+):/.exec(e.result.stderr);
    throw new NftError(e.result.stderr, m ? script.split('\n')[Number(m[1]) - 1] : undefined);
  }
}

/**
 * Whether this machine can run nftables mode: nft is installed and the kernel lets us create
 * (and remove) a table. The message says what is missing and what to do instead.
 */
export async function checkNftables(): Promise<string | undefined> {
  const probe = `kubenode-probe-${process.pid}`;
  try {
    await run('nft', ['-f', '-'], { input: `add table ${FAMILY} ${probe}\ndelete table ${FAMILY} ${probe}\n`, timeoutMs: 30_000 });
    return undefined;
  } catch (e) {
    if (e instanceof MissingProgramError) return `nft is not installed (apt-get install nftables); or use --proxy-mode iptables`;
    const detail = e instanceof ExecError ? e.result.stderr.trim().split('\n')[0] : String(e);
    return `nf_tables is not usable here (creating a test table failed: ${detail}); load the nf_tables module or use --proxy-mode iptables`;
  }
}

export interface ExistingObjects {
  /** Per-Service chains. */
  chains: Set<string>;
  /** Affinity sets and their timeouts in seconds. */
  sets: Map<string, number | undefined>;
}

/** The lines of our table's block in an `nft list ... ip` listing of every table. */
function ourBlock(text: string): string[] {
  const out: string[] = [];
  let inside = false;
  for (const line of text.split('\n')) {
    if (/^table /.test(line)) inside = line === `table ${FAMILY} ${TABLE} {`;
    else if (inside) out.push(line);
  }
  return out;
}

/** nft prints timeouts as "5m", "3h", "1h30m10s". */
function durationSeconds(s: string): number {
  let total = 0;
  for (const m of s.matchAll(/(\d+)([dhms])/g)) total += Number(m[1]) * { d: 86400, h: 3600, m: 60, s: 1 }[m[2] as 's'];
  return total;
}

/** Parse `nft list chains ip` and `nft list sets ip` output (pure). */
export function parseListing(chainsText: string, setsText: string): ExistingObjects {
  const chains = new Set<string>();
  for (const line of ourBlock(chainsText)) {
    const m = /^\s*chain (\S+) \{/.exec(line);
    if (m && isServiceChain(m[1]!)) chains.add(m[1]!);
  }
  const sets = new Map<string, number | undefined>();
  let current: string | undefined;
  for (const line of ourBlock(setsText)) {
    const s = /^\s*set (affinity-\S+) \{/.exec(line);
    if (s) sets.set((current = s[1]!), undefined);
    const t = /^\s*timeout (\S+)$/.exec(line);
    if (t && current) sets.set(current, durationSeconds(t[1]!));
    if (/^\s*}/.test(line)) current = undefined;
  }
  return { chains, sets };
}

/** Our per-Service chains and affinity sets, for the first full sync (two nft runs, no rules listed). */
export async function listExisting(): Promise<ExistingObjects> {
  const list = (what: string) => run('nft', ['list', what, FAMILY], { timeoutMs: 300_000 });
  const [chains, sets] = await Promise.all([list('chains'), list('sets')]);
  return parseListing(chains.stdout, sets.stdout);
}

/** Remove our table (both families), whether or not it exists. */
export async function deleteTables(): Promise<void> {
  await nftApply(['ip', 'ip6'].map((f) => `add table ${f} ${TABLE}\ndelete table ${f} ${TABLE}\n`).join(''));
}

/**
 * Whether our table exists. Not `nft list tables`: nft 1.0 reads the whole ruleset for that
 * (7 CPU-seconds at 10,000 Services). Declaring our `services` chain again is a no-op that nft
 * refuses when the table is missing, and it reads nothing but the list of tables.
 */
export async function tableExists(): Promise<boolean> {
  const r = await run('nft', ['-f', '-'], { input: `add chain ${FAMILY} ${TABLE} services\n`, allowFailure: true, timeoutMs: 30_000 }).catch(() => undefined);
  return r !== undefined && r.code === 0;
}
