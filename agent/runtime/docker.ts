// The Docker Engine, through dockerode: the only file that talks to Docker. It lists and inspects
// the containers of this agent (label kubenode.io/instance), creates, starts, stops and removes
// them, pulls images, runs commands in containers and follows the event stream. No decisions are
// made here: the pod worker decides, this file does.
import Docker from 'dockerode';
import type { Readable } from 'node:stream';
import type { Logger } from '../../lib/log.js';
import { dockerExec } from './docker-exec.js';
import { LABELS } from './naming.js';
import { byNewest, type PodRuntimeStatus } from './types.js';
import { toContainer, toSandbox } from './docker-inspect.js';
import { followContainerEvents } from './docker-events.js';
import { attachInteractive, containerLogs, execInteractive } from './docker-streams.js';
import type { InteractiveSession, StreamOptions } from './types.js';
import { errorMessage } from '../../lib/errors.js';

export interface DockerRuntimeOptions {
  /** unix:///var/run/docker.sock, or a plain socket path. */
  endpoint: string;
  /** Only containers with label kubenode.io/instance=<instance> belong to this agent. */
  instance: string;
  logger: Logger;
}

export interface RuntimeEvent {
  action: string;
  containerId: string;
  podUid?: string;
  /** The event of an action this runtime took itself (a start it made, a stop it asked for). */
  ours: boolean;
}

export class RuntimeError extends Error {
  constructor(
    message: string,
    readonly statusCode?: number,
  ) {
    super(message);
    this.name = 'RuntimeError';
  }
}

function statusCode(e: unknown): number | undefined {
  return (e as { statusCode?: number }).statusCode;
}

function dockerMessage(e: unknown): string {
  const j = (e as { json?: { message?: string } }).json;
  return j?.message ?? errorMessage(e);
}

export class DockerRuntime {
  readonly docker: Docker;
  /** Inspect results by container id, reused while the container's listed state is unchanged. */
  private inspectCache = new Map<string, { state: string; info: Docker.ContainerInspectInfo }>();
  /** Events our own calls will cause ("start:<id>"), so they do not wake a pod worker a second time. */
  private expected = new Map<string, number>();

  private expect(id: string, ...actions: string[]): void {
    const now = Date.now();
    for (const a of actions) this.expected.set(`${a}:${id}`, now);
    if (this.expected.size > 5000) for (const [k, t] of this.expected) if (now - t > 60_000) this.expected.delete(k);
  }

  constructor(private readonly opts: DockerRuntimeOptions) {
    const socketPath = opts.endpoint.replace(/^unix:\/\//, '');
    this.docker = new Docker({ socketPath });
  }

  get instance(): string {
    return this.opts.instance;
  }

  async ping(): Promise<string> {
    try {
      const v = await this.docker.version();
      return v.Version;
    } catch (e) {
      throw new RuntimeError(
        `Docker Engine is not reachable at ${this.opts.endpoint} (${errorMessage(e)}): install docker.io and start dockerd (sudo scripts/setup.sh)`,
      );
    }
  }

  /** Every container of this agent (running or not), as Docker lists them. */
  async listContainers(extraLabels: string[] = []): Promise<Docker.ContainerInfo[]> {
    return this.docker.listContainers({
      all: true,
      filters: { label: [`${LABELS.instance}=${this.opts.instance}`, ...extraLabels] },
    });
  }

  private async inspectListed(c: Docker.ContainerInfo): Promise<Docker.ContainerInspectInfo | undefined> {
    const key = `${c.State}:${c.Status}`;
    const cached = this.inspectCache.get(c.Id);
    // A running container's status text changes ("Up 3 seconds" -> "Up 4 seconds") but nothing we
    // read does; refresh only when its state changes.
    if (cached && cached.state.split(':')[0] === c.State && (c.State === 'running' || cached.state === key))
      return cached.info;
    try {
      const info = await this.docker.getContainer(c.Id).inspect();
      this.inspectCache.set(c.Id, { state: key, info });
      return info;
    } catch (e) {
      if (statusCode(e) === 404) return undefined; // removed meanwhile
      throw e;
    }
  }

  forget(id: string): void {
    this.inspectCache.delete(id);
  }

  /** The runtime state of every pod of this agent (one list call), or of one pod. */
  async podStatuses(uid?: string): Promise<Map<string, PodRuntimeStatus>> {
    const listed = await this.listContainers(uid ? [`${LABELS.podUid}=${uid}`] : []);
    const out = new Map<string, PodRuntimeStatus>();
    const infos = await Promise.all(listed.map((c) => this.inspectListed(c)));
    const live = new Set(listed.map((c) => c.Id));
    if (!uid) for (const id of this.inspectCache.keys()) if (!live.has(id)) this.inspectCache.delete(id);
    for (const info of infos) {
      if (!info) continue;
      const l = info.Config.Labels ?? {};
      const podUid = l[LABELS.podUid];
      if (!podUid) continue;
      let s = out.get(podUid);
      if (!s)
        out.set(
          podUid,
          (s = {
            uid: podUid,
            name: l[LABELS.podName] ?? '',
            namespace: l[LABELS.podNamespace] ?? '',
            sandboxes: [],
            containers: [],
          }),
        );
      if (l[LABELS.type] === 'podsandbox') s.sandboxes.push(toSandbox(info));
      else s.containers.push(toContainer(info));
    }
    for (const s of out.values()) {
      s.sandboxes.sort(byNewest);
      s.containers.sort(byNewest);
    }
    return out;
  }

  async podStatus(uid: string, name = '', namespace = ''): Promise<PodRuntimeStatus> {
    return (await this.podStatuses(uid)).get(uid) ?? { uid, name, namespace, sandboxes: [], containers: [] };
  }

  /**
   * Create a container. A leftover with the same name (an exited instance an earlier agent did not
   * remove) is removed first, if it is ours; anyone else's is an error.
   */
  async create(options: Docker.ContainerCreateOptions): Promise<string> {
    try {
      return (await this.docker.createContainer(options)).id;
    } catch (e) {
      if (statusCode(e) !== 409 || !options.name)
        throw new RuntimeError(`create container ${options.name}: ${dockerMessage(e)}`, statusCode(e));
      const old = await this.docker
        .getContainer(options.name)
        .inspect()
        .catch(() => undefined);
      if (!old || old.Config.Labels?.[LABELS.instance] !== this.opts.instance || old.State.Running) {
        throw new RuntimeError(
          `create container ${options.name}: the name is taken by container ${old?.Id.slice(0, 12) ?? '?'}`,
          409,
        );
      }
      this.opts.logger.info('removing leftover container with the same name', { name: options.name, id: old.Id });
      await this.remove(old.Id);
      return (await this.docker.createContainer(options)).id;
    }
  }

  async start(id: string): Promise<void> {
    this.expect(id, 'start');
    try {
      await this.docker.getContainer(id).start();
    } catch (e) {
      if (statusCode(e) === 304) return; // already running
      throw new RuntimeError(dockerMessage(e), statusCode(e));
    } finally {
      this.inspectCache.delete(id);
    }
  }

  /** SIGTERM (or the image's stop signal), then SIGKILL after `timeoutSeconds`. */
  async stop(id: string, timeoutSeconds: number): Promise<void> {
    this.expect(id, 'kill', 'die', 'stop');
    try {
      await this.docker.getContainer(id).stop({ t: Math.max(0, Math.ceil(timeoutSeconds)) });
    } catch (e) {
      const code = statusCode(e);
      if (code === 304 || code === 404) return; // already stopped, or gone
      throw new RuntimeError(`stop container ${id.slice(0, 12)}: ${dockerMessage(e)}`, code);
    } finally {
      this.inspectCache.delete(id);
    }
  }

  async remove(id: string): Promise<void> {
    this.expect(id, 'kill', 'die', 'destroy');
    try {
      await this.docker.getContainer(id).remove({ force: true, v: true });
    } catch (e) {
      const code = statusCode(e);
      if (code === 404) return;
      // "removal already in progress"
      if (code === 409) return;
      throw new RuntimeError(`remove container ${id.slice(0, 12)}: ${dockerMessage(e)}`, code);
    } finally {
      this.inspectCache.delete(id);
    }
  }

  /**
   * Change a running container's CPU and memory in place (Docker's container update, which
   * writes the container's cgroup). Only the fields given change; the swap limit follows the
   * memory limit, as at create (no swap beyond it).
   */
  async updateResources(
    id: string,
    r: { cpuShares?: number; cpuQuotaUs?: number; cpuPeriodUs?: number; memoryLimitBytes?: number },
  ): Promise<void> {
    const body: Record<string, number> = {};
    if (r.cpuShares !== undefined) body.CpuShares = r.cpuShares;
    if (r.cpuQuotaUs !== undefined) body.CpuQuota = r.cpuQuotaUs;
    if (r.cpuPeriodUs !== undefined) body.CpuPeriod = r.cpuPeriodUs;
    if (r.memoryLimitBytes !== undefined)
      Object.assign(body, { Memory: r.memoryLimitBytes, MemorySwap: r.memoryLimitBytes });
    try {
      await this.docker.getContainer(id).update(body);
    } catch (e) {
      throw new RuntimeError(`update container ${id.slice(0, 12)} resources: ${dockerMessage(e)}`, statusCode(e));
    } finally {
      this.inspectCache.delete(id); // the next status reads the new values
    }
  }

  async inspect(id: string): Promise<Docker.ContainerInspectInfo> {
    return this.docker.getContainer(id).inspect();
  }

  async imageInspect(ref: string): Promise<Docker.ImageInspectInfo | undefined> {
    try {
      return await this.docker.getImage(ref).inspect();
    } catch (e) {
      if (statusCode(e) === 404) return undefined;
      throw new RuntimeError(`inspect image ${ref}: ${dockerMessage(e)}`, statusCode(e));
    }
  }

  /** Pull an image; rejects with Docker's reason (unreachable registry, unknown image...). */
  async pull(ref: string, timeoutMs: number): Promise<void> {
    const stream = await this.docker.pull(ref).catch((e: unknown) => {
      throw new RuntimeError(dockerMessage(e), statusCode(e));
    });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        (stream as Readable).destroy();
        reject(new RuntimeError(`pull of ${ref} took longer than ${timeoutMs / 1000}s`));
      }, timeoutMs);
      this.docker.modem.followProgress(stream, (err: Error | null, output: { error?: string }[]) => {
        clearTimeout(timer);
        const failed = output?.find((o) => o.error);
        if (err) reject(new RuntimeError(err.message));
        else if (failed) reject(new RuntimeError(failed.error!));
        else resolve();
      });
    });
  }

  /**
   * Run a command in a container and collect its output; on timeout the command (and what it
   * started) is killed and the promise rejects. The prober's implementation, shared.
   */
  exec(id: string, cmd: string[], timeoutMs: number): Promise<{ exitCode: number; output: string }> {
    return dockerExec(this.docker, id, cmd, timeoutMs);
  }

  /** A command in a running container with its streams attached (`kubectl exec`), see docker-streams.ts. */
  async execInteractive(id: string, cmd: string[], o: StreamOptions): Promise<InteractiveSession> {
    return execInteractive(this.docker, id, cmd, o);
  }

  /** The streams of a container's main process (`kubectl attach`); stdin only if the container keeps it open. */
  async attachInteractive(id: string, o: StreamOptions): Promise<InteractiveSession> {
    return attachInteractive(this.docker, id, o);
  }

  /** The container's log as one demultiplexed stream (stdout and stderr interleaved, as kubectl logs). */
  async logs(
    id: string,
    opts: { follow: boolean; tail?: number; timestamps: boolean; sinceMs?: number },
  ): Promise<Readable> {
    return containerLogs(this.docker, id, opts);
  }

  /**
   * Container events of this agent (start, die, oom, destroy), like kubelet's PLEG but pushed:
   * the pod worker of the container's pod is woken at once. Reconnects if the stream breaks.
   */
  watchEvents(onEvent: (e: RuntimeEvent) => void): () => void {
    return followContainerEvents(this.docker, this.opts.instance, this.opts.logger, (action, id, attributes) => {
      this.inspectCache.delete(id);
      const ours = this.expected.delete(`${action}:${id}`);
      onEvent({ action, containerId: id, podUid: attributes?.[LABELS.podUid], ours });
    });
  }
}
