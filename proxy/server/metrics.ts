// Prometheus text metrics with kube-proxy's names, written by hand (no client library needed for
// a handful of series).
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { SyncResult } from '../proxier.js';

/** kube-proxy's buckets for sync durations: 1 ms doubling up to about 16 s. */
const BUCKETS = Array.from({ length: 15 }, (_, i) => 0.001 * 2 ** i);

class Histogram {
  private counts = new Array<number>(BUCKETS.length).fill(0);
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
  ) {}
  observe(seconds: number): void {
    this.sum += seconds;
    this.count++;
    BUCKETS.forEach((b, i) => {
      if (seconds <= b) this.counts[i]!++;
    });
  }
  render(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    BUCKETS.forEach((b, i) => {
      lines.push(`${this.name}_bucket{le="${+b.toPrecision(6)}"} ${this.counts[i]}`);
    });
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    );
    return lines.join('\n') + '\n';
  }
}

export class ProxyMetrics {
  readonly syncDuration = new Histogram(
    'kubeproxy_sync_proxy_rules_duration_seconds',
    'SyncProxyRules latency in seconds',
  );
  readonly fullSyncDuration = new Histogram(
    'kubeproxy_sync_full_proxy_rules_duration_seconds',
    'Full SyncProxyRules latency in seconds',
  );
  readonly partialSyncDuration = new Histogram(
    'kubeproxy_sync_partial_proxy_rules_duration_seconds',
    'Partial SyncProxyRules latency in seconds',
  );
  private lastSync = 0;
  private lastQueued = 0;
  private rules: Record<string, number> = {};
  private failures = 0;
  private syncs = { full: 0, partial: 0 };
  private objects: { services: number; endpointSlices: number } = { services: 0, endpointSlices: 0 };

  constructor(readonly mode: string) {}

  queued(): void {
    this.lastQueued = Date.now() / 1000;
  }

  synced(r: SyncResult, objects: { services: number; endpointSlices: number }): void {
    const s = r.durationMs / 1000;
    this.syncDuration.observe(s);
    (r.full ? this.fullSyncDuration : this.partialSyncDuration).observe(s);
    this.syncs[r.full ? 'full' : 'partial']++;
    this.lastSync = Date.now() / 1000;
    this.rules = r.rules;
    this.objects = objects;
  }

  failed(): void {
    this.failures++;
  }

  render(): string {
    const g = (name: string, help: string, type: 'gauge' | 'counter', values: Array<[string, number]>) =>
      `# HELP ${name} ${help}\n# TYPE ${name} ${type}\n${values.map(([l, v]) => `${name}${l} ${v}`).join('\n')}\n`;
    return [
      this.syncDuration.render(),
      this.fullSyncDuration.render(),
      this.partialSyncDuration.render(),
      g(
        'kubeproxy_sync_proxy_rules_last_timestamp_seconds',
        'The last time proxy rules were successfully synced',
        'gauge',
        [['', this.lastSync]],
      ),
      g(
        'kubeproxy_sync_proxy_rules_last_queued_timestamp_seconds',
        'The last time a sync of proxy rules was queued',
        'gauge',
        [['', this.lastQueued]],
      ),
      g(
        `kubeproxy_sync_proxy_rules_${this.mode}_total`,
        'Number of proxy rules programmed, by table',
        'gauge',
        Object.entries(this.rules).map(([t, n]) => [`{table="${t}"}`, n]),
      ),
      g(
        `kubeproxy_sync_proxy_rules_${this.mode}_restore_failures_total`,
        'Syncs whose kernel programming failed',
        'counter',
        [['', this.failures]],
      ),
      g('kubenode_proxy_syncs_total', 'Syncs completed, by kind', 'counter', [
        ['{kind="full"}', this.syncs.full],
        ['{kind="partial"}', this.syncs.partial],
      ]),
      g('kubenode_proxy_services', 'Services the proxy knows', 'gauge', [['', this.objects.services]]),
      g('kubenode_proxy_endpointslices', 'EndpointSlices the proxy knows', 'gauge', [
        ['', this.objects.endpointSlices],
      ]),
      g('process_resident_memory_bytes', 'Resident memory size in bytes', 'gauge', [['', process.memoryUsage.rss()]]),
    ].join('');
  }

  handler = (req: IncomingMessage, res: ServerResponse): void => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(this.render());
    } else if (path === '/proxyMode') {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end(this.mode);
    } else if (path === '/healthz') {
      res.writeHead(200).end('ok');
    } else {
      res.writeHead(404).end('not found\n');
    }
  };
}
