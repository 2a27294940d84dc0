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

/**
 * Runs a TAP-printing scenario file (compiled under dist/) inside the VM as a subtest of `t`:
 * tap reads the guest's TAP as that subtest's own assertions.
 */
export function spawnScenariosInVm(
  t: { spawn: (cmd: string, args: string[], opts: object, name: string) => unknown },
  distFile: string,
  timeoutSeconds: number,
): void {
  requireRoot();
  requireProgram('qemu-system-x86_64');
  t.spawn(
    'bash',
    [vmScript, 'run', '--', 'node', distFile],
    {
      cwd: projectRoot,
      // vm.sh's own limit a minute before the subtest's, so its console tail is what is reported.
      env: { ...process.env, KUBENODE_VM_TIMEOUT: String(timeoutSeconds) },
      timeout: (timeoutSeconds + 60) * 1000,
    },
    `${distFile.split('/').pop()!.replace(/\.js$/, '')} (in the VM)`,
  );
}
