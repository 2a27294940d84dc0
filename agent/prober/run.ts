// One probe attempt: resolve where to connect, run the handler, and enforce timeoutSeconds with
// an AbortController. The verdict is due at the timeout at the latest, even when the handler
// cannot be interrupted (an exec that ignores us); `done` says when the handler really finished,
// so a worker never starts a second attempt while the first one still runs.
import { execProbe } from './handlers/exec.js';
import { GrpcConnection, grpcProbe } from './handlers/grpc.js';
import { hostPort } from './handlers/common.js';
import { httpProbe } from './handlers/http.js';
import { tcpProbe } from './handlers/tcp.js';
import { resolvePort } from '../podspec/ports.js';
import type { ProbeSpec } from '../podspec/probe-spec.js';
import type { ProbeOutcome, ProbeTarget } from './types.js';
import { errorMessage } from '../../lib/errors.js';

export interface RunningProbe {
  /** The verdict: at completion, or at the timeout. */
  outcome: Promise<ProbeOutcome>;
  /** Settles when the handler itself has finished (after outcome, for a hung exec). */
  done: Promise<void>;
  /** Abort (worker stopped): clears the timeout timer, closes sockets. */
  cancel(): void;
}

/** What a worker keeps between its probes (a gRPC connection); closed when the worker stops. */
export class ProbeConnections {
  grpc = new GrpcConnection();
  close(): void {
    this.grpc.close();
  }
}

export type ProbeRunner = (spec: ProbeSpec, target: ProbeTarget, connections?: ProbeConnections) => RunningProbe;

export const runProbe: ProbeRunner = (spec, target, connections) => {
  const timeoutMs = spec.timeoutSeconds * 1000;
  const ac = new AbortController();
  let settle!: (o: ProbeOutcome) => void;
  const outcome = new Promise<ProbeOutcome>((resolve) => (settle = resolve));
  let settled = false;
  let late: NodeJS.Immediate | undefined;
  let timer: NodeJS.Timeout | undefined = setTimeout(() => {
    timer = undefined;
    // libuv runs expired timers before it polls for I/O: after the process was starved of CPU
    // for a while, this timer would fire before the answer that arrived in the meantime is
    // read. Look once more after the I/O phase (setImmediate) before calling it a timeout.
    late = setImmediate(() => {
      late = undefined;
      if (settled) return;
      ac.abort();
      settled = true;
      settle({ result: 'failure', message: `timeout after ${spec.timeoutSeconds}s` });
    });
  }, timeoutMs);
  const clear = () => {
    if (timer) clearTimeout(timer);
    if (late) clearImmediate(late);
    timer = undefined;
    late = undefined;
  };
  const done = runHandler(spec, target, timeoutMs, ac.signal, connections).then(
    (o) => {
      clear();
      if (!settled) settle(o);
      settled = true;
    },
    (e: unknown) => {
      clear();
      if (!settled) settle({ result: 'unknown', message: `probe error: ${errorMessage(e)}` });
      settled = true;
    },
  );
  return {
    outcome,
    done,
    cancel: () => {
      clear();
      ac.abort();
    },
  };
};

async function runHandler(
  spec: ProbeSpec,
  target: ProbeTarget,
  timeoutMs: number,
  signal: AbortSignal,
  connections?: ProbeConnections,
): Promise<ProbeOutcome> {
  const h = spec.handler;
  if (h.kind === 'exec') return execProbe(target, h.command, timeoutMs);
  const host = h.kind === 'grpc' ? target.podIP() : (h.host ?? target.podIP());
  if (!host) return { result: 'unknown', message: 'the pod has no IP address yet' };
  let port: number;
  try {
    port = resolvePort(h.port, target.container);
  } catch (e) {
    return { result: 'unknown', message: errorMessage(e) };
  }
  switch (h.kind) {
    case 'tcpSocket':
      return tcpProbe(host, port, signal);
    case 'grpc':
      return grpcProbe(host, port, h.service, timeoutMs, signal, connections?.grpc);
    case 'httpGet': {
      const path = h.path.startsWith('/') ? h.path : `/${h.path}`;
      let url: URL;
      try {
        url = new URL(`${h.scheme.toLowerCase()}://${hostPort(host, port)}${path}`);
      } catch {
        return {
          result: 'unknown',
          message: `invalid probe URL for host ${JSON.stringify(host)} and path ${JSON.stringify(h.path)}`,
        };
      }
      return httpProbe({ url, headers: h.headers, signal });
    }
  }
}
