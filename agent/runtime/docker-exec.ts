// ProbeTarget.exec for Docker: run a command in a container with dockerode, collect its output
// (stdout and stderr interleaved, at most 10 KiB, as kubelet keeps), and KILL it when the
// timeout passes. The Docker API has no call to kill an exec, so a timed-out exec would live
// on: a probe `sleep 1000` run every second would pile up a thousand sleeps. On timeout we ask
// Docker for the exec's process id (a host pid), check that it belongs to this container's
// cgroup (never kill a recycled pid), stop it and all its descendants, then SIGKILL them.
// This needs the agent in the host's pid namespace, with root: the agent's normal setting.
// The agent's runtime reuses this (see dockerProbeTarget in docker-target.ts).
import type Docker from 'dockerode';
import { readdirSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ExecTimeoutError } from '../prober/handlers/exec.js';
import { MAX_READ_BYTES } from '../prober/handlers/common.js';

export { ExecTimeoutError };

export interface DockerExecResult {
  exitCode: number;
  output: string;
}

export async function dockerExec(
  docker: Docker,
  containerId: string,
  cmd: string[],
  timeoutMs: number,
  maxOutputBytes = MAX_READ_BYTES,
): Promise<DockerExecResult> {
  const t0 = Date.now();
  const exec = await docker
    .getContainer(containerId)
    .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, AttachStdin: false, Tty: false });
  const stream = await exec.start({ hijack: true, stdin: false });
  const output: Buffer[] = [];
  let kept = 0;
  let pending: Buffer = Buffer.alloc(0);
  // Without a TTY, Docker multiplexes: 8-byte header (stream, 0, 0, 0, size BE32), then payload.
  const onData = (chunk: Buffer) => {
    pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    while (pending.length >= 8) {
      const size = pending.readUInt32BE(4);
      if (pending.length < 8 + size) break;
      if (kept < maxOutputBytes) {
        const part = pending.subarray(8, 8 + Math.min(size, maxOutputBytes - kept));
        output.push(part);
        kept += part.length;
      }
      pending = pending.subarray(8 + size);
    }
  };
  stream.on('data', onData);

  let timer: NodeJS.Timeout | undefined;
  const finished = await new Promise<'ended' | 'timeout'>((resolve) => {
    const end = () => resolve('ended');
    stream.once('end', end);
    stream.once('close', end);
    stream.once('error', end);
    timer = setTimeout(() => resolve('timeout'), Math.max(0, timeoutMs - (Date.now() - t0)));
  });
  clearTimeout(timer);

  if (finished === 'timeout') {
    stream.destroy();
    const detail = await killExec(exec);
    throw new ExecTimeoutError(timeoutMs, detail);
  }
  // The exit code is recorded a moment after the output stream closes.
  for (let i = 0; i < 50; i++) {
    const info = await exec.inspect();
    if (!info.Running && info.ExitCode !== null && info.ExitCode !== undefined) {
      return { exitCode: info.ExitCode, output: Buffer.concat(output).toString('utf8') };
    }
    await sleep(10);
  }
  throw new Error(`exec ${JSON.stringify(cmd)} in ${containerId}: output ended but Docker reports no exit code`);
}

/** Kill a timed-out exec's process tree; returns what was done, for the probe's message. */
async function killExec(exec: Docker.Exec): Promise<string> {
  const info = await exec.inspect();
  if (!info.Running || !info.Pid) return 'it had already exited';
  const killed = killProcessTree(info.Pid, info.ContainerID);
  if (typeof killed === 'string') return killed;
  for (let i = 0; i < 50; i++) {
    if (!(await exec.inspect()).Running) break;
    await sleep(10);
  }
  return `killed ${killed.length} process${killed.length === 1 ? '' : 'es'} (pid ${killed.join(', ')})`;
}

/**
 * SIGKILL a process and every descendant, only if it runs in the container with this id.
 * The tree is frozen with SIGSTOP first, so a shell cannot start new children while we kill;
 * descendants are found from /proc/<pid>/stat parent links. Returns the pids, or why not.
 */
export function killProcessTree(rootPid: number, containerId: string): number[] | string {
  if (!inContainer(rootPid, containerId))
    return `pid ${rootPid} is not a process of container ${containerId.slice(0, 12)} (not in this pid namespace?); could not kill it`;
  const stopped = new Set<number>();
  for (let pass = 0; pass < 5; pass++) {
    const tree = descendants(rootPid);
    const fresh = tree.filter((p) => !stopped.has(p));
    if (fresh.length === 0) break;
    for (const p of fresh) {
      signal(p, 'SIGSTOP');
      stopped.add(p);
    }
  }
  for (const p of stopped) signal(p, 'SIGKILL');
  return [...stopped];
}

function inContainer(pid: number, containerId: string): boolean {
  try {
    return containerId.length >= 12 && readFileSync(`/proc/${pid}/cgroup`, 'utf8').includes(containerId);
  } catch {
    return false;
  }
}

/** pid and all its descendants, parents before children. */
function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    // "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ')'.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    const list = children.get(ppid);
    if (list) list.push(Number(name));
    else children.set(ppid, [Number(name)]);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length) {
    const p = queue.shift()!;
    out.push(p);
    queue.push(...(children.get(p) ?? []));
  }
  return out;
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}
