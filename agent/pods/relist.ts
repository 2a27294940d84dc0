// The PLEG-like relist: one list of the agent's containers every few seconds, the safety net
// under Docker's event stream. Pods whose runtime state differs from what their worker last saw
// are synced; running pods no source wants are stopped as orphans. Its age is the agent's health.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/pleg/generic.go
import type { DockerRuntime } from '../runtime/docker.js';
import { podFingerprint, type PodRuntimeStatus } from '../runtime/types.js';
import type { AgentMetrics } from '../metrics.js';
import type { PodWorkers } from './pod-workers.js';
import { errorMessage } from '../../lib/errors.js';

export interface RelistOptions {
  runtime: DockerRuntime;
  workers: PodWorkers;
  /** The desired state (sources/merger.ts's PodConfig), read through what the relist needs of it. */
  podConfig: { allSourcesReady(): boolean; get(uid: string): unknown };
  metrics: AgentMetrics;
}

export class Relist {
  private lastRelist = Date.now();
  private lastRelistError?: string;
  /** Pods with containers or sandboxes in the runtime at the last relist. */
  inRuntime: ReadonlySet<string> = new Set<string>();

  constructor(private readonly opts: RelistOptions) {}

  /** PLEG-like relist: one list of our containers; pods whose containers changed are synced. */
  async relist(): Promise<void> {
    const { runtime, workers, podConfig, metrics } = this.opts;
    let pods: Map<string, PodRuntimeStatus>;
    try {
      pods = await runtime.podStatuses();
      this.lastRelist = Date.now();
      this.lastRelistError = undefined;
    } catch (e) {
      this.lastRelistError = errorMessage(e);
      throw e;
    }
    this.inRuntime = new Set(pods.keys());
    let runningPods = 0;
    const running: Record<string, number> = {};
    for (const [uid, p] of pods) {
      workers.relisted(uid, podFingerprint(p));
      if (p.sandboxes.some((s) => s.state === 'ready')) runningPods++;
      for (const c of p.containers) running[c.state] = (running[c.state] ?? 0) + 1;
      const live = p.containers.some((c) => c.state === 'running') || p.sandboxes.some((s) => s.state === 'ready');
      if (live && podConfig.allSourcesReady() && !podConfig.get(uid) && !workers.has(uid)) workers.killOrphan(p);
    }
    metrics.runningPods.set({}, runningPods);
    metrics.runningContainers.reset();
    for (const [state, n] of Object.entries(running)) metrics.runningContainers.set({ container_state: state }, n);
  }

  /** Unhealthy when the runtime could not be listed for a minute (kubelet's PLEG health check). */
  healthy(): { ok: boolean; message: string } {
    const age = Date.now() - this.lastRelist;
    if (age > 60_000)
      return {
        ok: false,
        message: `no successful relist of the runtime for ${Math.round(age / 1000)}s: ${this.lastRelistError ?? ''}`,
      };
    return { ok: true, message: '' };
  }
}
