// The apiserver side of an agent started with --kubeconfig: pod objects (ConfigMaps, Secrets,
// tokens) and Services for the pods, the Node (registration, status, lease), the apiserver's pods
// as a source with their status writer, and the serving certificate with
// --rotate-server-certificates. Everything here is imported only with --kubeconfig
// (@kubernetes/client-node is ~80 MiB).
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import type { AgentConfig } from '../config/config.js';
import type { CniNetwork } from '../contracts.js';
import type { CertificateManager } from '../certificate/manager.js';
import { nodeRef, type EventRecorder } from '../events/types.js';
import { nodeConditionEvents } from '../events/node-events.js';
import type { PressureDecision } from '../node/conditions.js';
import type { NodeAgent } from '../node/node-agent.js';
import type { PodContext } from '../pods/context.js';
import type { DockerRuntime } from '../runtime/docker.js';
import type { AgentMetrics } from '../metrics.js';
import type { PodSource } from '../sources/types.js';
import type { StatusManager } from '../status/status-manager.js';
import type { ApiserverPods } from './apiserver.js';

/** What an agent keeps of its apiserver side (to stop it, and to report terminated pods). */
export interface ApiserverSide {
  serviceLister?: { stop(): Promise<void> };
  nodeAgent?: NodeAgent;
  apiPods?: ApiserverPods;
  servingCertificates?: CertificateManager;
  /** Settles once the Node is registered (retried in the background). */
  registered?: Promise<void>;
}

export interface ApiserverSetup {
  cfg: AgentConfig;
  kubeconfig: string;
  nodeName: string;
  hostIPs: string[];
  evictionHard: ConstructorParameters<typeof NodeAgent>[0]['evictionHard'];
  ctx: PodContext;
  runtime: DockerRuntime;
  network: CniNetwork;
  status: StatusManager;
  metrics: AgentMetrics;
  recorder: EventRecorder;
  logger: Logger;
  pressure: () => PressureDecision;
  hasPod: (uid: string) => boolean;
  desired: () => V1Pod[];
  addSource: (s: PodSource) => void;
  onServingRotated: (pair: { certPem: string; keyPem: string }) => void;
}

/** Fills `side` as each part is made (so that stop() reaches those made before one that throws). */
export async function connectApiserver(o: ApiserverSetup, side: ApiserverSide): Promise<void> {
  const { cfg, logger, recorder, hostIPs } = o;
  const [{ NodeAgent }, { ApiserverPods }, { parseTaints }] = await Promise.all([
    import('../node/node-agent.js'),
    import('./apiserver.js'),
    import('../node/taints.js'),
  ]);
  await startPodObjects(o, side);
  let nodeConditions = new Map<string, string>();
  side.nodeAgent = new NodeAgent({
    kubeconfig: o.kubeconfig,
    nodeName: o.nodeName,
    nodeIP: hostIPs[0],
    rootDir: cfg.rootDir,
    maxPods: cfg.maxPods,
    evictionHard: o.evictionHard,
    pressure: o.pressure,
    kubeletPort: cfg.port > 0 ? cfg.port : undefined, // where the apiserver finds the HTTPS node API (kubectl logs)
    registerWithTaints: parseTaints(cfg.registerWithTaints ?? ''), // throws naming the bad entry
    podCIDRFile: cfg.podCidrFile ?? join(cfg.rootDir, 'pod-cidr'),
    runtimeVersion: async () => `docker://${await o.runtime.ping()}`,
    readiness: async () => {
      await o.runtime.ping();
      const n = await o.network.status();
      return n.ready
        ? { ready: true, reason: '', message: 'kubenode is posting ready status' }
        : { ready: false, reason: 'NetworkPluginNotReady', message: n.message };
    },
    logger: logger.with({ component: 'node' }),
    onConditions: (conditions) => {
      const now = new Map(conditions.map((c) => [c.type, c.status]));
      for (const e of nodeConditionEvents(o.nodeName, nodeConditions, now))
        recorder.event(nodeRef(o.nodeName), e.type, e.reason, e.message);
      nodeConditions = now;
    },
  });
  side.apiPods = new ApiserverPods({
    kubeconfig: o.kubeconfig,
    nodeName: o.nodeName,
    statuses: o.status,
    hasPod: o.hasPod,
    desired: o.desired,
    observeWriteLatency: (s) => o.metrics.podStatusWriteLatency.observe(s),
    logger,
  });
  o.addSource(side.apiPods.source);
  side.apiPods.start();
  side.registered = side.nodeAgent.start(); // registration retries in the background; pods don't wait for the apiserver
  await startServingCertificates(o, side);
}

/** What pods refer to (ConfigMaps, Secrets, tokens) and the Services of their environment variables. */
async function startPodObjects(o: ApiserverSetup, side: ApiserverSide): Promise<void> {
  const { cfg, logger, ctx } = o;
  // ConfigMaps, Secrets and service-account tokens for pods, with the node's credentials. Cached
  // for one sync period (at most kubelet's default TTL, 1 minute): kubelet's cache strategy.
  const { ApiPodObjects } = await import('../objects/api-objects.js');
  ctx.objects = new ApiPodObjects({
    kubeconfig: o.kubeconfig,
    ttlMs: Math.min(cfg.syncFrequencyMs, 60_000),
    logger: logger.with({ component: 'objects' }),
  });
  // Services for the containers' service environment variables (kubelet's serviceLister).
  const [{ ApiServiceLister }, { apiClients: clients }] = await Promise.all([
    import('../objects/service-lister.js'),
    import('../kube/client.js'),
  ]);
  const services = new ApiServiceLister({
    kubeConfig: clients(o.kubeconfig).kubeConfig,
    logger: logger.with({ component: 'services' }),
  });
  services.start();
  ctx.services = side.serviceLister = services;
}

/** --rotate-server-certificates: the HTTPS node API's certificate from the apiserver (kubelet-serving). */
async function startServingCertificates(o: ApiserverSetup, side: ApiserverSide): Promise<void> {
  const { cfg, logger, hostIPs } = o;
  // --port 0: no HTTPS API, no serving certificate
  if (!cfg.rotateServerCertificates || cfg.port <= 0) return;
  const [{ servingCertificateManager }, { apiClients }] = await Promise.all([
    import('../certificate/serving.js'),
    import('../kube/client.js'),
  ]);
  side.servingCertificates = servingCertificateManager({
    certDir: cfg.certDir!,
    nodeName: o.nodeName,
    hostname: o.nodeName,
    nodeIPs: hostIPs,
    requester: () => apiClients(o.kubeconfig).kubeConfig,
    onRotated: o.onServingRotated,
    logger,
  });
}
