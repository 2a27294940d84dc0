// A loopback TCP relay in front of a real server, which a test can cut (every connection reset,
// new ones refused) and restore on the same port: a network partition between one client and the
// server while other clients (the test's own) still reach the server directly.
import { once } from 'node:events';
import { connect, createServer, type Server, type Socket } from 'node:net';
import type { Teardownable } from './netns.js';

export interface TcpRelay {
  port: number;
  cut(): Promise<void>;
  restore(): Promise<void>;
}

export async function tcpRelay(t: Teardownable, target: { host: string; port: number }): Promise<TcpRelay> {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  const listen = async () => {
    const s = createServer((down) => {
      const up = connect(target.port, target.host);
      for (const [a, b] of [
        [down, up],
        [up, down],
      ] as const) {
        sockets.add(a);
        a.on('close', () => {
          sockets.delete(a);
          b.destroy();
        });
        a.on('error', () => b.destroy());
        a.pipe(b);
      }
    });
    s.listen(port, '127.0.0.1');
    await once(s, 'listening');
    port = (s.address() as { port: number }).port;
    server = s;
  };
  const cut = async () => {
    const s = server;
    server = undefined;
    for (const sock of sockets) sock.resetAndDestroy();
    if (s) await new Promise((r) => s.close(r));
  };
  await listen();
  t.teardown(cut);
  return { port, cut, restore: listen };
}
