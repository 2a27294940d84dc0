// Persistent HTTP clients in test namespaces (see client-agent.ts): world.http's interface,
// without starting Node.js for every batch.
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';
import type { HttpResult } from '../fixtures/proxy/world.js';
import type { Teardownable } from '../harness/netns.js';

const AGENT = fileURLToPath(new URL('./client-agent.js', import.meta.url));

export type Http = (
  from: string,
  host: string,
  port: number,
  count?: number,
  timeoutMs?: number,
) => Promise<HttpResult[]>;

/** Start one agent per namespace (in parallel); the returned function sends batches to them. */
export async function startClients(t: Teardownable, namespaces: string[]): Promise<Http> {
  const agents = new Map<string, { child: ChildProcess; pending: Map<number, (r: HttpResult[]) => void> }>();
  let nextId = 1;
  await Promise.all(
    namespaces.map(
      (ns) =>
        new Promise<void>((resolve, reject) => {
          const child = spawn('ip', ['netns', 'exec', ns, process.execPath, AGENT], {
            stdio: ['pipe', 'pipe', 'inherit'],
          });
          t.teardown(() => child.kill('SIGKILL'));
          const pending = new Map<number, (r: HttpResult[]) => void>();
          agents.set(ns, { child, pending });
          createInterface({ input: child.stdout! }).on('line', (line) => {
            const msg = JSON.parse(line) as { ready?: boolean; id?: number; results?: HttpResult[] };
            if (msg.ready) resolve();
            else if (msg.id !== undefined) {
              pending.get(msg.id)?.(msg.results!);
              pending.delete(msg.id);
            }
          });
          child.once('exit', (code) => reject(new Error(`client agent in ${ns} exited ${code}`)));
        }),
    ),
  );
  return (from, host, port, count = 1, timeoutMs = 2000) => {
    const agent = agents.get(from);
    if (!agent) throw new Error(`no client agent in namespace ${from}`);
    const id = nextId++;
    return new Promise<HttpResult[]>((resolve) => {
      agent.pending.set(id, resolve);
      agent.child.stdin!.write(JSON.stringify({ id, host, port, count, timeoutMs }) + '\n');
    });
  };
}
