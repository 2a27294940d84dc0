// What the agent knows about a pod's containers in the runtime: the input to computePodActions
// and to status generation. Newest instances come first. ContainerRuntime, at the end, is the runtime's interface.
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';

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

export interface StreamOptions {
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
  tty: boolean;
}

export interface InteractiveSession {
  /** The process's stdin; end() closes it. */
  stdin?: NodeJS.WritableStream;
  stdout: Readable;
  /** Ends at once with a TTY (its output is all on stdout). */
  stderr: Readable;
  resize(width: number, height: number): Promise<void>;
  /** After the output ended: the exit code, when the runtime reports one. */
  exitCode(): Promise<number | undefined>;
  /** Cut the connection (the client went away). */
  close(): void;
}

/** What `kubectl logs` asks of a container's log. */
export interface LogRequest {
  follow: boolean;
  tail?: number;
  timestamps: boolean;
  sinceMs?: number;
}

/**
 * The container runtime as the pod workers and the node's servers see it, kubelet's CRI in the
 * shape this agent needs: pod status read back from the runtime, the container lifecycle, and
 * commands and logs for the prober, `kubectl exec/attach/logs` and port-forward. DockerRuntime
 * (docker.ts) is the one implementation; nothing outside runtime/ names Docker. Container specs
 * and inspect results are still Docker's shapes (container-spec.ts builds them), as the only
 * runtime speaks them.
 */
export interface ContainerRuntime {
  podStatus(uid: string, name?: string, namespace?: string): Promise<PodRuntimeStatus>;
  podStatuses(uid?: string): Promise<Map<string, PodRuntimeStatus>>;
  create(options: Docker.ContainerCreateOptions): Promise<string>;
  start(id: string): Promise<void>;
  stop(id: string, timeoutSeconds: number): Promise<void>;
  remove(id: string): Promise<void>;
  updateResources(
    id: string,
    r: { cpuShares?: number; cpuQuotaUs?: number; cpuPeriodUs?: number; memoryLimitBytes?: number },
  ): Promise<void>;
  inspect(id: string): Promise<Docker.ContainerInspectInfo>;
  imageInspect(ref: string): Promise<Docker.ImageInspectInfo | undefined>;
  /** Run a command and collect its output; on timeout the command is killed and the promise rejects. */
  exec(id: string, cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }>;
  execInteractive(id: string, cmd: string[], o: StreamOptions): Promise<InteractiveSession>;
  attachInteractive(id: string, o: StreamOptions): Promise<InteractiveSession>;
  logs(id: string, opts: LogRequest): Promise<Readable>;
}
