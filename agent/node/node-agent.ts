// The node's presence in the cluster, as kubelet keeps it: register the Node (create, or bring
// an existing one up to date), renew its Lease every 10 s, compute its status every 10 s and
// write it when it changed or 5 minutes passed, and hand spec.podCIDR to the CNI IPAM.
// Three loops, one owner, one stop(); every request retries with back-off while the apiserver
// is away, and nothing here ever stops pods from running.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/kubelet_node_status.go (the shape)
import { hostname as osHostname } from 'node:os';
import type { CoreV1Api, V1Node } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { ApiRetryBackoff, sleep } from '../kube/backoff.js';
import {
  apiClients,
  apiErrorMessage,
  httpStatus,
  isNotFound,
  requestOptions,
  type ApiClients,
} from '../kube/client.js';
import type { Readiness } from './conditions.js';
import { DEFAULT_EVICTION_HARD, type EvictionThresholds } from './eviction.js';
import { NodeLease, type NodeRef } from './lease.js';
import { detectNodeIP } from './node-ip.js';
import { DEFAULT_ANNOTATIONS, defaultLabels, initialNode } from './node-object.js';
import { NodeOptionsError, type NodeAgentOptions } from './node-options.js';
import { adoptExistingNode } from './node-registration.js';
import { desiredNodeStatus, statusChanges, statusWriteDue, type StatusInputs } from './node-status.js';
import { NodeWatch } from './node-watch.js';
import { writePodCIDRFile } from './pod-cidr-file.js';
import { readMachine } from './readings.js';
import { readSystemFacts, type SystemFacts } from './system-info.js';
import { validateNodeOptions } from './validation.js';
import { errorMessage } from '../../lib/errors.js';

/** Requests time out after this long, so a dead connection cannot stall the Lease (kubelet bounds it too). */
const REQUEST_TIMEOUT_MS = 10_000;

export class NodeAgent {
  private readonly log: Logger;
  private readonly clients: ApiClients;
  private readonly hostname: string;
  private readonly evictionHard: EvictionThresholds;
  private readonly abort = new AbortController();
  private loops: Promise<void>[] = [];
  private watch: NodeWatch | undefined;
  private started = false;

  private node: NodeRef | undefined; // set once registered; cleared if the Node is deleted
  private observed: V1Node | undefined; // the Node as the apiserver last showed it
  private lastWriteMs: number | undefined;
  private runtimeVersion = '';
  private facts: SystemFacts | undefined;
  private nodeIP: string | undefined;
  private cidr: string | undefined;
  private cidrWritten: string | undefined;
  private readonly cidrCallbacks: ((cidr: string) => void)[] = [];
  private registered!: Promise<void>;
  private resolveRegistered!: () => void;

  constructor(private readonly o: NodeAgentOptions) {
    const errors = validateNodeOptions(o);
    if (errors.length) throw new NodeOptionsError(errors);
    this.clients = apiClients(o.kubeconfig);
    this.hostname = o.hostname ?? o.nodeName;
    this.evictionHard = { ...DEFAULT_EVICTION_HARD, ...o.evictionHard };
    this.log = o.logger.with({ node: o.nodeName });
    this.registered = new Promise((r) => (this.resolveRegistered = r));
  }

  /**
   * Starts the loops and resolves once the Node is registered (or stop() was called first).
   * Registration retries with back-off for as long as it takes, so callers that must not wait
   * for the apiserver (static pods run without it) should not await this.
   */
  async start(): Promise<void> {
    if (this.started) throw new Error('NodeAgent.start() called twice');
    this.started = true;
    this.facts = await readSystemFacts();
    this.nodeIP = this.o.nodeIP ?? (await detectNodeIP());
    if (!this.nodeIP) this.log.warn('no --node-ip and no default route: the Node gets no InternalIP address');
    this.loops.push(this.statusLoop());
    await Promise.race([this.registered, new Promise((r) => this.abort.signal.addEventListener('abort', r))]);
  }

  podCIDR(): string | undefined {
    return this.cidr;
  }

  /** `cb` runs once the podCIDR is known and written to podCIDRFile (at once if it already is). */
  onPodCIDR(cb: (cidr: string) => void): void {
    this.cidrCallbacks.push(cb);
    if (this.cidr && this.cidrWritten === this.cidr) queueMicrotask(() => cb(this.cidr!));
  }

  /**
   * Stops renewing and reporting. Like kubelet, it leaves the Node and Lease as they are: the
   * node controller sees the Lease expire and marks the node NotReady/Unknown.
   */
  async stop(): Promise<void> {
    this.abort.abort();
    // The status loop first: a registration finishing now may still start the other two.
    await this.loops[0];
    await Promise.all([...this.loops, this.watch?.stop()]);
    await this.writing;
    this.loops = [];
  }

  private get core(): CoreV1Api {
    return this.clients.core;
  }

  // --- the status loop: registers, then computes the status every statusUpdateFrequency -------
  private async statusLoop(): Promise<void> {
    const signal = this.abort.signal;
    // kubelet's registration back-off: 100 ms doubling to 7 s.
    const backoff = new ApiRetryBackoff(100, 7000);
    while (!signal.aborted) {
      try {
        if (!this.node) await this.register();
        else await this.syncStatus();
        await this.ensurePodCIDRFile();
        backoff.reset();
        await sleep(this.o.statusUpdateFrequencyMs ?? 10_000, signal);
      } catch (err) {
        if (signal.aborted) break;
        if (this.node && isNotFound(err)) {
          // Someone deleted the Node: register it again rather than report into the void.
          this.log.warn('the Node was deleted; registering it again');
          this.node = undefined;
          this.observed = undefined;
          this.lastWriteMs = undefined;
          continue;
        }
        const status = httpStatus(err);
        const level = status === 403 || status === 422 || status === 400 ? 'error' : 'warn';
        this.log[level](this.node ? 'cannot update the Node status; retrying' : 'cannot register the Node; retrying', {
          error: apiErrorMessage(err),
        });
        await sleep(backoff.next(), signal);
      }
    }
  }

  private async statusInputs(): Promise<StatusInputs> {
    const [readings, readiness, runtimeVersion] = await Promise.all([
      readMachine(this.o.rootDir ?? '/var/lib/kubenode'),
      this.o
        .readiness()
        .catch(
          (err: unknown): Readiness => ({ ready: false, reason: 'ReadinessCheckFailed', message: errorMessage(err) }),
        ),
      // On failure keep the last version seen: the runtime did not change because it is busy.
      this.o.runtimeVersion().catch((err: unknown) => {
        this.log.warn('cannot read the container runtime version', { error: errorMessage(err) });
        return this.runtimeVersion;
      }),
    ]);
    this.runtimeVersion = runtimeVersion;
    return {
      readings,
      readiness,
      runtimeVersion,
      facts: this.facts!,
      nodeIP: this.nodeIP,
      hostname: this.hostname,
      maxPods: this.o.maxPods ?? 110,
      reserved: this.o.reserved ?? {},
      evictionHard: this.evictionHard,
      pressure: this.o.pressure?.(),
      kubeletPort: this.o.kubeletPort ?? 10250,
    };
  }

  private desiredLabels(): Record<string, string> {
    return { ...this.o.labels, ...defaultLabels(this.hostname, this.facts!.operatingSystem, this.facts!.architecture) };
  }

  private async register(): Promise<void> {
    const opts = requestOptions({ timeoutMs: REQUEST_TIMEOUT_MS });
    const inputs = await this.statusInputs();
    const now = new Date();
    const body: V1Node = {
      ...initialNode({
        nodeName: this.o.nodeName,
        labels: this.desiredLabels(),
        annotations: DEFAULT_ANNOTATIONS,
        taints: this.o.registerWithTaints ?? [],
      }),
      status: desiredNodeStatus(inputs, undefined, now),
    };
    let node: V1Node;
    try {
      node = await this.core.createNode({ body }, opts);
      this.log.info('registered the Node', { uid: node.metadata?.uid, taints: body.spec?.taints?.length ?? 0 });
    } catch (err) {
      if (httpStatus(err) !== 409) throw err;
      // It exists (this node ran before): adopt it.
      node = await adoptExistingNode({
        core: this.core,
        nodeName: this.o.nodeName,
        labels: this.desiredLabels(),
        registerWithTaints: this.o.registerWithTaints ?? [],
        timeoutMs: REQUEST_TIMEOUT_MS,
        log: this.log,
      });
    }
    this.node = { name: this.o.nodeName, uid: node.metadata!.uid! };
    this.observe(node);
    // A new Node got its status with the create; an adopted one gets it now.
    if (statusChanges(node.status, body.status!).length === 0) {
      this.lastWriteMs = now.getTime();
      this.o.onConditions?.(body.status!.conditions ?? []);
    } else await this.syncStatus(inputs);
    this.startAfterRegistration();
    this.resolveRegistered();
  }

  private startAfterRegistration(): void {
    if (this.watch || this.abort.signal.aborted) return;
    this.loops.push(this.leaseLoop());
    this.watch = new NodeWatch({
      kubeConfig: this.clients.kubeConfig,
      core: this.core,
      nodeName: this.o.nodeName,
      logger: this.log,
      requestTimeoutMs: REQUEST_TIMEOUT_MS,
      onNode: (n) => n && this.observe(n),
    });
    this.watch.start();
  }

  private async syncStatus(given?: StatusInputs): Promise<void> {
    const inputs = given ?? (await this.statusInputs());
    const now = new Date();
    const desired = desiredNodeStatus(inputs, this.observed?.status, now);
    const changes = statusChanges(this.observed?.status, desired);
    const due = statusWriteDue({
      changed: changes.length > 0,
      lastWriteMs: this.lastWriteMs,
      nowMs: now.getTime(),
      reportFrequencyMs: this.o.statusReportFrequencyMs ?? 5 * 60_000,
    });
    if (!due) return;
    // A strategic merge patch of the status subresource: conditions merge by type, so
    // conditions other components own (NetworkUnavailable...) are left as they are.
    const node = await this.core.patchNodeStatus(
      { name: this.o.nodeName, body: { status: desired } },
      requestOptions({ timeoutMs: REQUEST_TIMEOUT_MS, patch: 'StrategicMergePatch' }),
    );
    this.lastWriteMs = now.getTime();
    this.observe(node);
    this.o.onConditions?.(desired.conditions ?? []);
    const ready = desired.conditions!.find((c) => c.type === 'Ready')!;
    if (changes.length)
      this.log.info('wrote the Node status', {
        changed: changes,
        ready: ready.status,
        reason: ready.reason,
        message: ready.message,
      });
    else this.log.debug('wrote the unchanged Node status (report frequency)');
  }

  // --- the Lease loop --------------------------------------------------------------------------
  private async leaseLoop(): Promise<void> {
    const signal = this.abort.signal;
    const lease = new NodeLease(this.clients.coordination, REQUEST_TIMEOUT_MS);
    // kubelet retries a failed renewal from 200 ms, doubling to 7 s.
    const backoff = new ApiRetryBackoff(200, 7000);
    while (!signal.aborted) {
      const node = this.node;
      if (!node) {
        await sleep(500, signal); // the Node is being registered again
        continue;
      }
      try {
        await lease.renew(node);
        backoff.reset();
        await sleep(this.o.leaseRenewIntervalMs ?? 10_000, signal);
      } catch (err) {
        if (signal.aborted) break;
        this.log.warn('cannot renew the node Lease; retrying', { error: apiErrorMessage(err) });
        await sleep(backoff.next(), signal);
      }
    }
  }

  // --- what the apiserver shows: podCIDR and the status to diff against ------------------------
  private observe(node: V1Node): void {
    this.observed = node;
    const cidr = node.spec?.podCIDR;
    if (cidr && cidr !== this.cidr) {
      this.cidr = cidr;
      this.log.info('the Node has a podCIDR', { podCIDR: cidr });
      void this.ensurePodCIDRFile();
    }
  }

  private writing: Promise<void> = Promise.resolve();

  /**
   * Writes the podCIDR file if it is not written yet, then tells the callbacks. Serialised, so
   * the watch and the status loop never write at once; a failure is retried at the next status
   * update.
   */
  private ensurePodCIDRFile(): Promise<void> {
    this.writing = this.writing.then(() => this.writePodCIDR());
    return this.writing;
  }

  private async writePodCIDR(): Promise<void> {
    const cidr = this.cidr;
    if (!cidr || this.cidrWritten === cidr) return;
    if (this.o.podCIDRFile) {
      try {
        if (await writePodCIDRFile(this.o.podCIDRFile, cidr))
          this.log.info('wrote the podCIDR file', { file: this.o.podCIDRFile, podCIDR: cidr });
      } catch (err) {
        this.log.error('cannot write the podCIDR file; retrying at the next status update', {
          file: this.o.podCIDRFile,
          error: errorMessage(err),
        });
        return;
      }
    }
    this.cidrWritten = cidr;
    for (const cb of this.cidrCallbacks) {
      try {
        cb(cidr);
      } catch (err) {
        this.log.error('a podCIDR callback failed', { error: errorMessage(err) });
      }
    }
  }
}

/** The hostname kubelet would use without --hostname-override: the OS hostname, lowercased. */
export function defaultNodeName(): string {
  return osHostname().toLowerCase();
}
