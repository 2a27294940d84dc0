// The proxy's own health, as kube-proxy serves it on --healthz-bind-address: healthy while the
// last successful sync is recent (within twice the full sync period), unhealthy before the first
// one and when syncs keep failing. Load balancers use it to stop sending traffic to a node whose
// rules may be stale.
import type { IncomingMessage, ServerResponse } from 'node:http';

export class ProxyHealth {
  lastSynced: Date | undefined;

  constructor(
    readonly timeoutMs: number,
    private readonly now: () => Date = () => new Date(),
  ) {}

  synced(): void {
    this.lastSynced = this.now();
  }

  healthy(): boolean {
    return this.lastSynced !== undefined && this.now().getTime() - this.lastSynced.getTime() <= this.timeoutMs;
  }

  handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/healthz' && path !== '/livez') {
      res.writeHead(404).end('not found\n');
      return;
    }
    const ok = this.healthy();
    res.writeHead(ok ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
    res.end(
      JSON.stringify({
        lastUpdated: this.lastSynced?.toISOString() ?? '',
        currentTime: this.now().toISOString(),
        nodeEligible: true,
        healthy: ok,
      }) + '\n',
    );
  };
}
