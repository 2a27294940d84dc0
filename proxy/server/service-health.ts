// Health check node ports for externalTrafficPolicy Local Services (upstream:
// pkg/proxy/healthcheck/service_health.go): one HTTP server per spec.healthCheckNodePort,
// answering 200 while this node has a ready local endpoint for the Service and 503 otherwise,
// so an external load balancer only sends traffic to nodes that can serve it locally.
import type { Server } from 'node:http';
import type { Logger } from '../../lib/log.js';
import type { ProxyState } from '../model/types.js';
import { close, listen } from './bind.js';
import { errorMessage } from '../../lib/errors.js';

/** Service -> (health check port, local ready endpoint count), from the state (pure). */
export function serviceHealthTargets(
  state: Pick<ProxyState, 'services' | 'endpoints'>,
  nodeName: string,
): Map<string, { port: number; localEndpoints: number }> {
  const out = new Map<string, { port: number; localEndpoints: number }>();
  for (const [svc, ports] of state.services) {
    const hc = ports.find((p) => p.healthCheckNodePort > 0)?.healthCheckNodePort;
    if (!hc) continue;
    const local = new Set<string>();
    for (const p of ports) {
      for (const e of state.endpoints.get(`${p.name}/${p.protocol}`) ?? [])
        if (e.ready && e.nodeName === nodeName) local.add(`${e.ip}:${e.port}`);
    }
    out.set(svc, { port: hc, localEndpoints: local.size });
  }
  return out;
}

interface Entry {
  port: number;
  localEndpoints: number;
  servers: Server[];
}

export class ServiceHealthServer {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly log: Logger,
    /** Addresses to listen on (--nodeport-addresses); empty: all. */
    private readonly hosts: () => readonly string[] = () => [],
  ) {}

  async sync(targets: ReadonlyMap<string, { port: number; localEndpoints: number }>): Promise<void> {
    for (const [svc, e] of this.entries) {
      const t = targets.get(svc);
      if (!t || t.port !== e.port) {
        this.entries.delete(svc);
        await Promise.all(e.servers.map(close));
      }
    }
    for (const [svc, t] of targets) {
      const e = this.entries.get(svc);
      if (e) {
        e.localEndpoints = t.localEndpoints;
        continue;
      }
      const entry: Entry = { port: t.port, localEndpoints: t.localEndpoints, servers: [] };
      this.entries.set(svc, entry);
      const [namespace, name] = svc.split('/');
      const hosts = this.hosts().length ? this.hosts() : ['0.0.0.0'];
      for (const host of hosts) {
        try {
          entry.servers.push(
            await listen(
              (_req, res) => {
                const n = entry.localEndpoints;
                res.writeHead(n > 0 ? 200 : 503, {
                  'Content-Type': 'application/json',
                  'X-Content-Type-Options': 'nosniff',
                  'X-Load-Balancing-Endpoint-Weight': String(n),
                });
                res.end(
                  JSON.stringify({ service: { namespace, name }, localEndpoints: n, serviceProxyHealthy: true }) + '\n',
                );
              },
              host,
              t.port,
            ),
          );
          this.log.info('health check node port opened', { service: svc, address: `${host}:${t.port}` });
        } catch (err) {
          this.log.error('cannot open health check node port', {
            service: svc,
            address: `${host}:${t.port}`,
            error: errorMessage(err),
          });
        }
      }
    }
  }

  async stop(): Promise<void> {
    for (const e of this.entries.values()) await Promise.all(e.servers.map(close));
    this.entries.clear();
  }
}
