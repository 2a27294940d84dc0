// Runs a command inside the IPVS test VM (scripts/vm.sh run): a Debian kernel under qemu that
// sees this machine's root filesystem read-only with a writable overlay. Used by integration
// tests whose subject needs kernel features the host lacks.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { requireProgram, requireRoot } from '../harness/require.js';

/** The project root (this file is compiled to dist/test/vm/vm.js). */
export const projectRoot = fileURLToPath(new URL('../../../', import.meta.url)).replace(/\/$/, '');
export const vmScript = `${projectRoot}/scripts/vm.sh`;

export interface VmResult {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export interface VmOptions {
  /** Kill the VM after this long (vm.sh also has its own limit). */
  timeoutMs?: number;
  /** Copy the guest's stderr to ours as it arrives (progress of long scenarios). */
  teeStderr?: boolean;
  env?: NodeJS.ProcessEnv;
}

/** Boot the VM, run argv inside from the project root, return its output and exit status. */
export function runInVm(argv: string[], opts: VmOptions = {}): Promise<VmResult> {
  requireRoot();
  requireProgram('qemu-system-x86_64');
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn('bash', [vmScript, 'run', '--', ...argv], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...opts.env },
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      if (opts.teeStderr) process.stderr.write(b);
    });
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) {
      // vm.sh stops qemu when it is terminated.
      timer = setTimeout(() => child.kill('SIGTERM'), opts.timeoutMs);
    }
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
        ms: Date.now() - started,
      });
    });
  });
}
