// The node API: what its routes read (pods, manifest errors, health, metrics, stats summary) and
// its listeners, kubelet's two: the plain read-only port and the authenticated HTTPS one (--port),
// serving one set of routes. With --rotate-server-certificates the HTTPS one waits
// for a certificate from the cluster and swaps renewals in without a restart.
import type { Logger } from '../../lib/log.js';
import { errorMessage } from '../../lib/errors.js';
import type { CertificateManager } from '../certificate/manager.js';
import type { AgentConfig } from '../config/config.js';
import { startNodeApi } from './node-api.js';
import { ReadOnlyServer } from './read-only.js';
import type { ReadOnlyApi } from './routes.js';
import type { SecureServer } from './secure.js';
import type { ProbeManager } from '../contracts.js';
import type { AgentMetrics } from '../metrics.js';
import type { Relist } from '../pods/relist.js';
import type { PodConfig } from '../sources/merger.js';
import type { DockerRuntime } from '../runtime/docker.js';
import type { ManifestError, PodSource } from '../sources/types.js';
import type { StatsProvider } from '../stats/summary.js';
import type { StatusManager } from '../status/status-manager.js';

/** What the node API's routes read: the desired pods with their statuses, errors, health, metrics. */
export function nodeApiRoutes(o: {
  podConfig: PodConfig;
  relister: Relist;
  status: StatusManager;
  /** The agent's sources (the array grows while the agent starts). */
  sources: PodSource[];
  metrics: AgentMetrics;
  prober?: ProbeManager;
  runtime: DockerRuntime;
  stats: StatsProvider;
}): ReadOnlyApi {
  const podsWithStatus = () =>
    o.podConfig
      .desired()
      .map(
        (p) => o.status.podWithStatus(p.metadata!.uid!) ?? { ...p, status: { phase: 'Pending', qosClass: undefined } },
      );
  const manifestErrors = (): ManifestError[] => [
    ...o.podConfig.rejected(),
    ...o.sources.flatMap((s) => (s.fetchError ? [s.fetchError] : [])),
  ];
  return {
    pods: podsWithStatus,
    manifestErrors,
    healthy: () => o.relister.healthy(),
    metrics: () => metricsText(o.metrics, o.podConfig, manifestErrors(), o.prober),
    summary: () => o.stats.summary(),
    runtime: o.runtime,
  };
}

/** The agent's metrics, with the desired pods and manifest errors counted by source just now. */
function metricsText(
  metrics: AgentMetrics,
  podConfig: PodConfig,
  manifestErrors: ManifestError[],
  prober: ProbeManager | undefined,
): string {
  const bySource: Record<string, number> = {};
  for (const p of podConfig.desired()) {
    const s = p.metadata?.annotations?.['kubernetes.io/config.source'] ?? 'unknown';
    bySource[s] = (bySource[s] ?? 0) + 1;
  }
  metrics.desiredPods.reset();
  for (const [source, n] of Object.entries(bySource)) metrics.desiredPods.set({ source }, n);
  metrics.manifestErrors.reset();
  const errs: Record<string, number> = {};
  for (const e of manifestErrors) errs[e.source] = (errs[e.source] ?? 0) + 1;
  for (const [source, n] of Object.entries(errs)) metrics.manifestErrors.set({ source }, n);
  return metrics.text([prober?.metricsText() ?? '']);
}

export class NodeApiServers {
  private readOnly?: ReadOnlyServer;
  private secure?: SecureServer;
  private nodeApi?: ReadOnlyApi;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly nodeName: string,
    private readonly logger: Logger,
  ) {}

  get readOnlyPort(): number {
    return this.readOnly?.port ?? 0;
  }

  /** Port of the authenticated HTTPS node API (--port), 0 when it does not run. */
  get securePort(): number {
    return this.secure?.port ?? 0;
  }

  /** One set of routes, two listeners: the plain read-only port and the authenticated HTTPS one. */
  async serve(nodeApi: ReadOnlyApi): Promise<void> {
    const { cfg, logger } = this;
    if (cfg.readOnlyPort > 0) {
      this.readOnly = new ReadOnlyServer(nodeApi, logger);
      await this.readOnly.listen(cfg.address, cfg.readOnlyPort);
    }
    this.nodeApi = nodeApi;
    this.secure = await startNodeApi(cfg, nodeApi, this.nodeName, logger); // throws naming a bad --tls-*/--client-ca-file
  }

  /**
   * --rotate-server-certificates: once the Node is registered (an approver compares the
   * certificate's SANs with its addresses), get the serving certificate, then serve the HTTPS
   * node API with it and keep it renewed; renewals swap it in without a restart.
   */
  async serveWithClusterCertificate(certificates: CertificateManager, stopped: () => boolean): Promise<void> {
    if (stopped()) return;
    try {
      const pair = await certificates.ensure();
      if (stopped()) return;
      this.secure = await startNodeApi(this.cfg, this.nodeApi!, this.nodeName, this.logger, {
        cert: pair.certPem,
        key: pair.keyPem,
      });
      certificates.startRotation();
    } catch (e) {
      if (!stopped())
        this.logger.error('node API (HTTPS) not started: no serving certificate', { error: errorMessage(e) });
    }
  }

  /** A renewed serving certificate, swapped into the running HTTPS server. */
  setCertificate(certPem: string, keyPem: string): void {
    this.secure?.setCertificate(certPem, keyPem);
  }

  async close(): Promise<void> {
    await this.readOnly?.close();
    await this.secure?.close();
  }
}
