// The soak bench's load, all through the real apiserver: Deployments scaled up and down (the
// ReplicaSet controller creates and deletes the pods, the scheduler binds them to the node), and
// Services and EndpointSlices created, changed and deleted; plus an admin's watch on the pods
// that times each one from creation to Ready.
import {
  AppsV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  Watch,
  type V1Deployment,
  type V1Pod,
} from '@kubernetes/client-node';
import { sleep } from '../../test/harness/until.js';
import { errorMessage } from '../../lib/errors.js';

const isReady = (p: V1Pod) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

export interface Clients {
  core: CoreV1Api;
  apps: AppsV1Api;
  discovery: DiscoveryV1Api;
  kc: KubeConfig;
}

export function clients(kubeconfig: string): Clients {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfig);
  return {
    kc,
    core: kc.makeApiClient(CoreV1Api),
    apps: kc.makeApiClient(AppsV1Api),
    discovery: kc.makeApiClient(DiscoveryV1Api),
  };
}

/** A Deployment of busybox pods that end at once on SIGTERM (so deletions do not wait out the grace period). */
export function churnDeployment(ns: string, name: string, image: string): V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name, namespace: ns },
    spec: {
      replicas: 0,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 2,
          automountServiceAccountToken: false,
          containers: [
            {
              name: 'c',
              image,
              imagePullPolicy: 'Never',
              command: ['sh', '-c', 'trap "exit 0" TERM; sleep 3600 & wait'],
            },
          ],
        },
      },
    },
  };
}

export async function scale(c: Clients, ns: string, name: string, replicas: number): Promise<void> {
  // Unconditional replace of the scale subresource (no resourceVersion): what `kubectl scale` does.
  await c.apps.replaceNamespacedDeploymentScale({
    name,
    namespace: ns,
    body: { metadata: { name, namespace: ns }, spec: { replicas } },
  });
}

interface PodTimes {
  added: number;
  ready?: number;
  conditionSeconds?: number;
}

/**
 * An admin's watch on the namespace's pods: for each pod, the wall time it was first seen
 * (creation) and first seen Ready, and the same span from the apiserver's own fields
 * (creationTimestamp -> the Ready condition's lastTransitionTime, whole seconds). Restarted when
 * the apiserver ends it.
 */
export class PodWatch {
  readonly pods = new Map<string, PodTimes>();
  created = 0;
  deleted = 0;
  private abort?: { abort(): void };
  private stopped = false;

  constructor(
    private readonly c: Clients,
    private readonly ns: string,
  ) {}

  async start(): Promise<void> {
    const onEvent = (type: string, p: V1Pod) => {
      const uid = p.metadata!.uid!;
      let t = this.pods.get(uid);
      if (!t) {
        t = { added: Date.now() };
        this.pods.set(uid, t);
        this.created++;
      }
      if (type === 'DELETED') this.deleted++;
      if (t.ready === undefined && isReady(p)) {
        t.ready = Date.now();
        const since = p.status?.conditions?.find((x) => x.type === 'Ready')?.lastTransitionTime;
        if (since && p.metadata?.creationTimestamp)
          t.conditionSeconds = (new Date(since).getTime() - new Date(p.metadata.creationTimestamp).getTime()) / 1000;
      }
    };
    const again = () => {
      if (!this.stopped)
        void sleep(500)
          .then(() => this.start())
          .catch(() => again());
    };
    this.abort = await new Watch(this.c.kc).watch(`/api/v1/namespaces/${this.ns}/pods`, {}, onEvent, again);
  }

  stop(): void {
    this.stopped = true;
    this.abort?.abort();
  }

  /** Creation -> Ready of the pods first seen in [from, to): wall ms, and the apiserver's seconds. */
  latencies(from: number, to: number): { ms: number[]; seconds: number[]; notReady: number } {
    const ms: number[] = [];
    const seconds: number[] = [];
    let notReady = 0;
    for (const t of this.pods.values()) {
      if (t.added < from || t.added >= to) continue;
      if (t.ready === undefined) {
        notReady++;
        continue;
      }
      ms.push(t.ready - t.added);
      if (t.conditionSeconds !== undefined) seconds.push(t.conditionSeconds);
    }
    return { ms, seconds, notReady };
  }
}

/**
 * Two Deployments, one growing by `step` replicas a second while the other shrinks by as many,
 * swapping when one reaches `peak`: a steady `step` pods created and `step` deleted per second,
 * about `peak` pods on the node.
 */
export class PodChurn {
  private replicas: [number, number] = [0, 0];
  private growing = 0;
  private timer?: NodeJS.Timeout;
  errors = 0;
  scales = 0;

  constructor(
    private readonly c: Clients,
    private readonly ns: string,
    readonly names: [string, string],
    private readonly step = 2,
    private readonly peak = 20,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.tick(), 1000);
  }

  private async tick(): Promise<void> {
    const g = this.growing;
    const s = 1 - g;
    if (this.replicas[g] >= this.peak && this.replicas[s] <= 0) this.growing = s;
    const up = this.growing;
    const down = 1 - up;
    this.replicas[up] = Math.min(this.peak, this.replicas[up] + this.step);
    this.replicas[down] = Math.max(0, this.replicas[down] - this.step);
    await Promise.all(
      [0, 1].map((i) =>
        scale(this.c, this.ns, this.names[i]!, this.replicas[i]!).then(
          () => this.scales++,
          () => this.errors++,
        ),
      ),
    );
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.replicas = [0, 0];
    for (const n of this.names) await scale(this.c, this.ns, n, 0);
  }
}

/**
 * Service changes at `perSecond`: half of them create or delete a Service with a selector (on
 * the churned pods, so the EndpointSlice controller writes its slices too), half rewrite the
 * EndpointSlice of one of `selectorless` Services without a selector with 1-4 endpoints in
 * TEST-NET-1 (never sent traffic). At most 16 requests in flight; counts what it did.
 */
export class ServiceChurn {
  private readonly live = new Set<string>();
  private timer?: NodeJS.Timeout;
  private inFlight = 0;
  private n = 0;
  done = 0;
  errors = 0;
  skipped = 0;
  lastError = '';

  constructor(
    private readonly c: Clients,
    private readonly ns: string,
    private readonly prefix: string,
    private readonly selector: string,
    private readonly pool = 40,
    private readonly selectorless = 10,
  ) {}

  /** The selectorless Services, made once before the churn. */
  async prepare(): Promise<void> {
    for (let i = 0; i < this.selectorless; i++) {
      await this.c.core.createNamespacedService({
        namespace: this.ns,
        body: {
          metadata: { name: `${this.prefix}-ext${i}` },
          spec: { ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
        },
      });
    }
  }

  start(perSecond: number): void {
    this.timer = setInterval(() => {
      if (this.inFlight >= 16) {
        this.skipped++;
        return;
      }
      this.inFlight++;
      this.change(this.n++)
        .then(
          () => this.done++,
          (e) => {
            this.errors++;
            this.lastError = errorMessage(e).slice(0, 200);
          },
        )
        .finally(() => this.inFlight--);
    }, 1000 / perSecond);
  }

  private async change(i: number): Promise<void> {
    const ns = this.ns;
    if (i % 2 === 0) {
      const name = `${this.prefix}-s${(i / 2) % this.pool}`;
      if (this.live.delete(name)) return void (await this.c.core.deleteNamespacedService({ name, namespace: ns }));
      this.live.add(name);
      await this.c.core.createNamespacedService({
        namespace: ns,
        body: {
          metadata: { name },
          spec: { selector: { app: this.selector }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
        },
      });
      return;
    }
    const svc = `${this.prefix}-ext${((i - 1) / 2) % this.selectorless}`;
    const count = 1 + (i % 4);
    const body = {
      metadata: {
        name: svc,
        namespace: ns,
        labels: {
          'kubernetes.io/service-name': svc,
          'endpointslice.kubernetes.io/managed-by': 'soak-bench.kubenode.io',
        },
      },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: Array.from({ length: count }, (_, k) => ({
        addresses: [`192.0.2.${1 + ((i + k) % 250)}`],
        conditions: { ready: true },
      })),
    };
    // Unconditional replace (no resourceVersion); the first write of each creates the slice.
    await this.c.discovery.replaceNamespacedEndpointSlice({ name: svc, namespace: ns, body }).catch(async (e) => {
      if ((e as { code?: number }).code !== 404) throw e;
      await this.c.discovery.createNamespacedEndpointSlice({ namespace: ns, body });
    });
  }

  /** Stop, wait for requests in flight, and delete every Service and slice made. */
  async stopAndDelete(): Promise<void> {
    clearInterval(this.timer);
    while (this.inFlight > 0) await sleep(50);
    const names = [...this.live, ...Array.from({ length: this.selectorless }, (_, i) => `${this.prefix}-ext${i}`)];
    for (const name of names) await this.c.core.deleteNamespacedService({ name, namespace: this.ns }).catch(() => {});
    for (let i = 0; i < this.selectorless; i++)
      await this.c.discovery
        .deleteNamespacedEndpointSlice({ name: `${this.prefix}-ext${i}`, namespace: this.ns })
        .catch(() => {});
    this.live.clear();
  }
}
