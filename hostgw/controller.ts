// Keeps this machine's host-gw routes equal to what the Node objects ask for: a watch on Nodes
// triggers a sync (debounced), and a periodic resync repairs routes someone else removed.
// One owner of the loop, one stop().
import * as k8s from '@kubernetes/client-node';
import type { V1Node } from '@kubernetes/client-node';
import type { Logger } from '../lib/log.js';
import { applyRouteSync, readHostGwRoutes, readLocalAddresses } from './apply.js';
import { HOSTGW_ROUTE_PROTOCOL } from './iproute.js';
import { desiredRoutes, planRouteSync, type SkippedNode } from './routes.js';

export interface HostGwControllerOptions {
  kubeconfig: string;
  /** This node; absent on the machine hosting emulated nodes, which routes to every node. */
  nodeName?: string;
  clusterCIDR?: string;
  /** Re-plan this often even without Node events (ms). */
  resyncMs?: number;
  logger: Logger;
}

/** The apiserver's own message when there is one (client-node puts the Status in body), short. */
export function errorText(e: unknown): string {
  const err = e as { body?: unknown; code?: number; message?: string };
  let msg = err?.message ?? String(e);
  if (typeof err?.body === 'string') {
    try {
      msg = (JSON.parse(err.body) as { message?: string }).message ?? msg;
    } catch {
      /* not JSON */
    }
  } else if (err?.body && typeof err.body === 'object' && 'message' in err.body) {
    msg = String((err.body as { message: unknown }).message);
  }
  msg = msg.split('\n')[0]!;
  return (err?.code ? `HTTP ${err.code}: ` : '') + (msg.length > 300 ? msg.slice(0, 300) + '...' : msg);
}

export class HostGwController {
  private informer?: k8s.Informer<V1Node> & k8s.ObjectCache<V1Node>;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private restart?: NodeJS.Timeout;
  private syncing: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastSkipped = '';
  private synced = false;

  constructor(private readonly opts: HostGwControllerOptions) {}

  async start(): Promise<void> {
    const kc = new k8s.KubeConfig();
    kc.loadFromFile(this.opts.kubeconfig);
    const api = kc.makeApiClient(k8s.CoreV1Api);
    const informer = k8s.makeInformer<V1Node>(kc, '/api/v1/nodes', () => api.listNode());
    this.informer = informer;
    const changed = () => this.schedule();
    informer.on('add', changed);
    informer.on('update', changed);
    informer.on('delete', changed);
    informer.on('connect', changed);
    informer.on('error', (err) => {
      if (this.stopped) return;
      // The informer stops on a watch error; start it again after a pause (the apiserver may be
      // restarting, or this node partitioned away). Routes stay as they are meanwhile.
      this.opts.logger.warn('node watch failed; retrying in 2s', { error: errorText(err) });
      this.restart = setTimeout(() => {
        informer.start().catch(() => {});
      }, 2000);
    });
    try {
      await informer.start();
    } catch (e) {
      // The apiserver is not reachable yet (a node often starts before it): keep trying.
      this.opts.logger.warn('node list failed; retrying in 2s', { error: errorText(e) });
      this.restart = setTimeout(() => {
        informer.start().catch(() => {});
      }, 2000);
    }
    this.timer = setInterval(() => this.schedule(), this.opts.resyncMs ?? 10_000);
    this.schedule();
  }

  private schedule(): void {
    if (this.stopped || this.debounce) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.syncing = this.syncing
        .then(() => this.sync())
        .catch((e) => this.opts.logger.error('route sync failed', { error: e as Error }));
    }, 100);
  }

  /** One reconcile: Nodes (from the informer cache) and kernel state in, one `ip -batch` out. */
  async sync(): Promise<void> {
    if (this.stopped || !this.informer) return;
    const nodes = this.informer.list();
    const local = await readLocalAddresses();
    const { routes, skipped } = desiredRoutes(nodes, {
      nodeName: this.opts.nodeName,
      clusterCIDR: this.opts.clusterCIDR,
      local,
    });
    this.reportSkipped(skipped);
    const actual = await readHostGwRoutes(HOSTGW_ROUTE_PROTOCOL);
    const plan = planRouteSync(routes, actual, this.opts.clusterCIDR);
    if (plan.replace.length === 0 && plan.remove.length === 0) {
      if (!this.synced) this.opts.logger.info('routes in sync', { routes: routes.map((r) => `${r.dst} via ${r.via}`) });
      this.synced = true;
      return;
    }
    const res = await applyRouteSync(plan, HOSTGW_ROUTE_PROTOCOL);
    this.synced = res.errors.length === 0;
    this.opts.logger.info('routes updated', {
      replaced: plan.replace.map((r) => `${r.dst} via ${r.via} dev ${r.dev}`),
      removed: plan.remove.map((r) => `${r.dst} via ${r.via}`),
      ...(res.errors.length ? { errors: res.errors } : {}),
    });
  }

  /** Log why nodes are not routed, once per change, so a steady state does not flood the log. */
  private reportSkipped(skipped: SkippedNode[]): void {
    const key = JSON.stringify(skipped);
    if (key === this.lastSkipped) return;
    this.lastSkipped = key;
    for (const s of skipped) {
      const log = s.kind === 'waiting' ? this.opts.logger.info : this.opts.logger.warn;
      log(`node ${s.node} not routed`, { node: s.node, kind: s.kind, field: s.field, reason: s.reason });
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    clearTimeout(this.debounce);
    clearTimeout(this.restart);
    await this.informer?.stop().catch(() => {});
    await this.syncing;
  }
}
