// What a sync reads from the runtime's view of a pod and hands on: the pod's IPs and sandbox
// network, probe failures and kill reasons that no longer apply, which sidecars have started, the
// container instances the prober watches, and the exited containers' termination messages. Each
// works on one pod's PodState and is called by sync-pod.ts.
import { dockerProbeTarget } from '../contracts.js';
import type { PodRuntimeStatus } from '../runtime/types.js';
import { isRestartableInitContainer } from './init-container-actions.js';
import type { PodContext } from './context.js';
import type { PodState } from './pod-state.js';
import { sandboxNetwork } from './sandbox.js';

/** The pod IPs, and whether the sandbox's network is set up (computePodActions replaces it if not). */
export async function observeNetwork(ctx: PodContext, state: PodState, rt: PodRuntimeStatus): Promise<void> {
  const latest = rt.sandboxes[0];
  const net = await sandboxNetwork(ctx, latest);
  if (latest && net.problem) latest.networkProblem = net.problem;
  state.podIPs = net.ips;
  state.sandboxReady = latest?.state === 'ready' && net.ips.length > 0;
}

export function forgetStaleProbeFailures(state: PodState, rt: PodRuntimeStatus): void {
  for (const [name, f] of state.probeFailures) {
    if (!rt.containers.some((c) => c.id === f.containerId && c.state === 'running')) state.probeFailures.delete(name);
  }
  const ids = new Set(rt.containers.map((c) => c.id));
  for (const id of state.killed.keys()) if (!ids.has(id)) state.killed.delete(id);
}

/**
 * The running sidecar instances whose startupProbe has succeeded: the next init container waits
 * for them (kubelet reads its startupManager). The prober's answer is for the instance it probes.
 */
export function startedSidecars(ctx: PodContext, state: PodState, rt: PodRuntimeStatus): Set<string> {
  const out = new Set<string>();
  for (const c of state.pod.spec?.initContainers ?? []) {
    if (!isRestartableInitContainer(c) || !c.startupProbe) continue;
    const latest = rt.containers.find((x) => x.name === c.name && x.state === 'running');
    if (latest && state.probed.get(c.name) === latest.id && ctx.prober.isStarted(state.uid, c.name)) out.add(latest.id);
  }
  return out;
}

/**
 * Every running app container instance, and every running sidecar (whose probes run as an app
 * container's, as kubelet's prober manager adds workers for restartable init containers), is
 * handed to the prober once; ended ones are withdrawn.
 */
export function registerProbes(ctx: PodContext, state: PodState, rt: PodRuntimeStatus): void {
  if (state.orphan) return;
  const sidecars = (state.pod.spec?.initContainers ?? []).filter(isRestartableInitContainer);
  for (const c of [...sidecars, ...(state.pod.spec?.containers ?? [])]) {
    const latest = rt.containers.find((x) => x.name === c.name);
    const running = latest?.state === 'running' ? latest : undefined;
    const registered = state.probed.get(c.name);
    if (running && registered !== running.id) {
      ctx.prober.addContainer(
        state.uid,
        dockerProbeTarget({
          exec: (id, cmd, timeoutMs) => ctx.runtime.exec(id, cmd, timeoutMs),
          pod: state.pod,
          podIP: () => state.podIPs[0],
          container: c,
          containerId: running.id,
          startedAt: running.startedAt,
        }),
      );
      state.probed.set(c.name, running.id);
    } else if (!running && registered) {
      ctx.prober.removeContainer(state.uid, c.name);
      state.probed.delete(c.name);
    }
  }
}

export async function readTerminationMessages(ctx: PodContext, state: PodState, rt: PodRuntimeStatus): Promise<void> {
  for (const c of rt.containers) {
    if (c.state !== 'exited' || state.terminationMessages.has(c.id)) continue;
    let msg = await ctx.volumes.readTerminationMessage(state.uid, c.name, c.attempt);
    const spec = [...(state.pod.spec?.containers ?? []), ...(state.pod.spec?.initContainers ?? [])].find(
      (x) => x.name === c.name,
    );
    if (!msg && spec?.terminationMessagePolicy === 'FallbackToLogsOnError' && c.exitCode !== 0) {
      // The tail of the log, at most 80 lines and 2 KiB, as kubelet.
      try {
        const s = await ctx.runtime.logs(c.id, { follow: false, tail: 80, timestamps: false });
        const chunks: Buffer[] = [];
        for await (const b of s) chunks.push(b as Buffer);
        const text = Buffer.concat(chunks).toString('utf8');
        msg = text.slice(-2048) || undefined;
      } catch {
        /* no log */
      }
    }
    state.terminationMessages.set(c.id, msg ?? '');
  }
  const ids = new Set(rt.containers.map((c) => c.id));
  for (const id of state.terminationMessages.keys()) if (!ids.has(id)) state.terminationMessages.delete(id);
}
