// The TCP half of userspace mode: one listening socket per Service port, on an ephemeral port of
// every address (upstream's default --bind-address 0.0.0.0), that the nat rules redirect the
// Service's addresses to. Each accepted connection is connected to an endpoint and the bytes are
// copied both ways. A connect that fails (refused, unreachable, timed out) moves on to the next
// endpoint, so a backend that died before the EndpointSlice says so costs the client a few
// milliseconds, not an error.
import { createServer, type Server, type Socket, connect } from 'node:net';
import type { Logger } from '../../lib/log.js';
import { type EndpointPicker, parseHostPort } from './picker.js';

/** Connect timeouts per attempt (upstream: 250 ms, 500 ms, 1 s, 2 s), the last one repeated. */
export const DIAL_TIMEOUTS_MS = [250, 500, 1000, 2000];

export interface ProxySocket {
  readonly port: number;
  /**
   * Stop accepting. Connections in progress go on until either side closes them (a Service
   * removed), or are cut (dropConnections: the proxy is stopping).
   */
  close(dropConnections?: boolean): Promise<void>;
}

export class TcpProxySocket implements ProxySocket {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    private readonly open: Set<Socket>,
  ) {}

  static async listen(name: string, picker: EndpointPicker, log: Logger): Promise<TcpProxySocket> {
    const open = new Set<Socket>();
    const server = createServer({ pauseOnConnect: true, allowHalfOpen: true }, (client) => {
      open.add(client);
      client.once('close', () => open.delete(client));
      void proxyConnection(client, picker, log.with({ service: name }));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '0.0.0.0', () => resolve());
    });
    server.on('error', (e) => log.error('TCP proxy socket failed', { service: name, error: e.message }));
    const addr = server.address();
    if (addr === null || typeof addr === 'string') throw new Error(`TCP proxy socket for ${name} has no port`);
    return new TcpProxySocket(server, addr.port, open);
  }

  async close(dropConnections = false): Promise<void> {
    // server.close() calls back only when every connection has ended: not waited for.
    this.server.close();
    if (dropConnections) for (const c of this.open) c.destroy();
  }
}

/** Connect to host:port within timeoutMs; the error code on failure. */
function dial(host: string, port: number, timeoutMs: number): Promise<Socket | string> {
  return new Promise((resolve) => {
    const s = connect({ host, port, allowHalfOpen: true });
    const timer = setTimeout(() => {
      s.destroy();
      resolve('ETIMEDOUT');
    }, timeoutMs);
    s.once('connect', () => {
      clearTimeout(timer);
      s.removeAllListeners('error');
      resolve(s);
    });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve(e.code ?? e.message);
    });
  });
}

async function proxyConnection(client: Socket, picker: EndpointPicker, log: Logger): Promise<void> {
  const clientIP = client.remoteAddress ?? '';
  client.on('error', () => client.destroy());
  const candidates = picker.candidates(clientIP, Date.now());
  for (const [i, endpoint] of candidates.entries()) {
    if (client.destroyed) return;
    const { host, port } = parseHostPort(endpoint);
    const backend = await dial(host, port, DIAL_TIMEOUTS_MS[Math.min(i, DIAL_TIMEOUTS_MS.length - 1)]!);
    if (typeof backend === 'string') {
      log.info('endpoint connect failed; trying the next one', { endpoint, error: backend, client: clientIP });
      continue;
    }
    if (client.destroyed) {
      // The client gave up while we were connecting: nothing to relay.
      backend.destroy();
      return;
    }
    picker.connected(clientIP, endpoint, Date.now());
    splice(client, backend);
    return;
  }
  log.warn('no endpoint accepted the connection', { client: clientIP, tried: candidates.length });
  // The client sees a reset, as from a port nobody listens on.
  client.resetAndDestroy();
}

/** Copy bytes both ways; a reset on one side resets the other. */
function splice(client: Socket, backend: Socket): void {
  const fail = (other: Socket) => (e: NodeJS.ErrnoException) => {
    if (e.code === 'ECONNRESET') other.resetAndDestroy();
    else other.destroy();
  };
  client.removeAllListeners('error');
  client.on('error', fail(backend));
  backend.on('error', fail(client));
  client.on('close', () => backend.destroyed || backend.end());
  backend.on('close', () => client.destroyed || client.end());
  client.pipe(backend);
  backend.pipe(client);
  client.resume();
}
