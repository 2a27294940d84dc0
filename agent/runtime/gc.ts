// Garbage collection of dead containers and sandboxes, with kubelet's policy: keep the newest
// `maxPerPodContainer` dead instances of each container (for lastState and `logs --previous`),
// at most `maxContainers` dead ones overall, and nothing of pods that no longer exist. Only
// containers of this agent's instance are ever considered; running ones never.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kuberuntime/kuberuntime_gc.go
import type { Logger } from '../../lib/log.js';
import type { CniNetwork } from '../contracts.js';
import type { DockerRuntime } from './docker.js';
import type { NetworkStateStore } from './network-state.js';
import type { PodRuntimeStatus, RuntimeContainer } from './types.js';

export interface GcPolicy {
  /** A dead container younger than this is kept. */
  minAgeMs: number;
  /** Dead instances kept per (pod, container); negative: no limit. */
  maxPerPodContainer: number;
  /** Dead containers kept in total; negative: no limit. */
  maxContainers: number;
}

export interface GcPlan {
  containers: string[];
  sandboxes: string[];
}

function endedAt(c: RuntimeContainer): number {
  return (c.finishedAt ?? c.startedAt ?? c.createdAt).getTime();
}

/**
 * What to remove. `podState(uid)` says whether a pod is "active" (desired, keep its latest dead
 * containers), "deleted" (no source wants it and no worker holds it: remove all that is dead), or
 * "busy" (a worker is terminating it: leave it to the worker).
 */
export function planGarbageCollection(
  pods: PodRuntimeStatus[],
  podState: (uid: string) => 'active' | 'deleted' | 'busy',
  policy: GcPolicy,
  now: number,
): GcPlan {
  const remove = new Set<string>();
  const kept: RuntimeContainer[] = [];
  const sandboxes: string[] = [];
  for (const p of pods) {
    const st = podState(p.uid);
    if (st === 'busy') continue;
    const dead = p.containers.filter((c) => c.state === 'exited' || c.state === 'created');
    const byName = new Map<string, RuntimeContainer[]>();
    for (const c of dead) {
      if (now - endedAt(c) < policy.minAgeMs) continue;
      if (!byName.has(c.name)) byName.set(c.name, []);
      byName.get(c.name)!.push(c); // newest first already
    }
    for (const list of byName.values()) {
      const keep = st === 'deleted' ? 0 : policy.maxPerPodContainer < 0 ? list.length : policy.maxPerPodContainer;
      list.slice(keep).forEach((c) => {
        remove.add(c.id);
      });
      kept.push(...list.slice(0, keep));
    }
    // A sandbox goes once it is not running, not the pod's newest (unless the pod is gone), and no
    // container that stays refers to it.
    const newest = p.sandboxes[0]?.id;
    const referenced = new Set(
      p.containers.filter((c) => !remove.has(c.id)).map((c) => c.labels['io.kubernetes.sandbox.id']),
    );
    for (const s of p.sandboxes) {
      if (s.state === 'ready') continue;
      if (st === 'active' && s.id === newest) continue;
      if (referenced.has(s.id)) continue;
      if (now - s.createdAt.getTime() < policy.minAgeMs) continue;
      sandboxes.push(s.id);
    }
  }
  if (policy.maxContainers >= 0 && kept.length > policy.maxContainers) {
    kept
      .sort((a, b) => endedAt(a) - endedAt(b))
      .slice(0, kept.length - policy.maxContainers)
      .forEach((c) => {
        remove.add(c.id);
      });
  }
  return { containers: [...remove], sandboxes };
}

export class ContainerGC {
  constructor(
    private readonly opts: {
      runtime: DockerRuntime;
      network: CniNetwork;
      networkState: NetworkStateStore;
      policy: GcPolicy;
      logger: Logger;
    },
  ) {}

  async run(podState: (uid: string) => 'active' | 'deleted' | 'busy'): Promise<GcPlan> {
    const pods = [...(await this.opts.runtime.podStatuses()).values()];
    const plan = planGarbageCollection(pods, podState, this.opts.policy, Date.now());
    for (const id of plan.containers)
      await this.opts.runtime
        .remove(id)
        .catch((e) => this.opts.logger.warn('gc: cannot remove container', { id, error: e as Error }));
    for (const id of plan.sandboxes) {
      const pod = pods.find((p) => p.sandboxes.some((s) => s.id === id))!;
      try {
        // A sandbox found dead (killed behind our back, or during an agent restart) still holds an
        // IP address in IPAM until CNI DEL runs.
        const net = await this.opts.networkState.load(id);
        if (net && !net.tornDown) {
          await this.opts.network.tearDownPod({
            containerId: id,
            netnsPath: net.netnsPath,
            ifName: 'eth0',
            podName: pod.name,
            podNamespace: pod.namespace,
            podUid: pod.uid,
          });
        }
        await this.opts.runtime.remove(id);
        await this.opts.networkState.remove(id);
      } catch (e) {
        this.opts.logger.warn('gc: cannot remove sandbox', { id, error: e as Error });
      }
    }
    // A sandbox removed behind our back (docker rm -f) never had CNI DEL: its address would stay
    // allocated. Its record is all that is left; DEL with it (the namespace is gone, DEL must succeed).
    const known = new Set(pods.flatMap((p) => p.sandboxes.map((s) => s.id)));
    for (const id of await this.opts.networkState.list()) {
      if (known.has(id)) continue;
      // Created after the listing above? The container exists before its record is written.
      if (
        await this.opts.runtime.inspect(id).then(
          () => true,
          (e: { statusCode?: number }) => e.statusCode !== 404,
        )
      )
        continue;
      const net = await this.opts.networkState.load(id);
      try {
        if (net && !net.tornDown) {
          this.opts.logger.info('releasing the network of a sandbox that disappeared', {
            sandbox: id.slice(0, 12),
            ips: net.ips,
          });
          await this.opts.network.tearDownPod({
            containerId: id,
            netnsPath: '',
            ifName: 'eth0',
            podName: '',
            podNamespace: '',
            podUid: net.podUid,
          });
        }
        await this.opts.networkState.remove(id);
      } catch (e) {
        this.opts.logger.warn('gc: cannot release the network of a vanished sandbox', {
          sandbox: id,
          error: e as Error,
        });
      }
    }
    if (plan.containers.length || plan.sandboxes.length)
      this.opts.logger.info('garbage collected', {
        containers: plan.containers.length,
        sandboxes: plan.sandboxes.length,
      });
    return plan;
  }
}
