// The streams of `kubectl exec`, `attach` and `logs` as Docker gives them: one hijacked
// connection, multiplexed in 8-byte frames unless the container has a TTY.
import type Docker from 'dockerode';
import { PassThrough, type Duplex, type Readable } from 'node:stream';
import type { InteractiveSession, StreamOptions } from './types.js';

/** stdout and stderr apart (demultiplexed without a TTY), stdin on the connection itself. */
export function interactiveSession(
  modem: Docker['modem'],
  conn: Duplex,
  o: StreamOptions,
  more: Pick<InteractiveSession, 'resize' | 'exitCode'>,
): InteractiveSession {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  if (o.tty) {
    conn.pipe(stdout);
    stderr.end();
  } else {
    modem.demuxStream(conn, stdout, stderr);
    conn.once('end', () => {
      stdout.end();
      stderr.end();
    });
  }
  conn.once('close', () => {
    if (!stdout.writableEnded) stdout.end();
    if (!stderr.writableEnded) stderr.end();
  });
  conn.on('error', () => conn.destroy());
  return { stdin: o.stdin ? conn : undefined, stdout, stderr, close: () => conn.destroy(), ...more };
}

/**
 * Docker's `since` as a Unix time with a fraction ("1763800000.250"): Docker keeps sub-second
 * precision, so sinceSeconds selects exactly the lines kubelet would (it filters by each line's
 * timestamp). 0 means the whole log.
 */
export function dockerSince(sinceMs: number | undefined): string | number {
  return sinceMs === undefined ? 0 : (Math.max(sinceMs, 1) / 1000).toFixed(3);
}

/** Docker's multiplexed log format: 8-byte headers (stream, 0, 0, 0, size32) before each frame. */
export function demuxBuffer(buf: Buffer): Buffer {
  if (!Buffer.isBuffer(buf)) return Buffer.from(String(buf ?? ''));
  const parts: Buffer[] = [];
  let i = 0;
  while (i + 8 <= buf.length) {
    const type = buf[i]!;
    if (type > 2 || buf[i + 1] !== 0 || buf[i + 2] !== 0 || buf[i + 3] !== 0) return buf; // a TTY container: not multiplexed
    const size = buf.readUInt32BE(i + 4);
    parts.push(buf.subarray(i + 8, i + 8 + size));
    i += 8 + size;
  }
  return Buffer.concat(parts);
}

/**
 * A command in a running container with its streams attached (`kubectl exec`). Without a TTY
 * Docker multiplexes stdout and stderr on one connection; they come apart here.
 */
export async function execInteractive(
  docker: Docker,
  id: string,
  cmd: string[],
  o: StreamOptions,
): Promise<InteractiveSession> {
  const exec = await docker
    .getContainer(id)
    .exec({ Cmd: cmd, AttachStdin: o.stdin, AttachStdout: o.stdout, AttachStderr: o.stderr, Tty: o.tty });
  const conn = (await exec.start({ hijack: true, stdin: o.stdin, Tty: o.tty })) as unknown as Duplex;
  return interactiveSession(docker.modem, conn, o, {
    resize: (w, h) => exec.resize({ w, h }).then(() => undefined),
    exitCode: async () => {
      // The output ends a moment before Docker records the exit code.
      for (let i = 0; i < 50; i++) {
        const info = await exec.inspect();
        if (!info.Running) return info.ExitCode ?? undefined;
        await new Promise((r) => setTimeout(r, 20));
      }
      return undefined;
    },
  });
}

/** The streams of a container's main process (`kubectl attach`); stdin only if the container keeps it open. */
export async function attachInteractive(docker: Docker, id: string, o: StreamOptions): Promise<InteractiveSession> {
  const c = docker.getContainer(id);
  const conn = (await c.attach({
    stream: true,
    hijack: true,
    stdin: o.stdin,
    stdout: o.stdout,
    stderr: o.stderr,
  })) as unknown as Duplex;
  return interactiveSession(docker.modem, conn, o, {
    resize: (w, h) => c.resize({ w, h }).then(() => undefined),
    // Attaching ends when the process does or when the client leaves; no exit code is reported.
    exitCode: async () => undefined,
  });
}

/** The container's log as one demultiplexed stream (stdout and stderr interleaved, as kubectl logs). */
export async function containerLogs(
  docker: Docker,
  id: string,
  opts: { follow: boolean; tail?: number; timestamps: boolean; sinceMs?: number },
): Promise<Readable> {
  const c = docker.getContainer(id);
  const params = {
    stdout: true,
    stderr: true,
    timestamps: opts.timestamps,
    since: dockerSince(opts.sinceMs),
    ...(opts.tail !== undefined ? { tail: opts.tail } : {}),
  };
  const out = new PassThrough();
  // A TTY container's log is the terminal's bytes, not Docker's multiplexed frames. Decide by
  // the container's Config.Tty, as kubelet's runtime knows it, never by guessing from the
  // bytes: a log shorter than one 8-byte frame header (a first "polo\r\n") cannot be told apart.
  const tty = (await c.inspect()).Config.Tty === true;
  if (opts.follow) {
    const raw = await c.logs({ ...params, follow: true });
    if (tty) (raw as unknown as Readable).pipe(out, { end: false });
    else docker.modem.demuxStream(raw, out, out);
    raw.on('end', () => out.end());
    raw.on('error', (e) => out.destroy(e));
    out.on('close', () => (raw as unknown as Readable).destroy());
  } else {
    const buf = (await c.logs({ ...params, follow: false })) as unknown as Buffer;
    out.end(tty ? (Buffer.isBuffer(buf) ? buf : Buffer.from(String(buf ?? ''))) : demuxBuffer(buf));
  }
  return out;
}
