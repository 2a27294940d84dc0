// prober_probe_total, as kubelet exposes it: one counter per container, probe type and result,
// with kubelet's label values (probe_type "Liveness"/"Readiness"/"Startup", result
// "successful"/"failed"/"unknown"). Series live as long as the pod does.
import type { ProbeType } from '../podspec/probe-spec.js';
import type { ProbeResult } from './types.js';

const TYPE_LABEL: Record<ProbeType, string> = { liveness: 'Liveness', readiness: 'Readiness', startup: 'Startup' };
const RESULT_LABEL: Record<ProbeResult, string> = { success: 'successful', failure: 'failed', unknown: 'unknown' };

interface Series {
  podUid: string;
  labels: string;
  count: number;
}

export class ProbeMetrics {
  private series = new Map<string, Series>();

  /** The counter of one series (created at 0); callers may keep it and increment `count`. */
  counter(
    podUid: string,
    namespace: string,
    pod: string,
    container: string,
    type: ProbeType,
    result: ProbeResult,
  ): { count: number } {
    const key = `${podUid}\u0000${container}\u0000${type}\u0000${result}`;
    let s = this.series.get(key);
    if (!s) {
      const labels =
        `probe_type="${TYPE_LABEL[type]}",result="${RESULT_LABEL[result]}",container="${esc(container)}",` +
        `pod="${esc(pod)}",namespace="${esc(namespace)}"`;
      s = { podUid, labels, count: 0 };
      this.series.set(key, s);
    }
    return s;
  }

  count(podUid: string, namespace: string, pod: string, container: string, type: ProbeType, result: ProbeResult): void {
    this.counter(podUid, namespace, pod, container, type, result).count++;
  }

  forgetPod(podUid: string): void {
    for (const [k, s] of this.series) if (s.podUid === podUid) this.series.delete(k);
  }

  text(): string {
    // Two pods with one name (a static pod replaced by a new UID) add up into one series.
    const sums = new Map<string, number>();
    for (const s of this.series.values()) sums.set(s.labels, (sums.get(s.labels) ?? 0) + s.count);
    const lines = [
      '# HELP prober_probe_total Cumulative number of a liveness, readiness or startup probe for a container by result.',
      '# TYPE prober_probe_total counter',
    ];
    for (const [labels, n] of [...sums].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      lines.push(`prober_probe_total{${labels}} ${n}`);
    return lines.join('\n') + '\n';
  }
}

/** Prometheus label value escaping: backslash, double quote, newline. */
function esc(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}
