// What the agent must remember about each sandbox's network between restarts: the pod's IPs (to
// report them after adopting a running pod) and the netns path and whether CNI DEL already ran
// (so DEL runs exactly when needed, even for a sandbox found dead after a restart).
// One small JSON file per sandbox under <root-dir>/sandboxes/.
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface SandboxNetwork {
  podUid: string;
  ips: string[];
  netnsPath: string;
  tornDown: boolean;
}

export class NetworkStateStore {
  private cache = new Map<string, SandboxNetwork>();
  constructor(private readonly dir: string) {}

  private file(id: string): string {
    return join(this.dir, `${id}.json`);
  }

  async load(id: string): Promise<SandboxNetwork | undefined> {
    const c = this.cache.get(id);
    if (c) return c;
    try {
      const s = JSON.parse(await readFile(this.file(id), 'utf8')) as SandboxNetwork;
      this.cache.set(id, s);
      return s;
    } catch {
      return undefined;
    }
  }

  async save(id: string, s: SandboxNetwork): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    await writeFile(this.file(id) + '.tmp', JSON.stringify(s));
    await rename(this.file(id) + '.tmp', this.file(id));
    this.cache.set(id, s);
  }

  /** Every sandbox id with a record. */
  async list(): Promise<string[]> {
    try {
      return (await readdir(this.dir)).filter((f) => f.endsWith('.json')).map((f) => f.slice(0, -5));
    } catch {
      return [];
    }
  }

  async remove(id: string): Promise<void> {
    this.cache.delete(id);
    await rm(this.file(id), { force: true });
  }
}

/**
 * Why the pod network a record describes is not usable in the sandbox running as `pid`, or
 * undefined when it is. Pure. A sandbox with no recorded IP was left between its start and the end
 * of CNI ADD (an agent killed there); one whose process is not the one the namespace path names
 * was restarted and holds a new, empty namespace. kubelet asks the runtime for the sandbox's IP
 * and, finding none, makes a new sandbox ("Sandbox for pod has no IP address").
 */
export function sandboxNetworkProblem(net: SandboxNetwork, pid: number | undefined): string | undefined {
  if (net.tornDown) return 'the sandbox network was torn down';
  if (net.ips.length === 0) return 'the sandbox has no IP address (its CNI ADD never completed)';
  if (pid && net.netnsPath && net.netnsPath !== `/proc/${pid}/ns/net`)
    return 'the sandbox network namespace is not the one its network was set up in';
  return undefined;
}
