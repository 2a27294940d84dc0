// A few Prometheus metrics, written by hand in the text exposition format (no client library
// needed for counters, gauges and one histogram). Names follow kubelet's where it has one.
// https://prometheus.io/docs/instrumenting/exposition_formats/

type Labels = Record<string, string>;

function labelText(l: Labels): string {
  const parts = Object.entries(l).map(
    ([k, v]) => `${k}="${v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`,
  );
  return parts.length ? `{${parts.join(',')}}` : '';
}

class Counter {
  private values = new Map<string, { labels: Labels; value: number }>();
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: 'counter' | 'gauge' = 'counter',
  ) {}
  inc(labels: Labels = {}, by = 1): void {
    const k = labelText(labels);
    const v = this.values.get(k);
    if (v) v.value += by;
    else this.values.set(k, { labels, value: by });
  }
  set(labels: Labels, value: number): void {
    this.values.set(labelText(labels), { labels, value });
  }
  reset(): void {
    this.values.clear();
  }
  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} ${this.type}`];
    for (const { labels, value } of this.values.values()) lines.push(`${this.name}${labelText(labels)} ${value}`);
    return lines.join('\n');
  }
}

class Histogram {
  private counts: number[];
  private sum = 0;
  private count = 0;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly buckets: number[],
  ) {
    this.counts = buckets.map(() => 0);
  }
  observe(v: number): void {
    this.sum += v;
    this.count++;
    this.buckets.forEach((b, i) => {
      if (v <= b) this.counts[i]!++;
    });
  }
  text(): string {
    const lines = [`# HELP ${this.name} ${this.help}`, `# TYPE ${this.name} histogram`];
    this.buckets.forEach((b, i) => {
      lines.push(`${this.name}_bucket{le="${b}"} ${this.counts[i]}`);
    });
    lines.push(
      `${this.name}_bucket{le="+Inf"} ${this.count}`,
      `${this.name}_sum ${this.sum}`,
      `${this.name}_count ${this.count}`,
    );
    return lines.join('\n');
  }
}

export class AgentMetrics {
  readonly runningPods = new Counter('kubelet_running_pods', 'Number of pods that have a running pod sandbox', 'gauge');
  readonly runningContainers = new Counter(
    'kubelet_running_containers',
    'Number of containers currently running, by state',
    'gauge',
  );
  readonly desiredPods = new Counter(
    'kubelet_desired_pods',
    'Number of pods the agent should be running, by source',
    'gauge',
  );
  readonly manifestErrors = new Counter('kubenode_manifest_errors', 'Manifests currently refused, by source', 'gauge');
  readonly containerRestarts = new Counter(
    'kubenode_container_restarts_total',
    'Containers started again after they ended',
  );
  readonly runtimeOperations = new Counter('kubelet_runtime_operations_total', 'Docker operations by type');
  readonly events = new Counter(
    'kubenode_events_total',
    'Events recorded, by what became of them: queued, sent, dropped (queue full or apiserver away), spam (rate limited)',
  );
  readonly runtimeErrors = new Counter(
    'kubelet_runtime_operations_errors_total',
    'Docker operations that failed, by type',
  );
  readonly podStartDuration = new Histogram(
    'kubelet_pod_start_duration_seconds',
    'From the agent first seeing a pod to all its containers running',
    [0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60],
  );
  readonly podWorkerDuration = new Histogram(
    'kubelet_pod_worker_duration_seconds',
    'Duration of one pod sync',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  // The goal it measures: a Ready transition in the apiserver within 100 ms of the agent observing
  // it, so that a Service stops routing to a pod about as soon as its probe fails.
  readonly podStatusWriteLatency = new Histogram(
    'kubenode_pod_status_write_latency_seconds',
    'From the agent observing a pod status change to the end of the PATCH writing it to the apiserver',
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );
  readonly startTime = Date.now();

  text(extra: string[] = []): string {
    return (
      [
        this.runningPods.text(),
        this.runningContainers.text(),
        this.desiredPods.text(),
        this.manifestErrors.text(),
        this.containerRestarts.text(),
        this.runtimeOperations.text(),
        this.runtimeErrors.text(),
        this.events.text(),
        this.podStartDuration.text(),
        this.podWorkerDuration.text(),
        this.podStatusWriteLatency.text(),
        `# HELP process_resident_memory_bytes Resident memory size in bytes\n# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes ${process.memoryUsage().rss}`,
        `# HELP nodejs_heap_size_used_bytes V8 heap in use\n# TYPE nodejs_heap_size_used_bytes gauge\nnodejs_heap_size_used_bytes ${process.memoryUsage().heapUsed}`,
        `# HELP nodejs_heap_size_total_bytes V8 heap reserved\n# TYPE nodejs_heap_size_total_bytes gauge\nnodejs_heap_size_total_bytes ${process.memoryUsage().heapTotal}`,
        `# HELP process_start_time_seconds Start time of the process since unix epoch in seconds\n# TYPE process_start_time_seconds gauge\nprocess_start_time_seconds ${Math.floor(this.startTime / 1000)}`,
        ...extra.filter((t) => t.trim()),
      ].join('\n') + '\n'
    );
  }
}
