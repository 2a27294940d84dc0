// Small helpers the handlers share: kubelet's user agent, and error texts that read like the
// ones kubelet puts in its Unhealthy events ("dial tcp 10.1.0.5:80: connect: connection refused").
import { truncate as truncateText } from '../../../lib/truncate.js';

/** kubelet sends "kube-probe/<major>.<minor>"; apps filter probe traffic from their logs by it. */
export const PROBE_USER_AGENT = 'kube-probe/1.34';

/** At most this many bytes of a body or of exec output are read (kubelet reads 10 KiB). */
export const MAX_READ_BYTES = 10 * 1024;

/** Output quoted in a message is cut here, so one chatty probe cannot flood the log. */
export const MAX_MESSAGE_OUTPUT = 1024;

export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const SYSCALL_TEXT: Record<string, string> = {
  ECONNREFUSED: 'connect: connection refused',
  EHOSTUNREACH: 'connect: no route to host',
  ENETUNREACH: 'connect: network is unreachable',
  ECONNRESET: 'read: connection reset by peer',
  EPIPE: 'write: broken pipe',
  EADDRNOTAVAIL: 'connect: cannot assign requested address',
};

/** "dial tcp 10.1.0.5:80: connect: connection refused" for a failed connection. */
export function dialError(host: string, port: number, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const text = (e?.code && SYSCALL_TEXT[e.code]) || e?.message || String(err);
  return `dial tcp ${hostPort(host, port)}: ${text}`;
}

/** A probe's output in its message: trimmed, and cut at MAX_MESSAGE_OUTPUT. */
export function truncate(s: string, max = MAX_MESSAGE_OUTPUT): string {
  return truncateText(s.trim(), max);
}

/** Call fn when the signal aborts (at once if it already has); returns the unsubscribe. */
export function onAbort(signal: AbortSignal, fn: () => void): () => void {
  if (signal.aborted) {
    fn();
    return () => {};
  }
  signal.addEventListener('abort', fn, { once: true });
  return () => signal.removeEventListener('abort', fn);
}
