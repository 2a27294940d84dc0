// Running external programs safely: always an argument array (execFile/spawn), never a shell
// string, so no object name from a manifest can ever be interpreted by a shell.
import { spawn } from 'node:child_process';

export interface RunOptions {
  /** Written to the program's stdin (iptables-restore input, ip -batch commands...). */
  input?: string | Buffer;
  /** Kill the program after this many milliseconds. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Do not throw on a non-zero exit; return the result instead. */
  allowFailure?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  signal: NodeJS.Signals | null;
}

export class ExecError extends Error {
  constructor(
    readonly file: string,
    readonly args: readonly string[],
    readonly result: RunResult,
  ) {
    const tail = (result.stderr || result.stdout).trim().split('\n').slice(-5).join('\n');
    super(`${file} ${args.join(' ')} exited ${result.signal ?? result.code}${tail ? `: ${tail}` : ''}`);
    this.name = 'ExecError';
  }
}

/** A program that is not installed: the message says which Debian package provides it. */
export class MissingProgramError extends Error {
  constructor(readonly file: string) {
    super(`${file} is not installed: ${installHint(file)}`);
    this.name = 'MissingProgramError';
  }
}

const packages: Record<string, string> = {
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  'iptables-save': 'iptables',
  'ip6tables-restore': 'iptables',
  ipset: 'ipset',
  ipvsadm: 'ipvsadm',
  ip: 'iproute2',
  tc: 'iproute2',
  conntrack: 'conntrack',
  docker: 'docker.io',
  dockerd: 'docker.io',
  nsenter: 'util-linux',
  setpriv: 'util-linux',
  nft: 'nftables',
  'qemu-system-x86_64': 'qemu-system-x86',
  openssl: 'openssl',
  wrk: 'wrk',
};

export function installHint(file: string): string {
  const pkg = packages[file.split('/').pop() ?? file];
  return pkg ? `run 'sudo scripts/setup.sh' (or 'apt-get install ${pkg}')` : `run 'sudo scripts/setup.sh'`;
}

export function run(file: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', (e: NodeJS.ErrnoException) => {
      if (timer) clearTimeout(timer);
      reject(e.code === 'ENOENT' ? new MissingProgramError(file) : e);
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const result = {
        code: code ?? -1,
        signal,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      };
      if (result.code !== 0 && !opts.allowFailure) reject(new ExecError(file, args, result));
      else resolve(result);
    });
    // A program that exits without reading its stdin would otherwise raise EPIPE here.
    child.stdin.on('error', () => {});
    child.stdin.end(opts.input ?? '');
  });
}

/** Run a program inside a network namespace (a path or a name under /run/netns). */
export function runInNetns(
  netns: string,
  file: string,
  args: readonly string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const path = netns.includes('/') ? netns : `/run/netns/${netns}`;
  return run('nsenter', [`--net=${path}`, '--', file, ...args], opts);
}
