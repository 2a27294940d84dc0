// The agent: wires sources -> desired state (PodConfig) -> pod workers -> Docker, with the prober,
// the status manager, garbage collection and the HTTP APIs around them. It owns every long-running
// loop (relist, housekeeping) and stops them all in stop(); pods keep running across a restart
// and are adopted by the next agent through their container labels.
import { mkdir } from 'node:fs/promises';
import { hostname } from 'node:os';
import type { Logger } from '../lib/log.js';
import type { AgentConfig } from './config/config.js';
import { type CniNetwork, ProbeManager } from './contracts.js';
import { collectNetworkGarbage, NETWORK_GC_INTERVAL_MS } from './network/network-gc.js';
import type { PodContext } from './pods/context.js';
import { buildPodContext } from './pod-context.js';
import type { DockerRuntime } from './runtime/docker.js';
import type { PodPresence } from './runtime/housekeeping.js';
import { AgentMetrics } from './metrics.js';
import { connectDependencies, type AgentDependencies } from './node/dependencies.js';
import { NodeApiServers, nodeApiRoutes } from './server/node-api-servers.js';
import { PodManagement } from './pods/pod-management.js';
import type { ManifestServer } from './sources/manifest-server.js';
import { PodConfig } from './sources/merger.js';
import { ANNOTATIONS, type PodSource } from './sources/types.js';
import { addConfiguredSources } from './sources/setup.js';
import { startEviction, type NodeEviction } from './eviction/setup.js';
import { StatsProvider } from './stats/summary.js';
import { StatusManager } from './status/status-manager.js';
// Type-only: the apiserver side (and @kubernetes/client-node, ~80 MiB) is loaded only with --kubeconfig.
import type { ApiserverSide } from './apiserver/setup.js';
import type { CertificateManager } from './certificate/manager.js';
// Events: pure here; the apiserver sink is imported by createEventRecorder only with --kubeconfig.
import { createEventRecorder, type Recorder } from './events/recorder.js';
import { containerRef, nodeRef } from './events/types.js';
import { errorMessage } from '../lib/errors.js';

export class Agent {
  readonly nodeName: string;
  private readonly metrics = new AgentMetrics();
  private readonly status = new StatusManager();
  private runtime!: DockerRuntime;
  private prober?: ProbeManager;
  private sources: PodSource[] = [];
  private extraSources: PodSource[] = [];
  private manifestServer?: ManifestServer;
  private timers: NodeJS.Timeout[] = [];
  private stopEvents?: () => void;
  private ctx!: PodContext;
  private stopped = false;
  private clientCertificates?: CertificateManager;
  /** What runs with --kubeconfig: the Node, the apiserver's pods, Services, the serving certificate. */
  private readonly api: ApiserverSide = {};
  private recorder?: Recorder;
  private eviction?: NodeEviction;
  private podConfig!: PodConfig;
  private pods!: PodManagement;
  private readonly servers: NodeApiServers;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly logger: Logger,
  ) {
    this.nodeName = (cfg.hostnameOverride ?? hostname()).toLowerCase();
    this.servers = new NodeApiServers(cfg, this.nodeName, logger);
  }

  get readOnlyPort(): number {
    return this.servers.readOnlyPort;
  }

  /** Port of the authenticated HTTPS node API (--port), 0 when it does not run. */
  get securePort(): number {
    return this.servers.securePort;
  }

  get manifestServerPort(): number {
    return this.manifestServer?.port ?? 0;
  }

  /**
   * Another pod source (the apiserver's, when the node joins a control plane), added before start(): it
   * emits snapshots or add/update/remove for its own source name, merged with the others by UID.
   */
  addSource(source: PodSource): void {
    this.extraSources.push(source);
  }

  /** Pod statuses as they change (for writing them to the apiserver). */
  get statuses(): StatusManager {
    return this.status;
  }

  async start(): Promise<void> {
    const cfg = this.cfg;
    const logger = this.logger;
    await mkdir(cfg.rootDir, { recursive: true });
    await this.bootstrapCredentials();
    const deps = await connectDependencies(cfg, logger);
    const { cgroups, hostIPs, network } = deps;
    this.runtime = deps.runtime;
    const recorder = (this.recorder = await createEventRecorder({
      nodeName: this.nodeName,
      logger,
      kubeconfig: cfg.kubeconfig,
      count: (o) => this.metrics.events.inc({ result: o }),
    }));
    recorder.event(nodeRef(this.nodeName), 'Normal', 'Starting', 'Starting kubenode agent.');
    const prober = (this.prober = new ProbeManager({
      logger: logger.with({ component: 'prober' }),
      onChange: (c) => this.pods?.workers.onProbeChange(c),
      onEvent: (e) => recorder.event(containerRef(e.pod, e.containerName), e.type, e.reason, e.message),
    }));
    await this.startPods(deps, recorder, prober);

    this.manifestServer = await addConfiguredSources(cfg, this.nodeName, logger, this.sources);
    if (cfg.kubeconfig) await this.connectApiserver(cfg.kubeconfig, deps, recorder);
    this.sources.push(...this.extraSources);
    for (const s of this.sources) this.podConfig.register(s.name);

    logger.info('agent starting', {
      node: this.nodeName,
      hostIP: hostIPs[0],
      docker: deps.dockerVersion,
      cgroupVersion: cgroups.version,
      cgroupRoot: cgroups.root,
      instance: cfg.instance,
      sources: this.sources.map((s) => s.name),
    });

    // Container events wake the pod's worker at once; the relist below is the safety net.
    this.stopEvents = this.runtime.watchEvents((e) => {
      if (e.podUid && !e.ours) this.pods.workers.requestSync(e.podUid);
    });
    await this.serveNodeApi(deps);
    await this.startLoops(network);
  }

  /** The pods' context, their management (workers, GC, desired state) and the eviction manager. */
  private async startPods(deps: AgentDependencies, recorder: Recorder, prober: ProbeManager): Promise<void> {
    const { cfg, logger } = this;
    const { cgroups, capacity, evictionHard, hostIPs, network } = deps;
    this.ctx = await buildPodContext({
      cfg,
      nodeName: this.nodeName,
      hostIPs,
      minOomScoreAdj: deps.minOomScoreAdj,
      runtime: this.runtime,
      network,
      networkState: deps.networkState,
      prober,
      cgroups,
      status: this.status,
      metrics: this.metrics,
      logger,
      capacity,
      evictionHard,
      recorder,
    });
    this.podConfig = new PodConfig({ logger, onChange: (c) => this.pods.onDesiredChange(c) });
    this.pods = new PodManagement({
      cfg,
      logger,
      ctx: this.ctx,
      runtime: this.runtime,
      network,
      cgroups,
      recorder,
      status: this.status,
      metrics: this.metrics,
      podConfig: this.podConfig,
      isStaticPod: (p) => p.metadata?.annotations?.[ANNOTATIONS.configSource] !== 'api', // API_SOURCE, not imported without --kubeconfig
      currentRecorder: () => this.recorder,
      evictionAdmit: (p) => this.eviction?.manager.admit(p),
      podTerminated: (p, final) => this.api.apiPods?.podTerminated(p, final),
      stopped: () => this.stopped,
    });
    this.eviction = await startEviction({
      cfg,
      nodeName: this.nodeName,
      runtime: this.runtime,
      cgroups,
      workers: this.pods.workers,
      status: this.status,
      recorder,
      logger,
      desired: () => this.podConfig.desired(),
      deleteDeadContainers: async () => {
        await this.pods.gc.run((uid) => this.podState(uid));
      },
    });
  }

  /** With --kubeconfig: the Node, the apiserver's pods, Services, the serving certificate (apiserver/setup.ts). */
  private async connectApiserver(kubeconfig: string, deps: AgentDependencies, recorder: Recorder): Promise<void> {
    const { cfg, logger } = this;
    const { evictionHard, hostIPs, network } = deps;
    const { connectApiserver } = await import('./apiserver/setup.js');
    await connectApiserver(
      {
        cfg,
        kubeconfig,
        nodeName: this.nodeName,
        hostIPs,
        evictionHard,
        ctx: this.ctx,
        runtime: this.runtime,
        network,
        status: this.status,
        metrics: this.metrics,
        recorder,
        logger,
        pressure: () => this.eviction?.pressure() ?? {},
        hasPod: (uid) => this.pods.workers.has(uid),
        desired: () => this.podConfig.desired(),
        addSource: (src) => this.sources.push(src),
        onServingRotated: (pair) => this.servers.setCertificate(pair.certPem, pair.keyPem),
      },
      this.api,
    );
  }

  /** The node API on its listeners; with --rotate-server-certificates HTTPS once the Node is registered. */
  private async serveNodeApi(deps: AgentDependencies): Promise<void> {
    const { cgroups, capacity } = deps;
    const stats = new StatsProvider({
      nodeName: this.nodeName,
      cgroups,
      status: this.status,
      capacity,
      startTime: new Date(),
    });
    await this.servers.serve(
      nodeApiRoutes({
        podConfig: this.podConfig,
        relister: this.pods.relister,
        status: this.status,
        sources: this.sources,
        metrics: this.metrics,
        prober: this.prober,
        runtime: this.runtime,
        stats,
      }),
    );
    const servingCertificates = this.api.servingCertificates;
    if (servingCertificates)
      void this.api.registered!.then(() =>
        this.servers.serveWithClusterCertificate(servingCertificates, () => this.stopped),
      );
  }

  /**
   * TLS bootstrap, as kubelet: before anything reads --kubeconfig, credentials are made usable
   * (requested with the bootstrap token when needed); with --rotate-certificates they are renewed.
   */
  private async bootstrapCredentials(): Promise<void> {
    const cfg = this.cfg;
    if (cfg.kubeconfig && (cfg.bootstrapKubeconfig || cfg.rotateCertificates)) {
      const { ensureClientCredentials } = await import('./certificate/bootstrap.js');
      this.clientCertificates = await ensureClientCredentials({
        kubeconfig: cfg.kubeconfig,
        bootstrapKubeconfig: cfg.bootstrapKubeconfig,
        certDir: cfg.certDir!,
        nodeName: this.nodeName,
        rotate: cfg.rotateCertificates,
        logger: this.logger,
      });
    }
  }

  /** The first relist, the sources, and the periodic relist, network GC and housekeeping. */
  private async startLoops(network: CniNetwork): Promise<void> {
    const { cfg, logger } = this;
    await this.relist().catch(() => {}); // what already runs here, before any source speaks (admission)
    const networkGc = (when: string) =>
      collectNetworkGarbage(network, this.runtime, logger.with({ component: 'cni' }), when);
    void networkGc('start-up'); // ADDs wait for it (GcGate), nothing else does
    for (const s of this.sources) await s.start((u) => this.podConfig.apply(u));

    this.every(5000, () => this.relist());
    this.every(NETWORK_GC_INTERVAL_MS, () => networkGc('periodic'));
    this.every(cfg.housekeepingIntervalMs, () => this.pods.housekeeper.run());
    // A first housekeeping pass soon after start: orphans of a previous run, dead sandboxes.
    const first = setTimeout(() => void this.pods.housekeeper.run(), Math.min(2000, cfg.housekeepingIntervalMs));
    first.unref();
    this.timers.push(first);
  }

  private every(ms: number, fn: () => Promise<void>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      fn()
        .catch((e) => this.logger.error('periodic task failed', { error: errorMessage(e) }))
        .finally(() => (busy = false));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private relist(): Promise<void> {
    return this.pods.relister.relist();
  }

  private podState(uid: string): PodPresence {
    return this.pods.podPresence(uid);
  }

  /** Stop every loop and server; pods keep running (the next agent adopts them). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.eviction?.stop();
    for (const s of this.sources) await s.stop().catch(() => {});
    this.stopEvents?.();
    this.api.apiPods?.stop();
    await this.api.serviceLister?.stop();
    await this.api.nodeAgent?.stop();
    this.clientCertificates?.stop();
    this.api.servingCertificates?.stop();
    this.pods?.workers.stop();
    this.ctx?.allocation?.stop();
    await this.recorder?.stop(); // what is queued gets up to 2 s to reach the apiserver
    this.prober?.stop();
    await this.servers.close();
  }
}
