// Everything the agent does with the apiserver's pods, in one place for the agent to wire: the pod
// source (list+watch of pods bound to this node), the status writer and the end of graceful
// deletions, and the mirror pods of static pods. It authenticates with the kubeconfig's credentials (system:node:NAME under the Node
// authorizer and NodeRestriction: it touches only pods bound to this node).
import { CoreV1Api, type V1Pod, type V1PodStatus } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { apiClients } from '../kube/client.js';
import type { StatusManager } from '../status/status-manager.js';
import { MirrorPods } from './mirror-pods.js';
import { PodDeleter } from './pod-deleter.js';
import { ApiPodSource } from './pod-source.js';
import { fromApi, StatusWriter } from './status-writer.js';

export interface ApiserverPodsOptions {
  kubeconfig: string;
  nodeName: string;
  statuses: StatusManager;
  /** True while the agent has a pod worker for the UID. */
  hasPod: (uid: string) => boolean;
  /** The agent's desired pods (static ones get mirror pods). */
  desired: () => V1Pod[];
  /** Seconds from the agent observing a status change to the end of the PATCH that wrote it. */
  observeWriteLatency?: (seconds: number) => void;
  logger: Logger;
}

export class ApiserverPods {
  readonly source: ApiPodSource;
  readonly writer: StatusWriter;
  private readonly deleter: PodDeleter;
  private readonly mirrors: MirrorPods;

  constructor(o: ApiserverPodsOptions) {
    const { kubeConfig } = apiClients(o.kubeconfig);
    const core = kubeConfig.makeApiClient(CoreV1Api);
    this.writer = new StatusWriter({
      core,
      statuses: o.statuses,
      observeLatency: o.observeWriteLatency,
      logger: o.logger.with({ component: 'status-writer' }),
    });
    this.source = new ApiPodSource({
      kubeConfig,
      nodeName: o.nodeName,
      logger: o.logger.with({ source: 'api' }),
      onPods: (pods) => {
        this.writer.retryNow();
        this.writer.observe(pods);
        this.deleter.reconcile(pods);
        this.mirrors.reconcile(pods);
      },
    });
    this.deleter = new PodDeleter({
      core,
      writer: this.writer,
      logger: o.logger.with({ component: 'pod-deleter' }),
      hasPod: o.hasPod,
      apiPod: (ns, name) => this.source.get(ns, name),
    });
    this.mirrors = new MirrorPods({
      core,
      nodeName: o.nodeName,
      writer: this.writer,
      logger: o.logger.with({ component: 'mirror-pods' }),
      apiPods: () => this.source.listedPods(),
      desiredStatics: () => o.desired().filter((p) => !fromApi(p)),
    });
    this.writer.onStaticStatus = (uid, p) => this.mirrors.staticChanged(uid, p);
  }

  start(): void {
    this.writer.start();
  }

  /**
   * The agent's pod worker for `pod` finished terminating it (the pod left the desired set);
   * `finalStatus`: what it computed from the runtime after the kill (terminal phase, exit codes).
   */
  podTerminated(pod: V1Pod, finalStatus?: V1PodStatus): void {
    if (fromApi(pod))
      this.deleter.terminated(pod.metadata!.namespace!, pod.metadata!.name!, pod.metadata!.uid!, finalStatus);
  }

  stop(): void {
    this.writer.stop();
  }
}
