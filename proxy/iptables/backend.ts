// The thin layer that runs iptables programs. Everything here is an effect; what to write is
// decided elsewhere. One iptables-restore per batch, never one iptables process per rule.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { ExecError, MissingProgramError, run } from '../../lib/exec.js';
import { isServiceChain } from './names.js';
import { STATIC_CHAINS, type Table } from './static-rules.js';

export type BackendKind = 'nft' | 'legacy';

export interface IptablesPrograms {
  restore: string;
  save: string;
  iptables: string;
}

const PROGRAMS: Record<BackendKind | 'default', IptablesPrograms> = {
  default: { restore: 'iptables-restore', save: 'iptables-save', iptables: 'iptables' },
  nft: { restore: 'iptables-nft-restore', save: 'iptables-nft-save', iptables: 'iptables-nft' },
  legacy: { restore: 'iptables-legacy-restore', save: 'iptables-legacy-save', iptables: 'iptables-legacy' },
};

export class RestoreError extends Error {
  constructor(
    readonly stderr: string,
    readonly exitCode: number | string,
    /** The input line iptables-restore complained about, when the input is at hand. */
    readonly failedLine?: string,
  ) {
    super(
      `iptables-restore failed (${exitCode}): ${stderr.trim().split('\n').slice(-3).join(' / ')}${failedLine ? ` (input: ${failedLine})` : ''}`,
    );
    this.name = 'RestoreError';
  }

  static fromInput(input: string, e: ExecError): RestoreError {
    // iptables-restore names the failing line ("line 42 failed"): show that line.
    const m = /line (\d+) failed/.exec(e.result.stderr);
    return new RestoreError(
      e.result.stderr,
      e.result.signal ?? e.result.code,
      m ? input.split('\n')[Number(m[1]) - 1] : undefined,
    );
  }
}

export class IptablesBackend {
  private constructor(
    readonly kind: BackendKind,
    readonly programs: IptablesPrograms,
  ) {}

  /**
   * 'auto' uses whatever `iptables` is on this machine (Debian's alternatives: nft by default)
   * and asks it which backend it is, since that changes how large restores behave.
   */
  static async open(choice: 'auto' | BackendKind = 'auto'): Promise<IptablesBackend> {
    const programs = PROGRAMS[choice === 'auto' ? 'default' : choice];
    const v = await run(programs.iptables, ['--version']);
    const kind: BackendKind = v.stdout.includes('nf_tables') ? 'nft' : 'legacy';
    return new IptablesBackend(kind, programs);
  }

  /** One atomic iptables-restore that leaves everything it does not mention alone. */
  async restore(input: string): Promise<void> {
    try {
      await run(this.programs.restore, ['-w', '5', '--noflush'], { input, timeoutMs: 600_000 });
    } catch (e) {
      if (e instanceof ExecError) throw RestoreError.fromInput(input, e);
      throw e;
    }
  }

  /**
   * One iptables-restore fed piece by piece as the pieces are produced (a full sync at 10,000
   * Services is 25 MB of input that then never exists in memory at once, and iptables-restore
   * parses while later Services are still being planned). Writes wait for the pipe to drain.
   */
  async restoreStream(pieces: Iterable<string>): Promise<void> {
    const child = spawn(this.programs.restore, ['-w', '5', '--noflush'], { stdio: ['pipe', 'ignore', 'pipe'] });
    const stderr: Buffer[] = [];
    child.stderr.on('data', (b: Buffer) => stderr.push(b));
    let failed: Error | undefined;
    child.stdin.on('error', () => {}); // EPIPE when it exits early: reported by the exit code
    const exited = new Promise<number | string>((resolve) => {
      child.once('error', (e: NodeJS.ErrnoException) => {
        failed = e.code === 'ENOENT' ? new MissingProgramError(this.programs.restore) : e;
        resolve(-1);
      });
      child.once('close', (code, signal) => resolve(signal ?? code ?? -1));
    });
    let done = false;
    void exited.then(() => (done = true));
    let buf = '';
    for (const piece of pieces) {
      if (done) break;
      buf += piece;
      if (buf.length < 1 << 18) continue;
      const ok = child.stdin.write(buf);
      buf = '';
      if (!ok) await Promise.race([once(child.stdin, 'drain'), exited]);
    }
    child.stdin.end(buf);
    const code = await exited;
    if (failed) throw failed;
    if (code !== 0) throw new RestoreError(Buffer.concat(stderr).toString(), code);
  }

  /** The rules of the built-in chains we jump from, keyed "table CHAIN", in one process. */
  async builtinRules(builtins: ReadonlyArray<{ table: Table; builtin: string }>): Promise<Map<string, string[]>> {
    const rules = await this.chainRules(builtins.map((b) => ({ table: b.table, chain: b.builtin })));
    if (!rules)
      throw new Error(
        `${this.programs.restore} could not list the built-in chains ${builtins.map((b) => `${b.table} ${b.builtin}`).join(', ')}`,
      );
    return rules;
  }

  /**
   * The rules of these chains, keyed "table CHAIN", in one process; undefined when one of them
   * does not exist (which is how the canary check learns that a chain was deleted).
   */
  async chainRules(chains: ReadonlyArray<{ table: Table; chain: string }>): Promise<Map<string, string[]> | undefined> {
    // `-S CHAIN` inside a restore input prints that chain and changes nothing; one process reads
    // every chain we care about without dumping the (possibly huge) whole table. A chain that
    // does not exist fails the whole process, with a message that varies by backend and version
    // (iptables-nft 1.8.9: "chain `X' in table `nat' is incompatible"): any failure counts as
    // missing, and the caller's answer to that (a full sync) is also right for other failures.
    const byTable = new Map<Table, Set<string>>();
    for (const c of chains) {
      if (!byTable.has(c.table)) byTable.set(c.table, new Set());
      byTable.get(c.table)!.add(c.chain);
    }
    let input = '';
    for (const [table, names] of byTable) input += `*${table}\n${[...names].map((c) => `-S ${c}\n`).join('')}COMMIT\n`;
    const r = await run(this.programs.restore, ['-w', '5', '--noflush'], {
      input,
      timeoutMs: 60_000,
      allowFailure: true,
    });
    if (r.code !== 0) return undefined;
    // Each listing starts with "-P CHAIN POLICY" (built-in) or "-N CHAIN"; listings come in the
    // order asked for.
    const order = [...byTable].flatMap(([table, names]) => [...names].map((c) => `${table} ${c}`));
    const result = new Map<string, string[]>();
    let i = -1;
    let current: string[] = [];
    for (const line of r.stdout.split('\n')) {
      if (line.startsWith('-P ') || line.startsWith('-N ')) {
        i++;
        current = [];
        if (order[i]) result.set(order[i]!, current);
      } else if (line.startsWith('-A ')) {
        current.push(line);
      }
    }
    return result;
  }

  /** Names of every chain in the nat and filter tables. */
  async listChains(): Promise<Record<Table, Set<string>>> {
    const result: Record<Table, Set<string>> = { nat: new Set(), filter: new Set() };
    if (this.kind === 'nft') {
      // `nft list chains` lists names without rules: a fraction of a second at 60,000 chains,
      // where iptables-nft-save would translate every rule (tens of seconds).
      const r = await run('nft', ['list', 'chains', 'ip'], { allowFailure: true, timeoutMs: 120_000 }).catch(
        () => undefined,
      );
      if (r && r.code === 0) {
        let table: string | undefined;
        for (const line of r.stdout.split('\n')) {
          const t = /^table ip (\S+) \{/.exec(line);
          if (t) table = t[1];
          const c = /^\s+chain (\S+) \{/.exec(line);
          if (c && (table === 'nat' || table === 'filter')) result[table].add(c[1]!);
        }
        return result;
      }
    }
    for (const table of ['nat', 'filter'] as const) {
      const out = (await run(this.programs.save, ['-t', table], { timeoutMs: 600_000 })).stdout;
      for (const line of out.split('\n')) {
        const m = /^:(\S+) /.exec(line);
        if (m) result[table].add(m[1]!);
      }
    }
    return result;
  }

  /** The whole of iptables-save (for --cleanup and for tests). */
  async save(table?: Table): Promise<string> {
    return (await run(this.programs.save, table ? ['-t', table] : [], { timeoutMs: 600_000 })).stdout;
  }
}

/** Chains of ours (static names or per-Service prefixes) among a table's chains. */
export function ourChains(table: Table, names: Iterable<string>): string[] {
  const statics = new Set(STATIC_CHAINS[table]);
  return [...names].filter((n) => statics.has(n) || (table === 'nat' && isServiceChain(n)));
}
