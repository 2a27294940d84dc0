// What the agent knows about a pod's containers in the runtime: the input to computePodActions
// and to status generation. Newest instances come first.

export type RuntimeContainerState = 'created' | 'running' | 'exited' | 'unknown';

export interface RuntimeContainer {
  id: string;
  /** The Kubernetes container name (not the Docker name). */
  name: string;
  podUid: string;
  /** How many times this container was restarted before this instance (the restartCount). */
  attempt: number;
  /** Hash of the container spec this instance was created from. */
  hash: string;
  isInit: boolean;
  image: string;
  imageId: string;
  state: RuntimeContainerState;
  createdAt: Date;
  startedAt?: Date;
  finishedAt?: Date;
  exitCode?: number;
  oomKilled?: boolean;
  /** Docker's error for a container that failed to start. */
  error?: string;
  pid?: number;
  /** The cgroup values Docker has for the container (what a resize changes). */
  resources?: RuntimeResources;
  /** Docker labels, for a pod that is gone from the desired set (grace period, preStop handler). */
  labels: Record<string, string>;
}

/** CPU and memory as applied to a container: Docker's HostConfig, and the request it was created with. */
export interface RuntimeResources {
  cpuShares: number;
  /** 0: no CFS quota. */
  cpuQuotaUs: number;
  cpuPeriodUs: number;
  /** 0: no limit. */
  memoryLimitBytes: number;
  /** The memory request the container was created with (a label; no cgroup holds it), as written and in bytes. */
  memoryRequest?: string;
  memoryRequestBytes?: number;
}

export interface RuntimeSandbox {
  id: string;
  podUid: string;
  attempt: number;
  /** running = ready: the sandbox holds the pod's namespaces. */
  state: 'ready' | 'notready';
  createdAt: Date;
  pid?: number;
  hostNetwork: boolean;
  labels: Record<string, string>;
  /**
   * Why the pod network in this running sandbox is not usable, when it is not (no IP, namespace
   * replaced). Docker cannot tell: the pod worker fills it in from the sandbox's network record.
   */
  networkProblem?: string;
}

export interface PodRuntimeStatus {
  uid: string;
  name: string;
  namespace: string;
  sandboxes: RuntimeSandbox[];
  containers: RuntimeContainer[];
}

export function latestContainer(s: PodRuntimeStatus, name: string): RuntimeContainer | undefined {
  return s.containers.find((c) => c.name === name);
}

/** Newest first: by attempt, then by creation time. */
export function byNewest<T extends { attempt: number; createdAt: Date }>(a: T, b: T): number {
  return b.attempt - a.attempt || b.createdAt.getTime() - a.createdAt.getTime();
}

/** What changed in a pod's containers, in one string: equal strings mean nothing happened. */
export function podFingerprint(s: PodRuntimeStatus | undefined): string {
  if (!s) return '';
  return [...s.sandboxes, ...s.containers].map((c) => `${c.id.slice(0, 12)}:${c.state}`).join(',');
}
