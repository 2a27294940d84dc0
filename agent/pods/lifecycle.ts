// Lifecycle hooks (postStart, preStop): exec in the container, an HTTP GET to the pod, or a sleep.
// A hook has at most the time it is given (the grace period, for preStop); its failure is reported,
// never fatal to the agent.
// https://kubernetes.io/docs/concepts/containers/container-lifecycle-hooks/
import type { V1Container, V1LifecycleHandler } from '@kubernetes/client-node';
import type { ContainerRuntime } from '../runtime/types.js';

/** A named port ("http") resolved through the container's ports. */
export function resolvePort(port: number | string, container: V1Container | undefined): number {
  if (typeof port === 'number') return port;
  if (/^\d+$/.test(port)) return Number(port);
  const p = container?.ports?.find((x) => x.name === port);
  if (!p) throw new Error(`named port ${JSON.stringify(port)} is not defined by the container`);
  return p.containerPort;
}

export async function runHandler(
  h: V1LifecycleHandler,
  opts: { runtime: ContainerRuntime; containerId: string; container?: V1Container; podIP?: string; timeoutMs: number },
): Promise<void> {
  if (h.exec?.command?.length) {
    const r = await opts.runtime.exec(opts.containerId, h.exec.command, opts.timeoutMs);
    if (r.exitCode !== 0)
      throw new Error(
        `command ${JSON.stringify(h.exec.command)} exited with ${r.exitCode}: ${r.output.trim().slice(0, 512)}`,
      );
    return;
  }
  if (h.httpGet) {
    const g = h.httpGet;
    const host = g.host || opts.podIP;
    if (!host) throw new Error('httpGet hook: the pod has no IP');
    const port = resolvePort(g.port as number | string, opts.container);
    const scheme = (g.scheme ?? 'HTTP').toLowerCase();
    const url = `${scheme}://${host.includes(':') ? `[${host}]` : host}:${port}${g.path?.startsWith('/') ? g.path : `/${g.path ?? ''}`}`;
    const headers = Object.fromEntries((g.httpHeaders ?? []).map((x) => [x.name, x.value]));
    const res = await fetch(url, { headers, signal: AbortSignal.timeout(opts.timeoutMs) });
    await res.arrayBuffer().catch(() => undefined);
    if (res.status < 200 || res.status >= 400) throw new Error(`HTTP GET ${url} answered ${res.status}`);
    return;
  }
  if (h.sleep) {
    await new Promise((r) => setTimeout(r, Math.min(h.sleep!.seconds * 1000, opts.timeoutMs)));
    return;
  }
  // tcpSocket hooks are accepted by the API but do nothing, as in kubelet.
}
