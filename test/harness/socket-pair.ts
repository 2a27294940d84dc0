// Two ends of one real TCP connection on loopback, for tests of protocol code that reads and
// writes a socket (SPDY, WebSocket): [client, server]. Both ends and the listener go at teardown.
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import type { Teardownable } from './netns.js';

export async function socketPair(t: Teardownable): Promise<[Socket, Socket]> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  await once(client, 'connect');
  const [serverSide] = await accepted;
  t.teardown(() => {
    client.destroy();
    serverSide.destroy();
  });
  return [client, serverSide];
}
