// The streams of `kubectl exec`, `attach` and `logs` as Docker gives them: one hijacked
// connection, multiplexed in 8-byte frames unless the container has a TTY.
import type Docker from 'dockerode';
import { PassThrough, type Duplex } from 'node:stream';
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
