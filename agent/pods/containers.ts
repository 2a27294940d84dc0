// Starting one container of a pod, as kubelet's startContainer: back-off check, image,
// environment, mounts, create, start, postStart hook (killing is kill-container.ts').
import type { V1Container, V1EphemeralContainer } from '@kubernetes/client-node';
import { ContainerConfigError, resolveContainerEnv } from '../podspec/env.js';
import { fetchEnvObjects } from './env-objects.js';
import { podServiceEnv } from './service-env.js';
import { ImageError } from '../runtime/images.js';
import { buildContainerConfig } from '../runtime/container-spec.js';
import { containerMounts } from './container-mounts.js';
import { latestContainer, type PodRuntimeStatus, type RuntimeContainer } from '../runtime/types.js';
import { containerHash } from './container-hash.js';
import type { PodContext } from './context.js';
import { runHandler } from './lifecycle.js';
import { formatDuration, gracePeriodSeconds, podKey } from '../podspec/pod.js';
import type { PodState } from './pod-state.js';
import { getPodQOS } from '../podspec/qos.js';
import { RuntimeError } from '../runtime/docker.js';
import { podRef } from '../events/types.js';
import { formatPod } from '../events/messages.js';
import { killContainer } from './kill-container.js';
import { faultPoint } from '../../lib/faultpoints.js';
import { errorMessage } from '../../lib/errors.js';

function backoffKey(state: PodState, c: V1Container): string {
  return `${state.uid}/${c.name}/${containerHash(c)}`;
}

function specField(state: PodState, c: V1Container, isInit: boolean, ephemeral: boolean): string {
  const list: V1Container[] | undefined = ephemeral
    ? state.pod.spec?.ephemeralContainers
    : isInit
      ? state.pod.spec?.initContainers
      : state.pod.spec?.containers;
  return `spec.${ephemeral ? 'ephemeralContainers' : isInit ? 'initContainers' : 'containers'}[${list?.indexOf(c) ?? 0}]`;
}

/**
 * An ephemeral container with targetContainerName joins that container's PID namespace (kubelet's
 * getTargetID: the target's current instance, which must exist); undefined when it names none.
 */
function targetContainerId(rt: PodRuntimeStatus, ec: V1EphemeralContainer | undefined): string | undefined {
  if (!ec?.targetContainerName) return undefined;
  const target = latestContainer(rt, ec.targetContainerName);
  if (!target)
    throw new ContainerConfigError('targetContainerName', `unable to find target container ${ec.targetContainerName}`);
  return target.id;
}

async function checkRunAsNonRoot(ctx: PodContext, state: PodState, c: V1Container, imageId: string): Promise<void> {
  const sc = c.securityContext ?? {};
  const psc = state.pod.spec?.securityContext ?? {};
  if (!(sc.runAsNonRoot ?? psc.runAsNonRoot)) return;
  const uid = sc.runAsUser ?? psc.runAsUser;
  if (uid !== undefined) {
    if (uid === 0)
      throw new ContainerConfigError('securityContext.runAsNonRoot', 'container has runAsNonRoot and runAsUser 0');
    return;
  }
  const user = (await ctx.runtime.imageInspect(imageId))?.Config?.User ?? '';
  const name = user.split(':')[0] ?? '';
  if (name === '' || name === '0' || name === 'root')
    throw new ContainerConfigError(
      'securityContext.runAsNonRoot',
      'container has runAsNonRoot and image will run as root',
    );
  if (!/^\d+$/.test(name))
    throw new ContainerConfigError(
      'securityContext.runAsNonRoot',
      `container has runAsNonRoot and image has non-numeric user (${name}), cannot verify user is non-root`,
    );
}

/**
 * Start one container (a new instance). Returns after how many ms the pod should be synced again
 * when the container could not be started now (back-off, image pull...), else undefined.
 * `ephemeral`: the container is spec.ephemeralContainers' (c is its common part).
 */
export async function startContainer(
  ctx: PodContext,
  state: PodState,
  rt: PodRuntimeStatus,
  c: V1Container,
  isInit: boolean,
  sandboxId: string,
  ephemeral?: V1EphemeralContainer,
): Promise<number | undefined> {
  const pod = state.pod;
  const ref = podRef(pod, { name: c.name, init: isInit, ephemeral: !!ephemeral });
  const latest = latestContainer(rt, c.name);
  const backOff = restartBackOff(ctx, state, rt, c, ref);
  if (backOff !== undefined) return backOff;
  const attempt = latest ? latest.attempt + 1 : 0;
  const field = specField(state, c, isInit, !!ephemeral);
  let step = 'pull';
  try {
    const imageId = await ctx.images.ensure(
      c.image!,
      c.imagePullPolicy,
      state.uid,
      Date.now(),
      (type, reason, message) =>
        ctx.recorder.event(ref, type, reason, message, {
          repeatAfterMs: type === 'Warning' || reason === 'BackOff' ? 10_000 : undefined,
        }),
    );
    step = 'config';
    const env = await containerEnv(ctx, state, c, field);
    await checkRunAsNonRoot(ctx, state, c, imageId);
    const mounts = await containerMounts(ctx, state, c, env, field, attempt);
    const targetId = targetContainerId(rt, ephemeral);
    const qos = getPodQOS(pod);
    const cgroupParent = await ctx.cgroups.ensurePod(pod, qos);
    step = 'create';
    const opts = buildContainerConfig({
      pod,
      container: c,
      isInit,
      attempt,
      hash: containerHash(c),
      sandboxId,
      cgroupParent,
      qos,
      memoryCapacityBytes: ctx.capacity.memoryBytes,
      instance: ctx.instance,
      image: c.image!,
      env,
      mounts,
      minOomScoreAdj: ctx.minOomScoreAdj,
      ...(ephemeral ? { ephemeral: true, targetContainerId: targetId } : {}),
    });
    const id = await ctx.runtime.create(opts);
    ctx.recorder.event(ref, 'Normal', 'Created', `Created container: ${c.name}`);
    ctx.metrics.runtimeOperations.inc({ operation_type: 'create_container' });
    step = 'start';
    await ctx.runtime.start(id);
    ctx.recorder.event(ref, 'Normal', 'Started', `Started container ${c.name}`);
    ctx.metrics.runtimeOperations.inc({ operation_type: 'start_container' });
    containerStarted(ctx, state, c, id, { restarted: !!latest, attempt, isInit, ephemeral });
    if (isInit) await faultPoint('after-init-container-start');
    if (c.lifecycle?.postStart) await runPostStart(ctx, state, c, id, ref);
    return undefined;
  } catch (e) {
    return startFailed(ctx, state, c, ref, e as Error, step, field);
  }
}

/** The container's environment; ConfigMaps and Secrets first (through the objects cache), then the pure resolution. */
async function containerEnv(
  ctx: PodContext,
  state: PodState,
  c: V1Container,
  field: string,
): Promise<{ name: string; value: string }[]> {
  const pod = state.pod;
  const envObjects = await fetchEnvObjects(pod, c, field, ctx.objects);
  const { env, skipped } = resolveContainerEnv(
    c,
    {
      pod,
      podIPs: state.podIPs,
      hostIPs: ctx.hostIPs,
      nodeCpuMilli: ctx.allocatable.cpuMilli,
      nodeMemoryBytes: ctx.allocatable.memoryBytes,
      serviceEnv: podServiceEnv(ctx.services, pod),
    },
    field,
    envObjects,
  );
  for (const line of skipped)
    state.log.warn('invalid environment variable names skipped', { container: c.name, detail: line });
  return env;
}

/** A container instance started: it waits no more; a restart is counted; the log says which. */
function containerStarted(
  ctx: PodContext,
  state: PodState,
  c: V1Container,
  id: string,
  o: { restarted: boolean; attempt: number; isInit: boolean; ephemeral?: V1EphemeralContainer },
): void {
  const pod = state.pod;
  state.waiting.delete(c.name);
  if (o.restarted)
    ctx.metrics.containerRestarts.inc({
      container: c.name,
      pod: pod.metadata!.name!,
      namespace: pod.metadata!.namespace!,
    });
  state.log.info(o.restarted ? 'restarted container' : 'started container', {
    container: c.name,
    id: id.slice(0, 12),
    restartCount: o.attempt,
    init: o.isInit || undefined,
    ephemeral: o.ephemeral ? true : undefined,
    target: o.ephemeral?.targetContainerName,
  });
}

/** The object a container's Events are about. */
type ContainerRef = ReturnType<typeof podRef>;

/**
 * kubelet's doBackOff: while the container's restart back-off runs, it waits in CrashLoopBackOff
 * and this returns the ms left; else the back-off is advanced and this returns undefined.
 */
function restartBackOff(
  ctx: PodContext,
  state: PodState,
  rt: PodRuntimeStatus,
  c: V1Container,
  ref: ContainerRef,
): number | undefined {
  const pod = state.pod;
  const now = Date.now();
  // Restart back-off, measured from when the newest ended instance ended (as kubelet's doBackOff:
  // a container killed in this same sync, say for failing liveness, counts its predecessor).
  const lastEnded = rt.containers.find((x) => x.name === c.name && x.state === 'exited');
  if (lastEnded) {
    const key = backoffKey(state, c);
    const ended = (lastEnded.finishedAt ?? lastEnded.startedAt ?? lastEnded.createdAt).getTime();
    const left = ctx.backoff.remaining(key, ended, now);
    if (left > 0) {
      const delay = ctx.backoff.get(key)!.delayMs;
      state.waiting.set(c.name, {
        reason: 'CrashLoopBackOff',
        message: `back-off ${formatDuration(delay)} restarting failed container=${c.name} pod=${podKey(pod)}`,
      });
      ctx.recorder.event(
        ref,
        'Warning',
        'BackOff',
        `Back-off restarting failed container ${c.name} in pod ${formatPod(pod)}`,
        { repeatAfterMs: 10_000 },
      );
      return left;
    }
    ctx.backoff.next(key, ended);
  }
  return undefined;
}

/** The postStart hook; a container whose hook fails is killed (kubelet's PostStartHookError). */
async function runPostStart(
  ctx: PodContext,
  state: PodState,
  c: V1Container,
  id: string,
  ref: ContainerRef,
): Promise<void> {
  try {
    await runHandler(c.lifecycle!.postStart!, {
      runtime: ctx.runtime,
      containerId: id,
      container: c,
      podIP: state.podIPs[0],
      timeoutMs: gracePeriodSeconds(state.pod) * 1000 || 30_000,
    });
  } catch (e) {
    const message = `PostStartHookError: ${errorMessage(e)}`;
    ctx.recorder.event(ref, 'Warning', 'FailedPostStartHook', 'PostStartHook failed'); // no handler output in Events, as kubelet (it may hold secrets)
    state.log.warn('postStart hook failed; killing the container', { container: c.name, error: message });
    await killContainer(
      ctx,
      state,
      { id, name: c.name, state: 'running', labels: {} } as RuntimeContainer,
      message,
      'PostStartHookError',
    );
  }
}

/** A start that failed at `step`: the container waits with kubelet's reason; returns when to retry (ms). */
function startFailed(
  ctx: PodContext,
  state: PodState,
  c: V1Container,
  ref: ContainerRef,
  err: Error,
  step: string,
  field: string,
): number {
  let reason: string;
  let retryMs = 2000;
  if (err instanceof ImageError) reason = err.reason;
  else if (err instanceof ContainerConfigError) {
    reason = 'CreateContainerConfigError';
    retryMs = err.retryAfterMs ?? 10_000;
  } else if (step === 'create') {
    reason = 'CreateContainerError';
    ctx.metrics.runtimeErrors.inc({ operation_type: 'create_container' });
  } else if (step === 'start') {
    reason = 'RunContainerError';
    ctx.metrics.runtimeErrors.inc({ operation_type: 'start_container' });
  } else reason = 'CreateContainerError';
  const message =
    err instanceof ContainerConfigError ? (err.bare ? err.message : `${field}.${err.message}`) : err.message;
  const prev = state.waiting.get(c.name);
  if (prev?.reason !== reason || prev?.message !== message)
    state.log.warn('container not started', { container: c.name, reason, message });
  state.waiting.set(c.name, { reason, message });
  ctx.recorder.event(ref, 'Warning', 'Failed', `Error: ${err instanceof ImageError ? reason : message}`, {
    repeatAfterMs: 10_000,
  });
  if (
    !(err instanceof RuntimeError) &&
    !(err instanceof ImageError) &&
    !(err instanceof ContainerConfigError) &&
    step !== 'create' &&
    step !== 'start'
  ) {
    state.log.debug('unexpected start failure', { error: err.stack });
  }
  return retryMs;
}
