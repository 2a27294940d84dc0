// The read-only HTTP API (--read-only-port, 10255 as kubelet's): no authentication, nothing that
// changes state. Its routes (routes.ts) are the same the authenticated HTTPS port serves.
import { createServer, type Server } from 'node:http';
import type { Logger } from '../../lib/log.js';
import { createRouter, guarded, type ReadOnlyApi } from './routes.js';
import { errorMessage } from '../../lib/errors.js';

export type { ReadOnlyApi } from './routes.js';

export class ReadOnlyServer {
  private server?: Server;
  port = 0;

  constructor(
    private readonly api: ReadOnlyApi,
    private readonly logger: Logger,
  ) {}

  async listen(host: string, port: number): Promise<number> {
    this.server = createServer(guarded(createRouter(this.api)));
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (e) =>
        reject(new Error(`read-only API cannot listen on ${host}:${port}: ${errorMessage(e)}`)),
      );
      this.server!.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    this.logger.info('read-only API listening', { address: `${host}:${this.port}` });
    return this.port;
  }

  async close(): Promise<void> {
    if (!this.server) return;
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server!.close(() => r()));
  }
}
