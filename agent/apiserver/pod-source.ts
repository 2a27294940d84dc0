// The apiserver as a pod source: list+watch of the pods bound to this node (fieldSelector
// spec.nodeName=NODE), as kubelet's apiserver config source does. client-node's ListWatch keeps
// the cache, relists on 410 Gone and resumes watches; kube/list-watch.ts restarts it after other
// errors, with back-off; this file turns the cache into snapshots for the merger.
//
// Why snapshots: the ListWatch fires one ADD per listed item, synchronously; emitting the whole
// cache once those have run (coalesced with setImmediate) means the merger never sees half a list
// and so never removes a pod that is merely not yet re-listed. Nothing is emitted before the first
// successful list: until then the merger treats the source as not seen and removes nothing, so
// pods keep running while the apiserver is away at start, and an unreachable apiserver later
// simply keeps the last snapshot.
//
// A pod with a deletionTimestamp is left out of the snapshot (the agent terminates it) after it
// was first re-emitted with its deletion grace period as terminationGracePeriodSeconds, so that
// the pod worker kills it with the grace the deleter asked for (kubelet does the same override).
import { CoreV1Api, type KubeConfig, type V1Pod, type V1PodList } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { requestOptions } from '../kube/client.js';
import { ReconnectingListWatch } from '../kube/list-watch.js';
import { ANNOTATIONS, type PodSource, type SourceUpdate } from '../sources/types.js';

export const API_SOURCE = 'api' as const;

/** The pod as the agent runs it: marked as coming from the apiserver; a deleting pod gets the deletion grace period. */
export function desiredFromApi(pod: V1Pod): V1Pod {
  const annotations = { ...pod.metadata?.annotations, [ANNOTATIONS.configSource]: API_SOURCE };
  const out: V1Pod = { ...pod, metadata: { ...pod.metadata, annotations }, status: undefined };
  const grace = pod.metadata?.deletionGracePeriodSeconds;
  if (pod.metadata?.deletionTimestamp && grace !== undefined && grace !== null)
    out.spec = { ...pod.spec!, terminationGracePeriodSeconds: grace };
  return out;
}

export const isDeleting = (p: V1Pod) => Boolean(p.metadata?.deletionTimestamp);

/** The annotation kubelet puts on the API copy ("mirror pod") of a static pod: the static pod's config hash. */
export const MIRROR_ANNOTATION = 'kubernetes.io/config.mirror';
export const isMirror = (p: V1Pod) => p.metadata?.annotations?.[MIRROR_ANNOTATION] !== undefined;

export interface ApiPodSourceOptions {
  kubeConfig: KubeConfig;
  nodeName: string;
  logger: Logger;
  /** Called with every pod the apiserver shows (status included), for the status writer. */
  onPods?: (pods: V1Pod[]) => void;
}

export class ApiPodSource implements PodSource {
  readonly name = API_SOURCE;
  private readonly started = Date.now();
  private watch?: ReconnectingListWatch<V1Pod>;
  private emit?: (u: SourceUpdate) => void;
  private listed = false;
  private scheduled = false;
  private stopped = false;
  private lastDesired = new Map<string, V1Pod>();
  /** Set once the first list succeeded. */
  connected = false;

  constructor(private readonly o: ApiPodSourceOptions) {}

  async start(emit: (u: SourceUpdate) => void): Promise<void> {
    this.emit = emit;
    const core = this.o.kubeConfig.makeApiClient(CoreV1Api);
    const fieldSelector = `spec.nodeName=${this.o.nodeName}`;
    const list = async (): Promise<V1PodList> => {
      const l = await core.listPodForAllNamespaces({ fieldSelector }, requestOptions({ timeoutMs: 30_000 }));
      if (!this.listed)
        this.o.logger.info('listed pods bound to this node; watching', {
          node: this.o.nodeName,
          pods: l.items.length,
          ms: Date.now() - this.started,
        });
      this.listed = true;
      this.connected = true;
      this.watch?.resetBackoff();
      this.schedule();
      return l;
    };
    const watch = (this.watch = new ReconnectingListWatch<V1Pod>({
      kubeConfig: this.o.kubeConfig,
      path: '/api/v1/pods',
      list,
      fieldSelector,
      logger: this.o.logger,
      what: 'pod watch',
      note: 'running pods keep running',
    }));
    for (const verb of ['add', 'update', 'delete'] as const)
      watch.informer.on(verb, () => {
        watch.resetBackoff();
        this.schedule();
      });
    // Not awaited: the agent starts (and keeps running pods) whether or not the apiserver answers.
    watch.start();
  }

  private schedule(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** The whole cache as one snapshot; deleting pods first go out once with their deletion grace period. */
  private flush(): void {
    if (this.stopped || !this.listed || !this.watch || !this.emit) return;
    const pods = [...this.watch.informer.list()];
    const graceUpdates: V1Pod[] = [];
    const desired = new Map<string, V1Pod>();
    for (const p of pods) {
      const uid = p.metadata!.uid!;
      if (isMirror(p)) continue; // the static pod itself runs from its own source
      if (isDeleting(p)) {
        if (this.lastDesired.has(uid)) graceUpdates.push(desiredFromApi(p));
        continue;
      }
      desired.set(uid, desiredFromApi(p));
    }
    this.lastDesired = desired;
    if (graceUpdates.length) this.emit({ source: API_SOURCE, op: 'update', pods: graceUpdates });
    this.emit({ source: API_SOURCE, op: 'snapshot', pods: [...desired.values()], errors: [] });
    // After the emit: the agent has started terminating what just left the desired set.
    this.o.onPods?.(pods);
  }

  /** The pod as the apiserver last showed it. */
  get(namespace: string, name: string): V1Pod | undefined {
    return this.watch?.informer.get(name, namespace);
  }

  /** The pods the apiserver shows for this node; undefined until the first list succeeded. */
  listedPods(): V1Pod[] | undefined {
    return this.listed ? this.list() : undefined;
  }

  list(): V1Pod[] {
    return [...(this.watch?.informer.list() ?? [])];
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.watch?.stop();
  }
}
