// The pod sandbox: create it (pod cgroup, pause container with no network, then CNI ADD on its
// network namespace) and stop it (CNI DEL first, while the namespace still exists, then the
// container), as kubelet's RunPodSandbox and StopPodSandbox do.
import { run } from '../../lib/exec.js';
import { faultPoint } from '../../lib/faultpoints.js';
import { errorMessage } from '../../lib/errors.js';
import type { PodRuntimeStatus, RuntimeSandbox } from '../runtime/types.js';
import { sandboxNetworkProblem } from '../runtime/network-state.js';
import { buildSandboxConfig } from '../runtime/container-spec.js';
import type { PodContext } from './context.js';
import type { PodState } from './pod-state.js';
import { getPodQOS } from '../podspec/qos.js';
import { sandboxHostname, writeResolvConf } from './pod-dns.js';

function portMappings(state: PodState) {
  const out: { hostPort: number; containerPort: number; protocol: 'tcp' | 'udp' | 'sctp'; hostIP?: string }[] = [];
  for (const c of state.pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) {
      if (p.hostPort)
        out.push({
          hostPort: p.hostPort,
          containerPort: p.containerPort,
          protocol: (p.protocol ?? 'TCP').toLowerCase() as 'tcp',
          ...(p.hostIP ? { hostIP: p.hostIP } : {}),
        });
    }
  }
  return out.length ? out : undefined;
}

function networkRequest(state: PodState, containerId: string, netnsPath: string) {
  const md = state.pod.metadata!;
  return {
    containerId,
    netnsPath,
    ifName: 'eth0',
    podName: md.name!,
    podNamespace: md.namespace!,
    podUid: state.uid,
    portMappings: portMappings(state),
  };
}

/** Create and wire a new sandbox; returns its id. Throws with the reason on failure (nothing left behind). */
export async function createSandbox(ctx: PodContext, state: PodState, attempt: number): Promise<string> {
  const pod = state.pod;
  // Where the time goes (in the log line below): Docker create/start vs CNI ADD.
  const t0 = Date.now();
  const ms: Record<string, number> = {};
  await ctx.images.ensure(ctx.podInfraImage, 'IfNotPresent', state.uid);
  const cgroupParent = await ctx.cgroups.ensurePod(pod, getPodQOS(pod));
  // The sandbox's hostname and DNS settings, as kubelet's generatePodSandboxConfig makes them
  // before RunPodSandbox: a pod whose hostname cannot be made gets no sandbox.
  const hostname = sandboxHostname(ctx, pod);
  await writeResolvConf(ctx, state);
  const id = await ctx.runtime.create(
    buildSandboxConfig({
      pod,
      attempt,
      cgroupParent,
      instance: ctx.instance,
      image: ctx.podInfraImage,
      minOomScoreAdj: ctx.minOomScoreAdj,
      hostname,
      hostNetworkMode: ctx.hostNetworkMode,
    }),
  );
  ms.createMs = Date.now() - t0;
  try {
    await ctx.runtime.start(id);
    ms.startMs = Date.now() - t0 - ms.createMs;
    if (pod.spec?.hostNetwork) {
      await ctx.networkState.save(id, { podUid: state.uid, ips: ctx.hostIPs, netnsPath: '', tornDown: true });
      state.podIPs = ctx.hostIPs;
    } else {
      const info = await ctx.runtime.inspect(id);
      if (!info.State.Pid) throw new Error(`sandbox exited at once (exit code ${info.State.ExitCode})`);
      const netnsPath = `/proc/${info.State.Pid}/ns/net`;
      // Recorded before ADD, so that a crash in between still leads to a DEL later.
      await ctx.networkState.save(id, { podUid: state.uid, ips: [], netnsPath, tornDown: false });
      await faultPoint('before-cni-add');
      const cniStart = Date.now();
      const result = await ctx.network.setUpPod(networkRequest(state, id, netnsPath));
      ms.cniMs = Date.now() - cniStart;
      await ctx.networkState.save(id, { podUid: state.uid, ips: result.ips, netnsPath, tornDown: false });
      state.podIPs = result.ips;
      state.log.info('sandbox network set up', {
        sandbox: id.slice(0, 12),
        ips: result.ips,
        ...ms,
        totalMs: Date.now() - t0,
      });
      await faultPoint('after-cni-add');
    }
  } catch (e) {
    // Undo what was made, each step even if the one before failed. The caller gets the error that
    // stopped the creation; a step of the undoing that fails too is logged (it may have left a
    // container, a veth or an IP address behind), not thrown in place of the first error.
    const rollbackFailed = (step: string) => (err: unknown) => {
      state.log.warn('sandbox rollback step failed', { sandbox: id.slice(0, 12), step, error: errorMessage(err) });
    };
    await ctx.runtime.stop(id, 0).catch(rollbackFailed('stop the sandbox container'));
    const net = await ctx.networkState.load(id);
    if (net && !net.tornDown)
      await ctx.network
        .tearDownPod(networkRequest(state, id, net.netnsPath))
        .catch(rollbackFailed('CNI DEL of the sandbox network'));
    await ctx.runtime.remove(id).catch(rollbackFailed('remove the sandbox container'));
    await ctx.networkState.remove(id);
    throw new Error(`failed to create pod sandbox: ${errorMessage(e)}`);
  }
  return id;
}

/** CNI DEL (once) and stop, for every sandbox of the pod that still needs either. */
export async function stopSandboxes(ctx: PodContext, state: PodState, rt: PodRuntimeStatus): Promise<void> {
  for (const s of rt.sandboxes) await stopSandbox(ctx, state, s);
  state.sandboxReady = false;
}

async function stopSandbox(ctx: PodContext, state: PodState, s: RuntimeSandbox): Promise<void> {
  let net = await ctx.networkState.load(s.id);
  if (!net && !s.hostNetwork)
    net = { podUid: state.uid, ips: [], netnsPath: s.pid ? `/proc/${s.pid}/ns/net` : '', tornDown: false };
  if (net && !net.tornDown) {
    // The namespace path is only valid while the sandbox runs; CNI DEL must succeed without it.
    const netnsPath = s.state === 'ready' && s.pid ? `/proc/${s.pid}/ns/net` : net.netnsPath;
    await ctx.network.tearDownPod(networkRequest(state, s.id, netnsPath));
    await ctx.networkState.save(s.id, { ...net, tornDown: true });
    state.log.info('sandbox network torn down', { sandbox: s.id.slice(0, 12), ips: net.ips });
  }
  if (s.state === 'ready') await ctx.runtime.stop(s.id, 10);
}

/** The pod's current sandbox's network: its IPs, or why it has no usable network. */
export interface SandboxNetworkView {
  ips: string[];
  /** Set for a running pod-network sandbox whose network is not set up (it must be replaced). */
  problem?: string;
}

/** The IPs of the pod's current sandbox: from its network record, or read from its namespace. */
export async function sandboxNetwork(ctx: PodContext, s: RuntimeSandbox | undefined): Promise<SandboxNetworkView> {
  if (s?.state !== 'ready') return { ips: [] };
  if (s.hostNetwork) return { ips: ctx.hostIPs };
  const net = await ctx.networkState.load(s.id);
  if (net) {
    const problem = sandboxNetworkProblem(net, s.pid);
    return problem ? { ips: [], problem } : { ips: net.ips };
  }
  if (!s.pid) return { ips: [] };
  // No record (lost state directory): ask the namespace itself.
  const r = await run(
    'nsenter',
    [`--net=/proc/${s.pid}/ns/net`, 'ip', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'],
    { allowFailure: true, timeoutMs: 5000 },
  );
  const ips = [...r.stdout.matchAll(/inet6? ([0-9a-f.:]+)\//g)].map((m) => m[1]!);
  return ips.length
    ? { ips }
    : { ips, problem: 'the sandbox has no IP address (no network record, and none on eth0 in its namespace)' };
}
