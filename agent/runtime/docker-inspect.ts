// Docker's inspect results in the runtime's terms (types.ts): a container's state, resources and
// labels, a sandbox's readiness. Pure: docker.ts reads, this file translates.
import type Docker from 'dockerode';
import { quantityValue } from '../../lib/quantity.js';
import { LABELS } from './naming.js';
import type { RuntimeContainer, RuntimeContainerState, RuntimeResources, RuntimeSandbox } from './types.js';

/** Docker's zero time, as it reports a container that never started or finished. */
export const zeroTime = '0001-01-01T00:00:00Z';

function time(s: string | undefined): Date | undefined {
  return !s || s.startsWith('0001-') ? undefined : new Date(s);
}

function state(info: Docker.ContainerInspectInfo): RuntimeContainerState {
  const s = info.State;
  if (s.Running) return 'running';
  // A container Docker failed to start (bad command, missing binary) has ended as far as we are concerned.
  if (s.Error) return 'exited';
  if (s.Status === 'created') return 'created';
  if (s.Status === 'exited' || s.Status === 'dead') return 'exited';
  return 'unknown';
}

export function toContainer(info: Docker.ContainerInspectInfo): RuntimeContainer {
  const l = info.Config.Labels ?? {};
  const st = state(info);
  return {
    id: info.Id,
    name: l[LABELS.containerName] ?? '',
    podUid: l[LABELS.podUid] ?? '',
    attempt: Number(l[LABELS.restartCount] ?? 0),
    hash: l[LABELS.hash] ?? '',
    isInit: l[LABELS.initContainer] === 'true',
    image: info.Config.Image,
    imageId: info.Image,
    state: st,
    createdAt: new Date(info.Created),
    startedAt: time(info.State.StartedAt),
    finishedAt: st === 'exited' ? time(info.State.FinishedAt) : undefined,
    exitCode: st === 'exited' ? info.State.ExitCode : undefined,
    oomKilled: info.State.OOMKilled,
    error: info.State.Error || undefined,
    pid: info.State.Pid || undefined,
    resources: toResources(info),
    labels: l,
  };
}

function toResources(info: Docker.ContainerInspectInfo): RuntimeResources {
  const h = info.HostConfig;
  const memoryRequest = info.Config.Labels?.[LABELS.memoryRequest];
  let memoryRequestBytes: number | undefined;
  try {
    memoryRequestBytes = memoryRequest === undefined ? undefined : quantityValue(memoryRequest);
  } catch {
    /* not ours to judge */
  }
  return {
    cpuShares: h.CpuShares ?? 0,
    cpuQuotaUs: h.CpuQuota ?? 0,
    cpuPeriodUs: h.CpuPeriod ?? 0,
    memoryLimitBytes: h.Memory ?? 0,
    ...(memoryRequestBytes !== undefined ? { memoryRequest, memoryRequestBytes } : {}),
  };
}

export function toSandbox(info: Docker.ContainerInspectInfo): RuntimeSandbox {
  const l = info.Config.Labels ?? {};
  return {
    id: info.Id,
    podUid: l[LABELS.podUid] ?? '',
    attempt: Number(l[LABELS.restartCount] ?? 0),
    state: info.State.Running ? 'ready' : 'notready',
    createdAt: new Date(info.Created),
    pid: info.State.Pid || undefined,
    hostNetwork: l[LABELS.hostNetwork] === 'true',
    labels: l,
  };
}
