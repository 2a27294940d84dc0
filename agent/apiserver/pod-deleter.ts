// The end of a graceful deletion, as kubelet does it: once a pod with a deletionTimestamp has been
// terminated here (preStop, SIGTERM, SIGKILL after its grace period: the pod workers' job, started
// when the apiserver source dropped the pod from the desired set), its final status is written
// (terminal phase, every container terminated with its exit code: computed by the pod worker
// from the runtime after the kill) and the pod is deleted with grace period 0, preconditioned on
// its UID so that a new pod of the same name is never touched. A deleting pod this agent does not
// run (never started, or deleted while the agent was down) is finished at once, with a final status
// made from the last one known (terminalPodStatus).
import type { CoreV1Api, V1Pod, V1PodStatus } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { apiErrorMessage, isConflict, isNotFound, requestOptions } from '../kube/client.js';
import { terminalPodStatus } from '../status/terminal.js';
import { isDeleting } from './pod-source.js';
import type { StatusWriter } from './status-writer.js';

export class PodDeleter {
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly o: {
      core: CoreV1Api;
      writer: StatusWriter;
      logger: Logger;
      /** True while the agent has a worker for the pod (running or terminating it). */
      hasPod: (uid: string) => boolean;
      /** The pod as the apiserver last showed it. */
      apiPod: (namespace: string, name: string) => V1Pod | undefined;
    },
  ) {}

  /** Every pod the apiserver shows for this node: finish the deleting ones this agent is done with. */
  reconcile(pods: V1Pod[]): void {
    for (const p of pods) if (isDeleting(p) && !this.o.hasPod(p.metadata!.uid!)) void this.finish(p);
  }

  /** A pod's worker finished terminating it; `final`: the status it computed from the runtime. */
  terminated(namespace: string, name: string, uid: string, final?: V1PodStatus): void {
    const p = this.o.apiPod(namespace, name);
    if (p && p.metadata?.uid === uid && isDeleting(p)) void this.finish(p, final);
  }

  private async finish(p: V1Pod, final?: V1PodStatus): Promise<void> {
    const uid = p.metadata!.uid!;
    const name = p.metadata!.name!;
    const namespace = p.metadata!.namespace!;
    if (this.inFlight.has(uid)) return;
    this.inFlight.add(uid);
    try {
      const status = final ?? terminalPodStatus(this.o.writer.lastWritten(uid) ?? p.status);
      await this.o.writer.writeNow(p, status);
      this.o.logger.info('wrote the final status of a terminated pod', {
        pod: `${namespace}/${name}`,
        phase: status.phase,
        exitCodes: status.containerStatuses?.map((c) => c.state?.terminated?.exitCode),
      });
      await this.o.core.deleteNamespacedPod(
        { name, namespace, gracePeriodSeconds: 0, body: { gracePeriodSeconds: 0, preconditions: { uid } } },
        requestOptions({ timeoutMs: 10_000 }),
      );
      this.o.logger.info('pod terminated; deleted from the apiserver', { pod: `${namespace}/${name}`, uid });
    } catch (err) {
      // Already gone, or a new pod of that name (precondition failed): nothing of ours to delete.
      if (!isNotFound(err) && !isConflict(err)) {
        this.o.logger.warn('deleting a terminated pod failed; will retry on the next update', {
          pod: `${namespace}/${name}`,
          error: apiErrorMessage(err),
        });
        setTimeout(() => {
          this.inFlight.delete(uid);
          const again = this.o.apiPod(namespace, name);
          if (again?.metadata?.uid === uid) void this.finish(again, final);
        }, 2000).unref();
        return;
      }
    }
    this.o.writer.forget(uid);
    // Keep the UID for a while: the watch may still show the pod until its DELETED event.
    setTimeout(() => this.inFlight.delete(uid), 60_000).unref();
  }
}
