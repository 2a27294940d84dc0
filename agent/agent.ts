// The agent: wires sources -> desired state (PodConfig) -> pod workers -> Docker, with the prober,
// the status manager, garbage collection and the HTTP APIs around them. It owns every long-running
// loop (relist, housekeeping) and stops them all in stop(); pods keep running across a restart
// and are adopted by the next agent through their container labels.
import { mkdir, readdir } from 'node:fs/promises';
import { hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../lib/log.js';
import type { AgentConfig } from './config/config.js';
import { parseHostPort } from './config/config.js';
import { CniNetwork, ProbeManager } from './contracts.js';
import { collectNetworkGarbage, NETWORK_GC_INTERVAL_MS } from './network/network-gc.js';
import { Backoff } from './pods/backoff.js';
import type { PodContext } from './pods/context.js';
import { PodWorkers } from './pods/pod-workers.js';
import { AllocationManager } from './allocation/manager.js';
import { CgroupManager } from './runtime/cgroups.js';
import { DockerRuntime } from './runtime/docker.js';
import { ContainerGC } from './runtime/gc.js';
import { hostNetworkMode } from './runtime/host-network.js';
import { ImageManager } from './runtime/images.js';
import { NetworkStateStore } from './runtime/network-state.js';
import { minimumOomScoreAdj } from './runtime/oom.js';
import { podFingerprint, type PodRuntimeStatus } from './runtime/types.js';
import { VolumeManager } from './runtime/volumes.js';
import { AgentMetrics } from './server/metrics.js';
import { ReadOnlyServer } from './server/read-only.js';
import type { ReadOnlyApi } from './server/routes.js';
import { startNodeApi } from './server/node-api.js';
import type { SecureServer } from './server/secure.js';
import { FileSource } from './sources/file.js';
import { ManifestServer, isLoopback } from './sources/manifest-server.js';
import { PodConfig, type DesiredChanges } from './sources/merger.js';
import { ANNOTATIONS, type ManifestError, type PodSource } from './sources/types.js';
import { UrlSource } from './sources/url.js';
import { readCapacity } from './stats/capacity.js';
import { allocatableOf } from './node/capacity.js';
import { nodeThresholds } from './node/eviction.js';
import { evictionThresholds } from './config/eviction-flags.js';
import { startEviction, type NodeEviction } from './eviction/setup.js';
import { StatsProvider } from './stats/summary.js';
import { StatusManager } from './status/status-manager.js';
// Type-only: the apiserver side (and @kubernetes/client-node, ~80 MiB) is loaded only with --kubeconfig.
import type { ApiserverPods } from './apiserver/apiserver.js';
import type { NodeAgent } from './node/node-agent.js';
import type { CertificateManager } from './certificate/manager.js';
// Events: pure here; the apiserver sink is imported by createEventRecorder only with --kubeconfig.
import { createEventRecorder, type Recorder } from './events/recorder.js';
import { containerRef, nodeRef, podRef } from './events/types.js';
import { nodeConditionEvents } from './events/node-events.js';

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
  private lastRelist = Date.now();
  private lastRelistError?: string;
  private ctx!: PodContext;
  private stopped = false;
  private rejectedForCapacity = new Set<string>();
  private nodeAgent?: NodeAgent;
  private apiPods?: ApiserverPods;
  private serviceLister?: { stop(): Promise<void> };
  private clientCertificates?: CertificateManager;
  private servingCertificates?: CertificateManager;
  private nodeApi?: ReadOnlyApi;
  private recorder?: Recorder;
  private nodeConditions = new Map<string, string>();
  private eviction?: NodeEviction;
  /** Pods with containers or sandboxes in the runtime at the last relist. */
  private inRuntime = new Set<string>();

  constructor(private readonly cfg: AgentConfig, private readonly logger: Logger) {
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
    // TLS bootstrap, as kubelet: before anything reads --kubeconfig, credentials are made usable
    // (requested with the bootstrap token when needed); with --rotate-certificates they are renewed.
    if (cfg.kubeconfig && (cfg.bootstrapKubeconfig || cfg.rotateCertificates)) {
      const { ensureClientCredentials } = await import('./certificate/bootstrap.js');
      this.clientCertificates = await ensureClientCredentials({
        kubeconfig: cfg.kubeconfig, bootstrapKubeconfig: cfg.bootstrapKubeconfig, certDir: cfg.certDir!,
        nodeName: this.nodeName, rotate: cfg.rotateCertificates, logger,
      });
    }
    this.runtime = new DockerRuntime({ endpoint: cfg.containerRuntimeEndpoint, instance: cfg.instance, logger: logger.with({ component: 'runtime' }) });
    const dockerVersion = await this.runtime.ping();
    const cgroups = new CgroupManager({ root: cfg.cgroupRoot, logger });
    await cgroups.init();
    const capacity = await readCapacity(cfg.rootDir, cfg.maxPods);
    const evictionHard = nodeThresholds(evictionThresholds(cfg), { memoryBytes: capacity.memoryBytes, nodefsBytes: capacity.ephemeralStorageBytes });
    const hostIPs = [cfg.nodeIp ?? defaultHostIP()];
    const minOomScoreAdj = minimumOomScoreAdj();
    if (minOomScoreAdj > -1000) logger.warn('oom_score_adj cannot be lowered here (no CAP_SYS_RESOURCE): Guaranteed pods and sandboxes get the current score instead of a negative one', { minimum: minOomScoreAdj });
    const network = new CniNetwork({ confDir: cfg.cniConfDir, binDirs: cfg.cniBinDir, cacheDir: cfg.cniCacheDir!, logger: logger.with({ component: 'cni' }) });
    const networkState = new NetworkStateStore(join(cfg.rootDir, 'sandboxes'));
    const recorder = (this.recorder = await createEventRecorder({ nodeName: this.nodeName, logger, kubeconfig: cfg.kubeconfig, count: (o) => this.metrics.events.inc({ result: o }) }));
    recorder.event(nodeRef(this.nodeName), 'Normal', 'Starting', 'Starting kubenode agent.');
    this.prober = new ProbeManager({
      logger: logger.with({ component: 'prober' }), onChange: (c) => this.workers?.onProbeChange(c),
      onEvent: (e) => recorder.event(containerRef(e.pod, e.containerName), e.type, e.reason, e.message),
    });
    this.ctx = {
      nodeName: this.nodeName,
      hostIPs,
      instance: cfg.instance,
      podInfraImage: cfg.podInfraContainerImage,
      hostNetworkMode: await hostNetworkMode(this.runtime, cfg.hostNetworkContainer, logger), // throws naming a bad --host-network-container
      dns: { clusterDNS: cfg.clusterDns, clusterDomain: cfg.clusterDomain, resolvConf: cfg.resolvConf },
      runtime: this.runtime,
      network,
      networkState,
      prober: this.prober,
      cgroups,
      volumes: new VolumeManager({ rootDir: cfg.rootDir, logger }),
      images: new ImageManager({ runtime: this.runtime, logger, pullTimeoutMs: cfg.imagePullTimeoutMs }),
      backoff: new Backoff(),
      status: this.status,
      metrics: this.metrics,
      logger,
      capacity,
      // As the Node's status.allocatable that node-agent reports (nothing reserved, the hard
      // eviction thresholds), which kubelet gives the downward API for unset limits.
      allocatable: allocatableOf(capacity, {}, evictionHard),
      minOomScoreAdj,
      syncFrequencyMs: cfg.syncFrequencyMs,
      recorder,
    };
    // What each pod is allocated (checkpointed across restarts) and the decisions on resizes.
    this.ctx.allocation = new AllocationManager({
      file: join(cfg.rootDir, 'allocated_pods_state'), capacity, logger: logger.with({ component: 'allocation' }), recorder,
      isStaticPod: (p) => p.metadata?.annotations?.[ANNOTATIONS.configSource] !== 'api', // API_SOURCE, not imported without --kubeconfig
      onChange: (p) => this.workers.update(p),
    });
    this.workers = new PodWorkers(this.ctx, cfg.syncConcurrency);
    this.gc = new ContainerGC({
      runtime: this.runtime, network, networkState, logger,
      policy: { minAgeMs: cfg.minimumContainerTtlMs, maxPerPodContainer: cfg.maximumDeadContainersPerContainer, maxContainers: cfg.maximumDeadContainers },
    });
    this.podConfig = new PodConfig({ logger, onChange: (c) => this.onDesiredChange(c) });
    this.eviction = await startEviction({
      cfg, nodeName: this.nodeName, runtime: this.runtime, cgroups, workers: this.workers, status: this.status, recorder, logger,
      desired: () => this.podConfig.desired(), deleteDeadContainers: async () => { await this.gc.run((uid) => this.podState(uid)); },
    });

    if (cfg.podManifestPath) this.sources.push(new FileSource({ dir: cfg.podManifestPath, nodeName: this.nodeName, checkFrequencyMs: cfg.fileCheckFrequencyMs, logger: logger.with({ source: 'file' }) }));
    if (cfg.manifestUrl) {
      this.sources.push(new UrlSource({ url: cfg.manifestUrl, headers: cfg.manifestUrlHeader, nodeName: this.nodeName, checkFrequencyMs: cfg.httpCheckFrequencyMs, logger: logger.with({ source: 'http' }) }));
    }
    if (cfg.manifestServerAddress) {
      const { host, port } = parseHostPort(cfg.manifestServerAddress, '--manifest-server-address');
      let token: string | undefined;
      if (cfg.manifestServerTokenFile) {
        token = readFileSync(cfg.manifestServerTokenFile, 'utf8').trim();
        if (!token) throw new Error(`--manifest-server-token-file ${cfg.manifestServerTokenFile} is empty`);
      } else if (!isLoopback(host)) {
        throw new Error(`--manifest-server-address ${host} is not a loopback address: --manifest-server-token-file is required`);
      }
      this.manifestServer = new ManifestServer({ host, port, token, nodeName: this.nodeName, logger: logger.with({ source: 'server' }), stateDir: join(cfg.rootDir, 'manifest-server') });
      this.sources.push(this.manifestServer);
    }
    if (cfg.manifestEtcdEndpoints.length) {
      // Imported only with the flag: etcd3 brings gRPC and its protobuf loader (start-up time, memory).
      const { EtcdSource } = await import('./sources/etcd.js');
      this.sources.push(new EtcdSource({
        endpoints: cfg.manifestEtcdEndpoints, prefix: cfg.manifestEtcdPrefix ?? `/kubenode/nodes/${this.nodeName}/pods/`,
        caFile: cfg.manifestEtcdCafile, certFile: cfg.manifestEtcdCertfile, keyFile: cfg.manifestEtcdKeyfile,
        nodeName: this.nodeName, logger: logger.with({ source: 'etcd' }),
      }));
    }
    let registered: Promise<void> | undefined;
    if (cfg.kubeconfig) {
      const [{ NodeAgent }, { ApiserverPods }, { parseTaints }] = await Promise.all([
        import('./node/node-agent.js'), import('./apiserver/apiserver.js'), import('./node/taints.js'),
      ]);
      // ConfigMaps, Secrets and service-account tokens for pods, with the node's credentials. Cached
      // for one sync period (at most kubelet's default TTL, 1 minute): kubelet's cache strategy.
      const { ApiPodObjects } = await import('./objects/api-objects.js');
      this.ctx.objects = new ApiPodObjects({ kubeconfig: cfg.kubeconfig, ttlMs: Math.min(cfg.syncFrequencyMs, 60_000), logger: logger.with({ component: 'objects' }) });
      // Services for the containers' service environment variables (kubelet's serviceLister).
      const [{ ApiServiceLister }, { apiClients: clients }] = await Promise.all([import('./objects/service-lister.js'), import('./node/client.js')]);
      const services = new ApiServiceLister({ kubeConfig: clients(cfg.kubeconfig).kubeConfig, logger: logger.with({ component: 'services' }) });
      services.start();
      this.ctx.services = this.serviceLister = services;
      this.nodeAgent = new NodeAgent({
        kubeconfig: cfg.kubeconfig, nodeName: this.nodeName, nodeIP: hostIPs[0], rootDir: cfg.rootDir, maxPods: cfg.maxPods,
        evictionHard, pressure: () => this.eviction?.pressure() ?? {},
        kubeletPort: cfg.port > 0 ? cfg.port : undefined, // where the apiserver finds the HTTPS node API (kubectl logs)
        registerWithTaints: parseTaints(cfg.registerWithTaints ?? ''), // throws naming the bad entry
        podCIDRFile: cfg.podCidrFile ?? join(cfg.rootDir, 'pod-cidr'),
        runtimeVersion: async () => `docker://${await this.runtime.ping()}`,
        readiness: async () => {
          await this.runtime.ping();
          const n = await network.status();
          return n.ready ? { ready: true, reason: '', message: 'kubenode is posting ready status' } : { ready: false, reason: 'NetworkPluginNotReady', message: n.message };
        },
        logger: logger.with({ component: 'node' }),
        onConditions: (conditions) => {
          const now = new Map(conditions.map((c) => [c.type, c.status]));
          for (const e of nodeConditionEvents(this.nodeName, this.nodeConditions, now)) recorder.event(nodeRef(this.nodeName), e.type, e.reason, e.message);
          this.nodeConditions = now;
        },
      });
      this.apiPods = new ApiserverPods({ kubeconfig: cfg.kubeconfig, nodeName: this.nodeName, statuses: this.status, hasPod: (uid) => this.workers.has(uid), desired: () => this.podConfig.desired(), observeWriteLatency: (s) => this.metrics.podStatusWriteLatency.observe(s), logger });
      this.sources.push(this.apiPods.source);
      this.apiPods.start();
      registered = this.nodeAgent.start(); // registration retries in the background; pods don't wait for the apiserver
      if (cfg.rotateServerCertificates && cfg.port > 0) { // --port 0: no HTTPS API, no serving certificate
        const [{ servingCertificateManager }, { apiClients }] = await Promise.all([import('./certificate/serving.js'), import('./node/client.js')]);
        this.servingCertificates = servingCertificateManager({
          certDir: cfg.certDir!, nodeName: this.nodeName, hostname: this.nodeName, nodeIPs: hostIPs,
          requester: () => apiClients(cfg.kubeconfig!).kubeConfig,
          onRotated: (pair) => this.secure?.setCertificate(pair.certPem, pair.keyPem),
          logger,
        });
      }
    }
    this.sources.push(...this.extraSources);
    for (const s of this.sources) this.podConfig.register(s.name);

    logger.info('agent starting', { node: this.nodeName, hostIP: hostIPs[0], docker: dockerVersion, cgroupVersion: cgroups.version, cgroupRoot: cgroups.root, instance: cfg.instance, sources: this.sources.map((s) => s.name) });

    // Container events wake the pod's worker at once; the relist below is the safety net.
    this.stopEvents = this.runtime.watchEvents((e) => { if (e.podUid && !e.ours) this.workers.requestSync(e.podUid); });

    // One set of routes, two listeners: the plain read-only port and the authenticated HTTPS one.
    const stats = new StatsProvider({ nodeName: this.nodeName, cgroups, status: this.status, capacity, startTime: new Date() });
    const nodeApi: ReadOnlyApi = {
      pods: () => this.podsWithStatus(),
      manifestErrors: () => this.manifestErrors(),
      healthy: () => this.healthy(),
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
    if (this.servingCertificates) void registered!.then(() => this.serveWithClusterCertificate());

    await this.relist().catch(() => {}); // what already runs here, before any source speaks (admission)
    const networkGc = (when: string) => collectNetworkGarbage(network, this.runtime, logger.with({ component: 'cni' }), when);
    void networkGc('start-up'); // ADDs wait for it (GcGate), nothing else does
    for (const s of this.sources) await s.start((u) => this.podConfig.apply(u));

    this.every(5000, () => this.relist());
    this.every(NETWORK_GC_INTERVAL_MS, () => networkGc('periodic'));
    this.every(cfg.housekeepingIntervalMs, () => this.housekeeping());
    // A first housekeeping pass soon after start: orphans of a previous run, dead sandboxes.
    const first = setTimeout(() => void this.housekeeping(), Math.min(2000, cfg.housekeepingIntervalMs));
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
      const pair = await this.servingCertificates!.ensure();
      if (this.stopped) return;
      this.secure = await startNodeApi(this.cfg, this.nodeApi!, this.nodeName, this.logger, { cert: pair.certPem, key: pair.keyPem });
      this.servingCertificates!.startRotation();
    } catch (e) {
      if (!this.stopped) this.logger.error('node API (HTTPS) not started: no serving certificate', { error: (e as Error).message });
    }
  }

  private every(ms: number, fn: () => Promise<void>): void {
    let busy = false;
    const t = setInterval(() => {
      if (busy || this.stopped) return;
      busy = true;
      fn().catch((e) => this.logger.error('periodic task failed', { error: (e as Error).message })).finally(() => (busy = false));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private onDesiredChange(c: DesiredChanges): void {
    for (const p of c.removed) {
      this.rejectedForCapacity.delete(p.metadata!.uid!);
      this.status.delete(p.metadata!.uid!);
      this.ctx.allocation?.remove(p.metadata!.uid!);
      void this.workers.remove(p.metadata!.uid!).then((final) => this.apiPods?.podTerminated(p, final));
    }
    for (const p of [...c.added, ...c.updated]) {
      const uid = p.metadata!.uid!;
      if (c.added.includes(p)) this.logger.info('pod added', { pod: `${p.metadata!.namespace}/${p.metadata!.name}`, uid, source: p.metadata!.annotations?.['kubernetes.io/config.source'] });
      // Admission, as kubelet's: a node runs at most --max-pods pods; the rest fail with OutOfpods.
      if (!this.workers.has(uid) && this.workers.activeCount() >= this.cfg.maxPods) {
        this.rejectPod(p, 'OutOfpods', `Node didn't have enough resource: pods, requested: 1, used: ${this.workers.activeCount()}, capacity: ${this.cfg.maxPods}`);
        continue;
      }
      // kubelet's eviction manager admits no pod (only non-BestEffort ones under memory pressure alone).
      // A pod whose containers already run here was admitted by an earlier agent: it is adopted.
      const pressure = this.workers.has(uid) || this.inRuntime.has(uid) ? undefined : this.eviction?.manager.admit(p);
      if (pressure) {
        this.rejectPod(p, 'Evicted', pressure);
        continue;
      }
      this.rejectedForCapacity.delete(uid);
      this.workers.update(this.ctx.allocation!.podToRun(p)); // as allocated: a resize only once it is
    }
  }

  private rejectPod(p: V1Pod, reason: string, message: string): void {
    if (!this.rejectedForCapacity.has(p.metadata!.uid!)) {
      this.logger.warn('pod rejected', { pod: `${p.metadata!.namespace}/${p.metadata!.name}`, reason, message });
      this.recorder?.event(podRef(p), 'Warning', reason, message); // kubelet's admission rejection event
    }
    this.rejectedForCapacity.add(p.metadata!.uid!);
    this.status.set(p, { phase: 'Failed', reason, message, startTime: new Date() });
  }

  /** PLEG-like relist: one list of our containers; pods whose containers changed are synced. */
  private async relist(): Promise<void> {
    let pods: Map<string, PodRuntimeStatus>;
    try {
      pods = await this.runtime.podStatuses();
      this.lastRelist = Date.now();
      this.lastRelistError = undefined;
    } catch (e) {
      this.lastRelistError = (e as Error).message;
      throw e;
    }
    this.inRuntime = new Set(pods.keys());
    let runningPods = 0;
    const running: Record<string, number> = {};
    for (const [uid, p] of pods) {
      this.workers.relisted(uid, podFingerprint(p));
      if (p.sandboxes.some((s) => s.state === 'ready')) runningPods++;
      for (const c of p.containers) running[c.state] = (running[c.state] ?? 0) + 1;
      const live = p.containers.some((c) => c.state === 'running') || p.sandboxes.some((s) => s.state === 'ready');
      if (live && this.podConfig.allSourcesReady() && !this.podConfig.get(uid) && !this.workers.has(uid)) this.workers.killOrphan(p);
    }
    this.metrics.runningPods.set({}, runningPods);
    this.metrics.runningContainers.reset();
    for (const [state, n] of Object.entries(running)) this.metrics.runningContainers.set({ container_state: state }, n);
  }

  private podState(uid: string): 'active' | 'deleted' | 'busy' {
    if (this.workers.isTerminating(uid)) return 'busy';
    return this.podConfig.get(uid) || this.workers.has(uid) ? 'active' : 'deleted';
  }

  private housekeepingBusy = false;

  /** Garbage collection and clean-up of what pods that are gone left behind. */
  private async housekeeping(): Promise<void> {
    // The first pass (a timer of its own) and the interval can fall due together with a short
    // --housekeeping-interval: one pass at a time, or garbage collection runs twice at once.
    if (!this.podConfig.allSourcesReady() || this.stopped || this.housekeepingBusy) return;
    this.housekeepingBusy = true;
    try {
      await this.housekeepingPass();
    } finally {
      this.housekeepingBusy = false;
    }
  }

  private async housekeepingPass(): Promise<void> {
    await this.relist();
    await this.gc.run((uid) => this.podState(uid));
    this.ctx.allocation?.removeOrphans(new Set(this.podConfig.desired().map((p) => p.metadata!.uid!)));
    // Pod directories and cgroups of pods that are gone (an agent killed mid-termination).
    const inRuntime = await this.runtime.podStatuses();
    let dirs: string[] = [];
    try { dirs = await readdir(join(this.cfg.rootDir, 'pods')); } catch { /* none yet */ }
    for (const uid of dirs) {
      if (this.podState(uid) === 'deleted' && !inRuntime.has(uid)) {
        this.logger.info('removing leftovers of a pod that is gone', { uid });
        await this.ctx.volumes.tearDown(uid);
        await this.ctx.cgroups.removePod(uid);
      }
    }
  }

  podsWithStatus(): V1Pod[] {
    return this.podConfig.desired().map((p) => this.status.podWithStatus(p.metadata!.uid!) ?? { ...p, status: { phase: 'Pending', qosClass: undefined } });
  }

  manifestErrors(): ManifestError[] {
    return [...this.podConfig.rejected(), ...this.sources.flatMap((s) => (s.fetchError ? [s.fetchError] : []))];
  }

  private healthy(): { ok: boolean; message: string } {
    const age = Date.now() - this.lastRelist;
    if (age > 60_000) return { ok: false, message: `no successful relist of the runtime for ${Math.round(age / 1000)}s: ${this.lastRelistError ?? ''}` };
    return { ok: true, message: '' };
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
    this.apiPods?.stop();
    await this.serviceLister?.stop();
    await this.nodeAgent?.stop();
    this.clientCertificates?.stop();
    this.servingCertificates?.stop();
    this.workers?.stop();
    this.ctx?.allocation?.stop();
    await this.recorder?.stop(); // what is queued gets up to 2 s to reach the apiserver
    this.prober?.stop();
    await this.readOnly?.close();
    await this.secure?.close();
  }
}
