// The UDP half of userspace mode: one socket per Service port; each client address ("ip:port")
// is a "connection" with a socket of its own towards the endpoint picked for it, so replies can
// be told apart and sent back from the Service socket. A connection idle in both directions for
// --udp-timeout is closed (upstream's default: 250 ms).
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import type { Logger } from '../../lib/log.js';
import { type EndpointPicker, parseHostPort } from './picker.js';
import type { ProxySocket } from './tcp.js';

interface UdpConnection {
  backend: Socket;
  host: string;
  port: number;
  timer: NodeJS.Timeout;
}

export class UdpProxySocket implements ProxySocket {
  private readonly connections = new Map<string, UdpConnection>();

  private constructor(
    private readonly sock: Socket,
    readonly port: number,
    private readonly picker: EndpointPicker,
    private readonly idleMs: number,
    private readonly log: Logger,
  ) {
    sock.on('message', (msg, rinfo) => this.fromClient(msg, rinfo));
    sock.on('error', (e) => log.error('UDP proxy socket failed', { error: e.message }));
  }

  static async listen(name: string, picker: EndpointPicker, idleMs: number, log: Logger): Promise<UdpProxySocket> {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, '0.0.0.0', () => {
        sock.removeListener('error', reject);
        resolve();
      });
    });
    return new UdpProxySocket(sock, sock.address().port, picker, idleMs, log.with({ service: name }));
  }

  /** Client connections open now. */
  get clients(): number {
    return this.connections.size;
  }

  private fromClient(msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`;
    let c = this.connections.get(key);
    if (!c) {
      const endpoint = this.picker.candidates(rinfo.address, Date.now())[0];
      if (!endpoint) return; // no endpoint: dropped (the rules reject before this, normally)
      c = this.open(key, rinfo, endpoint);
    }
    this.touch(key, c);
    c.backend.send(msg, c.port, c.host);
  }

  private open(key: string, client: RemoteInfo, endpoint: string): UdpConnection {
    const { host, port } = parseHostPort(endpoint);
    const backend = createSocket('udp4');
    const c: UdpConnection = { backend, host, port, timer: setTimeout(() => this.drop(key), this.idleMs) };
    backend.on('message', (reply, from) => {
      if (from.address !== host || from.port !== port) return;
      this.touch(key, c);
      this.sock.send(reply, client.port, client.address);
    });
    backend.on('error', (e) => {
      this.log.info('UDP endpoint failed; the client gets a new one with its next datagram', {
        endpoint,
        error: e.message,
      });
      this.drop(key);
    });
    this.connections.set(key, c);
    this.picker.connected(client.address, endpoint, Date.now());
    return c;
  }

  private touch(key: string, c: UdpConnection): void {
    clearTimeout(c.timer);
    c.timer = setTimeout(() => this.drop(key), this.idleMs);
  }

  private drop(key: string): void {
    const c = this.connections.get(key);
    if (!c) return;
    clearTimeout(c.timer);
    this.connections.delete(key);
    c.backend.close();
  }

  close(_dropConnections?: boolean): Promise<void> {
    for (const key of [...this.connections.keys()]) this.drop(key);
    return new Promise((resolve) => this.sock.close(() => resolve()));
  }
}
