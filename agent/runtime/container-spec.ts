// From a Kubernetes container to Docker's create options: pure, so the mapping can be read and
// tested without Docker. Command/args follow Kubernetes semantics (command replaces the image's
// ENTRYPOINT, args its CMD); app containers join the sandbox's network and IPC namespaces; cgroup
// settings come from podspec/resources.ts.
import type Docker from 'dockerode';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { containerResources, oomScoreAdj, MIN_SHARES } from '../podspec/resources.js';
import type { QOSClass } from '../podspec/qos.js';
import { expandArgs } from '../podspec/env.js';
import { LABELS, containerName, sandboxName, SANDBOX_CONTAINER_NAME } from './naming.js';

export interface Mount {
  hostPath: string;
  containerPath: string;
  readOnly: boolean;
}

export interface ContainerConfigInput {
  pod: V1Pod;
  container: V1Container;
  isInit: boolean;
  attempt: number;
  hash: string;
  sandboxId: string;
  cgroupParent: string;
  qos: QOSClass;
  memoryCapacityBytes: number;
  instance: string;
  image: string;
  env: { name: string; value: string }[];
  mounts: Mount[];
  /** The lowest oom_score_adj allowed here (see runtime/oom.ts). */
  minOomScoreAdj?: number;
  /** An ephemeral container (kubectl debug): never restarted, so labelled for the runtime's readers. */
  ephemeral?: boolean;
  /** An ephemeral container's targetContainerName, resolved: it shares that container's PID namespace. */
  targetContainerId?: string;
}

function podLabels(pod: V1Pod, instance: string): Record<string, string> {
  const md = pod.metadata!;
  return {
    [LABELS.podName]: md.name!,
    [LABELS.podNamespace]: md.namespace!,
    [LABELS.podUid]: md.uid!,
    [LABELS.terminationGracePeriod]: String(pod.spec?.terminationGracePeriodSeconds ?? 30),
    [LABELS.instance]: instance,
  };
}

/** Docker capability names, with or without the CAP_ prefix Kubernetes allows. */
function caps(list: string[] | undefined): string[] | undefined {
  return list?.length ? list.map((c) => (c === 'ALL' || c.startsWith('CAP_') ? c : `CAP_${c}`)) : undefined;
}

/** The labels a container is found and judged by: its pod's, its own name, attempt and hash, and what
 * a restarted agent needs (termination message path, memory request, preStop hook). */
function containerLabels(i: ContainerConfigInput): Record<string, string> {
  const { pod, container: c } = i;
  const labels: Record<string, string> = {
    ...podLabels(pod, i.instance),
    [LABELS.containerName]: c.name,
    [LABELS.type]: 'container',
    [LABELS.sandboxId]: i.sandboxId,
    [LABELS.restartCount]: String(i.attempt),
    [LABELS.hash]: i.hash,
    [LABELS.terminationMessagePath]: c.terminationMessagePath ?? '/dev/termination-log',
  };
  if (i.isInit) labels[LABELS.initContainer] = 'true';
  // What an in-place resize compares the memory request with (no cgroup value holds it).
  const memoryRequest = c.resources?.requests?.memory ?? c.resources?.limits?.memory;
  if (memoryRequest !== undefined) labels[LABELS.memoryRequest] = String(memoryRequest);
  if (i.ephemeral) labels[LABELS.ephemeralContainer] = 'true';
  // Kept on the container so a restarted agent can still run the hook for a pod no source wants.
  if (c.lifecycle?.preStop) labels[LABELS.preStop] = JSON.stringify(c.lifecycle.preStop);
  return labels;
}

export function buildContainerConfig(i: ContainerConfigInput): Docker.ContainerCreateOptions {
  const { pod, container: c } = i;
  const md = pod.metadata!;
  const podSc = pod.spec?.securityContext ?? {};
  const sc = c.securityContext ?? {};
  const runAsUser = sc.runAsUser ?? podSc.runAsUser;
  const runAsGroup = sc.runAsGroup ?? podSc.runAsGroup;
  const res = containerResources(c);
  const groups = [...(podSc.supplementalGroups ?? []), ...(podSc.fsGroup !== undefined ? [podSc.fsGroup] : [])].map(
    String,
  );
  const securityOpt: string[] = [];
  if (sc.allowPrivilegeEscalation === false) securityOpt.push('no-new-privileges');
  const spec = pod.spec!;

  const labels = containerLabels(i);

  return {
    name: containerName(c.name, md.name!, md.namespace!, md.uid!, i.attempt),
    Image: i.image,
    // Kubernetes: command replaces ENTRYPOINT (and then the image's CMD is not used), args replaces CMD.
    Entrypoint: expandArgs(c.command, i.env),
    Cmd: expandArgs(c.args, i.env),
    Env: i.env.map((e) => `${e.name}=${e.value}`),
    WorkingDir: c.workingDir || undefined,
    User:
      runAsUser !== undefined
        ? runAsGroup !== undefined
          ? `${runAsUser}:${runAsGroup}`
          : String(runAsUser)
        : undefined,
    Tty: c.tty ?? false,
    OpenStdin: c.stdin ?? false,
    StdinOnce: c.stdinOnce ?? false,
    Labels: labels,
    HostConfig: {
      NetworkMode: `container:${i.sandboxId}`,
      IpcMode: `container:${i.sandboxId}`,
      // An ephemeral container's target wins: it is there to see that container's processes (as
      // the CRI's NamespaceOption TARGET, Docker's pid: container:<id>).
      PidMode: i.targetContainerId
        ? `container:${i.targetContainerId}`
        : spec.hostPID
          ? 'host'
          : spec.shareProcessNamespace
            ? `container:${i.sandboxId}`
            : undefined,
      CgroupParent: i.cgroupParent,
      CpuShares: res.cpuShares,
      CpuQuota: res.cpuQuotaUs || undefined,
      CpuPeriod: res.cpuQuotaUs ? res.cpuPeriodUs : undefined,
      Memory: res.memoryLimitBytes || undefined,
      // No swap beyond the memory limit, as kubelet configures it.
      MemorySwap: res.memoryLimitBytes || undefined,
      OomScoreAdj: Math.max(i.minOomScoreAdj ?? -1000, oomScoreAdj(i.qos, c, i.memoryCapacityBytes)),
      Binds: i.mounts.map((m) => `${m.hostPath}:${m.containerPath}${m.readOnly ? ':ro' : ''}`),
      Privileged: sc.privileged ?? false,
      ReadonlyRootfs: sc.readOnlyRootFilesystem ?? false,
      CapAdd: caps(sc.capabilities?.add),
      CapDrop: caps(sc.capabilities?.drop),
      SecurityOpt: securityOpt.length ? securityOpt : undefined,
      GroupAdd: groups.length ? groups : undefined,
      RestartPolicy: { Name: 'no' },
    },
  };
}

export interface SandboxConfigInput {
  pod: V1Pod;
  attempt: number;
  cgroupParent: string;
  instance: string;
  image: string;
  minOomScoreAdj?: number;
  /**
   * The pod's hostname (pods/pod-dns.ts: spec.hostname or the pod's name, cut to 63 characters,
   * or the FQDN with setHostnameAsFQDN); undefined for a host-network pod, which keeps the node's.
   */
  hostname?: string;
  /** Docker's network mode for a hostNetwork pod: "host" [default], or container:<holder> on an emulated node (runtime/host-network.ts). */
  hostNetworkMode?: string;
}

/**
 * The sandbox ("pause") container: it holds the pod's network and IPC namespaces. Created with no
 * network at all; the CNI plugin wires the namespace after it starts (unless hostNetwork).
 */
export function buildSandboxConfig(i: SandboxConfigInput): Docker.ContainerCreateOptions {
  const { pod } = i;
  const md = pod.metadata!;
  const spec = pod.spec!;
  const hostNetwork = spec.hostNetwork ?? false;
  const sysctls = Object.fromEntries((spec.securityContext?.sysctls ?? []).map((s) => [s.name, s.value]));
  return {
    name: sandboxName(md.name!, md.namespace!, md.uid!, i.attempt),
    Image: i.image,
    // Docker gives the app containers that join this sandbox's network its hostname too.
    Hostname: hostNetwork ? undefined : i.hostname,
    Labels: {
      ...podLabels(pod, i.instance),
      [LABELS.containerName]: SANDBOX_CONTAINER_NAME,
      [LABELS.type]: 'podsandbox',
      [LABELS.restartCount]: String(i.attempt),
      [LABELS.hostNetwork]: String(hostNetwork),
    },
    HostConfig: {
      NetworkMode: hostNetwork ? (i.hostNetworkMode ?? 'host') : 'none',
      // "shareable" so that app containers may join it with container:<id>.
      IpcMode: spec.hostIPC ? 'host' : 'shareable',
      PidMode: spec.hostPID ? 'host' : undefined,
      CgroupParent: i.cgroupParent,
      CpuShares: MIN_SHARES,
      OomScoreAdj: Math.max(i.minOomScoreAdj ?? -1000, oomScoreAdj('Guaranteed', undefined, 0)),
      Sysctls: Object.keys(sysctls).length ? sysctls : undefined,
      RestartPolicy: { Name: 'no' },
    },
  };
}
