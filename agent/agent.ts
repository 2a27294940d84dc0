// The agent: wires sources -> desired state (PodConfig) -> pod workers -> Docker, with the prober,
// the status manager, garbage collection and the HTTP APIs around them. It owns every long-running
// loop (relist, housekeeping) and stops them all in stop(); pods keep running across a restart
// and are adopted by the next agent through their container labels.
import { mkdir } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../lib/log.js';
import type { AgentConfig } from './config/config.js';
import { CniNetwork, ProbeManager } from './contracts.js';
import { collectNetworkGarbage, NETWORK_GC_INTERVAL_MS } from './network/network-gc.js';
import type { PodContext } from './pods/context.js';
import { buildPodContext } from './pod-context.js';
import { PodWorkers } from './pods/pod-workers.js';
import { PodAdmission } from './pods/admission.js';
import { Relist } from './pods/relist.js';
import { AllocationManager } from './allocation/manager.js';
import { CgroupManager } from './runtime/cgroups.js';
import { DockerRuntime } from './runtime/docker.js';
import { ContainerGC } from './runtime/gc.js';
import { Housekeeping, type PodPresence } from './runtime/housekeeping.js';
import { NetworkStateStore } from './runtime/network-state.js';
import { minimumOomScoreAdj } from './runtime/oom.js';
import { AgentMetrics } from './metrics.js';
import { ReadOnlyServer } from './server/read-only.js';
import type { ReadOnlyApi } from './server/routes.js';
import { startNodeApi } from './server/node-api.js';
import type { SecureServer } from './server/secure.js';
import type { ManifestServer } from './sources/manifest-server.js';
import { PodConfig, type DesiredChanges } from './sources/merger.js';
import { ANNOTATIONS, type ManifestError, type PodSource } from './sources/types.js';
import { addConfiguredSources } from './sources/setup.js';
import { readCapacity } from './stats/capacity.js';
import { nodeThresholds } from './node/eviction.js';
import { evictionThresholds } from './config/eviction-flags.js';
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

/** The node's address for pods' hostIP: --node-ip, else the first global IPv4 of a physical-looking interface. */
export function defaultHostIP(): string {
  const skip = /^(lo|docker|veth|br-|cni|kube|virbr|kt)/;
  for (const [name, addrs] of Object.entries(networkInterfaces()).sort(([a], [b]) => a.localeCompare(b))) {
    if (skip.test(name)) continue;
    const a = addrs?.find((x) => x.family === 'IPv4' && !x.internal);
    if (a) return a.address;
  }
  return '127.0.0.1';
}

export class Agent {
  readonly nodeName: string;
  private readonly metrics = new AgentMetrics();
  private readonly status = new StatusManager();
  private runtime!: DockerRuntime;
  private prober?: ProbeManager;
  private workers!: PodWorkers;
  private podConfig!: PodConfig;
  private sources: PodSource[] = [];
  private extraSources: PodSource[] = [];
  private readOnly?: ReadOnlyServer;
  private secure?: SecureServer;
  private manifestServer?: ManifestServer;
  private gc!: ContainerGC;
  private timers: NodeJS.Timeout[] = [];
  private stopEvents?: () => void;
  private ctx!: PodContext;
  private stopped = false;
  private clientCertificates?: CertificateManager;
  /** What runs with --kubeconfig: the Node, the apiserver's pods, Services, the serving certificate. */
  private readonly api: ApiserverSide = {};
  private nodeApi?: ReadOnlyApi;
  private recorder?: Recorder;
  private eviction?: NodeEviction;
  private relister!: Relist;
  private admission!: PodAdmission;
  private housekeeper!: Housekeeping;

  constructor(
    private readonly cfg: AgentConfig,
    private readonly logger: Logger,
  ) {
    this.nodeName = (cfg.hostnameOverride ?? hostname()).toLowerCase();
  }

  get readOnlyPort(): number {
    return this.readOnly?.port ?? 0;
  }

  /** Port of the authenticated HTTPS node API (--port), 0 when it does not run. */
  get securePort(): number {
    return this.secure?.port ?? 0;
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
    this.runtime = new DockerRuntime({
      endpoint: cfg.containerRuntimeEndpoint,
      instance: cfg.instance,
      logger: logger.with({ component: 'runtime' }),
    });
    const dockerVersion = await this.runtime.ping();
    const cgroups = new CgroupManager({ root: cfg.cgroupRoot, logger });
    await cgroups.init();
    const capacity = await readCapacity(cfg.rootDir, cfg.maxPods);
    const evictionHard = nodeThresholds(evictionThresholds(cfg), {
      memoryBytes: capacity.memoryBytes,
      nodefsBytes: capacity.ephemeralStorageBytes,
    });
    const hostIPs = [cfg.nodeIp ?? defaultHostIP()];
    const minOomScoreAdj = minimumOomScoreAdj();
    if (minOomScoreAdj > -1000)
      logger.warn(
        'oom_score_adj cannot be lowered here (no CAP_SYS_RESOURCE): Guaranteed pods and sandboxes get the current score instead of a negative one',
        { minimum: minOomScoreAdj },
      );
    const network = new CniNetwork({
      confDir: cfg.cniConfDir,
      binDirs: cfg.cniBinDir,
      cacheDir: cfg.cniCacheDir!,
      logger: logger.with({ component: 'cni' }),
    });
    const networkState = new NetworkStateStore(join(cfg.rootDir, 'sandboxes'));
    const recorder = (this.recorder = await createEventRecorder({
      nodeName: this.nodeName,
      logger,
      kubeconfig: cfg.kubeconfig,
      count: (o) => this.metrics.events.inc({ result: o }),
    }));
    recorder.event(nodeRef(this.nodeName), 'Normal', 'Starting', 'Starting kubenode agent.');
    this.prober = new ProbeManager({
      logger: logger.with({ component: 'prober' }),
      onChange: (c) => this.workers?.onProbeChange(c),
      onEvent: (e) => recorder.event(containerRef(e.pod, e.containerName), e.type, e.reason, e.message),
    });
    this.ctx = await buildPodContext({
      cfg,
      nodeName: this.nodeName,
      hostIPs,
      minOomScoreAdj,
      runtime: this.runtime,
      network,
      networkState,
      prober: this.prober,
      cgroups,
      status: this.status,
      metrics: this.metrics,
      logger,
      capacity,
      evictionHard,
      recorder,
    });
    this.startPodManagement(network, cgroups, recorder);
    this.eviction = await startEviction({
      cfg,
      nodeName: this.nodeName,
      runtime: this.runtime,
      cgroups,
      workers: this.workers,
      status: this.status,
      recorder,
      logger,
      desired: () => this.podConfig.desired(),
      deleteDeadContainers: async () => {
        await this.gc.run((uid) => this.podState(uid));
      },
    });

    this.manifestServer = await addConfiguredSources(cfg, this.nodeName, logger, this.sources);
    if (cfg.kubeconfig) {
      const { connectApiserver } = await import('./apiserver/setup.js');
      await connectApiserver(
        {
          cfg,
          kubeconfig: cfg.kubeconfig,
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
          hasPod: (uid) => this.workers.has(uid),
          desired: () => this.podConfig.desired(),
          addSource: (src) => this.sources.push(src),
          onServingRotated: (pair) => this.secure?.setCertificate(pair.certPem, pair.keyPem),
        },
        this.api,
      );
    }
    this.sources.push(...this.extraSources);
    for (const s of this.sources) this.podConfig.register(s.name);

    logger.info('agent starting', {
      node: this.nodeName,
      hostIP: hostIPs[0],
      docker: dockerVersion,
      cgroupVersion: cgroups.version,
      cgroupRoot: cgroups.root,
      instance: cfg.instance,
      sources: this.sources.map((s) => s.name),
    });

    // Container events wake the pod's worker at once; the relist below is the safety net.
    this.stopEvents = this.runtime.watchEvents((e) => {
      if (e.podUid && !e.ours) this.workers.requestSync(e.podUid);
    });
    await this.serveNodeApi(
      new StatsProvider({ nodeName: this.nodeName, cgroups, status: this.status, capacity, startTime: new Date() }),
    );
    if (this.api.servingCertificates) void this.api.registered!.then(() => this.serveWithClusterCertificate());
    await this.startLoops(network);
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

  /** Allocation, the pod workers, garbage collection, desired state and what reads it (relist, admission, housekeeping). */
  private startPodManagement(network: CniNetwork, cgroups: CgroupManager, recorder: Recorder): void {
    const { cfg, logger } = this;
    // What each pod is allocated (checkpointed across restarts) and the decisions on resizes.
    this.ctx.allocation = new AllocationManager({
      file: join(cfg.rootDir, 'allocated_pods_state'),
      capacity: this.ctx.capacity,
      logger: logger.with({ component: 'allocation' }),
      recorder,
      isStaticPod: (p) => p.metadata?.annotations?.[ANNOTATIONS.configSource] !== 'api', // API_SOURCE, not imported without --kubeconfig
      onChange: (p) => this.workers.update(p),
    });
    this.workers = new PodWorkers(this.ctx, cfg.syncConcurrency);
    this.gc = new ContainerGC({
      runtime: this.runtime,
      network,
      networkState: this.ctx.networkState,
      logger,
      policy: {
        minAgeMs: cfg.minimumContainerTtlMs,
        maxPerPodContainer: cfg.maximumDeadContainersPerContainer,
        maxContainers: cfg.maximumDeadContainers,
      },
    });
    this.podConfig = new PodConfig({ logger, onChange: (c) => this.onDesiredChange(c) });
    this.relister = new Relist({
      runtime: this.runtime,
      workers: this.workers,
      podConfig: this.podConfig,
      metrics: this.metrics,
    });
    this.admission = new PodAdmission({
      maxPods: cfg.maxPods,
      workers: () => this.workers,
      status: this.status,
      logger,
      recorder: () => this.recorder,
      evictionAdmit: (p) => this.eviction?.manager.admit(p),
      inRuntime: () => this.relister.inRuntime,
    });
    this.housekeeper = new Housekeeping({
      rootDir: cfg.rootDir,
      runtime: this.runtime,
      gc: this.gc,
      volumes: this.ctx.volumes,
      cgroups,
      logger,
      relist: () => this.relist(),
      podState: (uid) => this.podState(uid),
      allSourcesReady: () => this.podConfig.allSourcesReady(),
      removeOrphanAllocations: () =>
        this.ctx.allocation?.removeOrphans(new Set(this.podConfig.desired().map((p) => p.metadata!.uid!))),
      stopped: () => this.stopped,
    });
  }

  /** One set of routes, two listeners: the plain read-only port and the authenticated HTTPS one. */
  private async serveNodeApi(stats: StatsProvider): Promise<void> {
    const { cfg, logger } = this;
    const nodeApi: ReadOnlyApi = {
      pods: () => this.podsWithStatus(),
      manifestErrors: () => this.manifestErrors(),
      healthy: () => this.relister.healthy(),
      metrics: () => this.metricsText(),
      summary: () => stats.summary(),
      runtime: this.runtime,
    };
    if (cfg.readOnlyPort > 0) {
      this.readOnly = new ReadOnlyServer(nodeApi, logger);
      await this.readOnly.listen(cfg.address, cfg.readOnlyPort);
    }
    this.nodeApi = nodeApi;
    this.secure = await startNodeApi(cfg, nodeApi, this.nodeName, logger); // throws naming a bad --tls-*/--client-ca-file
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
    this.every(cfg.housekeepingIntervalMs, () => this.housekeeper.run());
    // A first housekeeping pass soon after start: orphans of a previous run, dead sandboxes.
    const first = setTimeout(() => void this.housekeeper.run(), Math.min(2000, cfg.housekeepingIntervalMs));
    first.unref();
    this.timers.push(first);
  }

  /**
   * --rotate-server-certificates: once the Node is registered (an approver compares the
   * certificate's SANs with its addresses), get the serving certificate, then serve the HTTPS
   * node API with it and keep it renewed; renewals swap it in without a restart.
   */
  private async serveWithClusterCertificate(): Promise<void> {
    if (this.stopped) return;
    try {
      const pair = await this.api.servingCertificates!.ensure();
      if (this.stopped) return;
      this.secure = await startNodeApi(this.cfg, this.nodeApi!, this.nodeName, this.logger, {
        cert: pair.certPem,
        key: pair.keyPem,
      });
      this.api.servingCertificates!.startRotation();
    } catch (e) {
      if (!this.stopped)
        this.logger.error('node API (HTTPS) not started: no serving certificate', { error: errorMessage(e) });
    }
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

  private onDesiredChange(c: DesiredChanges): void {
    for (const p of c.removed) {
      this.admission.forget(p.metadata!.uid!);
      this.status.delete(p.metadata!.uid!);
      this.ctx.allocation?.remove(p.metadata!.uid!);
      void this.workers.remove(p.metadata!.uid!).then((final) => this.api.apiPods?.podTerminated(p, final));
    }
    for (const p of [...c.added, ...c.updated]) {
      const uid = p.metadata!.uid!;
      if (c.added.includes(p))
        this.logger.info('pod added', {
          pod: `${p.metadata!.namespace}/${p.metadata!.name}`,
          uid,
          source: p.metadata!.annotations?.['kubernetes.io/config.source'],
        });
      if (!this.admission.admit(p)) continue;
      this.workers.update(this.ctx.allocation!.podToRun(p)); // as allocated: a resize only once it is
    }
  }

  private relist(): Promise<void> {
    return this.relister.relist();
  }

  private podState(uid: string): PodPresence {
    if (this.workers.isTerminating(uid)) return 'busy';
    return this.podConfig.get(uid) || this.workers.has(uid) ? 'active' : 'deleted';
  }

  podsWithStatus(): V1Pod[] {
    return this.podConfig
      .desired()
      .map(
        (p) =>
          this.status.podWithStatus(p.metadata!.uid!) ?? { ...p, status: { phase: 'Pending', qosClass: undefined } },
      );
  }

  manifestErrors(): ManifestError[] {
    return [...this.podConfig.rejected(), ...this.sources.flatMap((s) => (s.fetchError ? [s.fetchError] : []))];
  }

  private metricsText(): string {
    const bySource: Record<string, number> = {};
    for (const p of this.podConfig.desired()) {
      const s = p.metadata?.annotations?.['kubernetes.io/config.source'] ?? 'unknown';
      bySource[s] = (bySource[s] ?? 0) + 1;
    }
    this.metrics.desiredPods.reset();
    for (const [source, n] of Object.entries(bySource)) this.metrics.desiredPods.set({ source }, n);
    this.metrics.manifestErrors.reset();
    const errs: Record<string, number> = {};
    for (const e of this.manifestErrors()) errs[e.source] = (errs[e.source] ?? 0) + 1;
    for (const [source, n] of Object.entries(errs)) this.metrics.manifestErrors.set({ source }, n);
    return this.metrics.text([this.prober?.metricsText() ?? '']);
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
    this.workers?.stop();
    this.ctx?.allocation?.stop();
    await this.recorder?.stop(); // what is queued gets up to 2 s to reach the apiserver
    this.prober?.stop();
    await this.readOnly?.close();
    await this.secure?.close();
  }
}
