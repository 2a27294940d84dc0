// Mirror pods: the apiserver's read-only copies of this node's static pods (files, URLs, the
// manifest server), so that kubectl and controllers see them, as kubelet's mirror client makes
// them. A mirror carries the annotation kubernetes.io/config.mirror = the static pod's config hash
// and an owner reference to the Node (NodeRestriction requires it); its status is the static pod's.
// A mirror deleted by hand is made again; one whose hash no longer matches (the manifest changed)
// is replaced; one whose static pod is gone is deleted. The apiserver source never runs mirrors.
import type { CoreV1Api, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { apiErrorMessage, httpStatus, requestOptions } from '../kube/client.js';
import { ANNOTATIONS } from '../sources/types.js';
import { isDeleting, isMirror, MIRROR_ANNOTATION } from './pod-source.js';
import type { StatusWriter } from './status-writer.js';

const key = (ns: string | undefined, name: string | undefined) => `${ns}/${name}`;

/** The mirror pod for a static pod (pure). */
export function mirrorPodFor(staticPod: V1Pod, node: { name: string; uid: string }): V1Pod {
  const md = staticPod.metadata!;
  const annotations: Record<string, string> = {
    ...md.annotations,
    [MIRROR_ANNOTATION]: md.annotations?.[ANNOTATIONS.configHash] ?? md.uid!,
  };
  delete annotations[ANNOTATIONS.configSeen];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      name: md.name,
      namespace: md.namespace,
      labels: md.labels,
      annotations,
      ownerReferences: [{ apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid, controller: true }],
    },
    spec: { ...staticPod.spec!, nodeName: node.name },
  };
}

export class MirrorPods {
  private readonly statuses = new Map<string, V1PodStatus>();
  private readonly busy = new Set<string>();
  private nodeUid?: string;

  constructor(
    private readonly o: {
      core: CoreV1Api;
      nodeName: string;
      writer: StatusWriter;
      logger: Logger;
      /** The pods the apiserver shows for this node, undefined until the first list. */
      apiPods: () => V1Pod[] | undefined;
      /** The static pods the agent wants now (its desired set, not only those with a status yet). */
      desiredStatics: () => V1Pod[];
    },
  ) {}

  /** A static pod's status changed, or the static pod is gone (undefined). */
  staticChanged(uid: string, p: { pod: V1Pod; status: V1PodStatus } | undefined): void {
    if (p) this.statuses.set(uid, p.status);
    else this.statuses.delete(uid);
    const pods = this.o.apiPods();
    if (pods) this.reconcile(pods);
  }

  reconcile(apiPods: V1Pod[]): void {
    const mirrors = new Map(apiPods.filter(isMirror).map((p) => [key(p.metadata?.namespace, p.metadata?.name), p]));
    for (const pod of this.o.desiredStatics()) {
      const uid = pod.metadata!.uid!;
      const k = key(pod.metadata?.namespace, pod.metadata?.name);
      const m = mirrors.get(k);
      mirrors.delete(k);
      const hash = pod.metadata?.annotations?.[ANNOTATIONS.configHash] ?? uid;
      const status = this.statuses.get(uid);
      if (!m) void this.create(k, pod);
      else if (isDeleting(m))
        continue; // the pod deleter finishes it; the next update makes it again
      else if (m.metadata?.annotations?.[MIRROR_ANNOTATION] !== hash) void this.remove(m, 'its static pod changed');
      else if (status)
        this.o.writer.setFor(`mirror:${uid}`, m.metadata!.namespace!, m.metadata!.name!, m.metadata!.uid!, status);
    }
    for (const m of mirrors.values()) if (!isDeleting(m)) void this.remove(m, 'its static pod is gone');
  }

  private async nodeUID(): Promise<string> {
    this.nodeUid ??= (await this.o.core.readNode({ name: this.o.nodeName }, requestOptions({ timeoutMs: 10_000 })))
      .metadata!.uid!;
    return this.nodeUid;
  }

  private async create(k: string, pod: V1Pod): Promise<void> {
    if (this.busy.has(k)) return;
    this.busy.add(k);
    try {
      const body = mirrorPodFor(pod, { name: this.o.nodeName, uid: await this.nodeUID() });
      await this.o.core.createNamespacedPod(
        { namespace: pod.metadata!.namespace!, body },
        requestOptions({ timeoutMs: 10_000 }),
      );
      this.o.logger.info('created mirror pod', { pod: k });
    } catch (err) {
      // 409: it exists already (the watch will show it); anything else is retried on the next change.
      if (httpStatus(err) !== 409)
        this.o.logger.warn('creating mirror pod failed', { pod: k, error: apiErrorMessage(err) });
    } finally {
      this.busy.delete(k);
    }
  }

  private async remove(m: V1Pod, why: string): Promise<void> {
    const k = key(m.metadata?.namespace, m.metadata?.name);
    if (this.busy.has(k)) return;
    this.busy.add(k);
    try {
      await this.o.core.deleteNamespacedPod(
        {
          name: m.metadata!.name!,
          namespace: m.metadata!.namespace!,
          gracePeriodSeconds: 0,
          body: { gracePeriodSeconds: 0, preconditions: { uid: m.metadata!.uid! } },
        },
        requestOptions({ timeoutMs: 10_000 }),
      );
      this.o.logger.info('deleted mirror pod', { pod: k, reason: why });
    } catch (err) {
      if (httpStatus(err) !== 404 && httpStatus(err) !== 409)
        this.o.logger.warn('deleting mirror pod failed', { pod: k, error: apiErrorMessage(err) });
    } finally {
      this.busy.delete(k);
    }
  }
}
