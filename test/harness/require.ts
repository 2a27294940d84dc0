// A test whose real component is missing fails, saying what to install. It never skips.
import { execFileSync } from 'node:child_process';
import { installHint } from '../../lib/exec.js';

export function requireProgram(...files: string[]): void {
  for (const f of files) {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', f], { stdio: 'pipe' });
    } catch {
      throw new Error(`${f} is required by this test but is not installed: ${installHint(f)}`);
    }
  }
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0)
    throw new Error('this test needs root (network namespaces, iptables, Docker): run it with sudo npm test');
}
