// Records what the cluster itself says during a failover scenario, for the failover page
// (failover-page.ts): kubectl watches of the demo Pods, the demo Service's EndpointSlices and the
// Events about pods, each object stamped when it arrived, and afterwards every node's proxy log
// (`cluster.sh logs NODE proxy`) for its sync lines. The events are derived by the pure
// functions of failover-events.ts.
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { SCRIPTS } from './control-plane.js';
import type { EmulatedCluster } from './cluster.js';
import {
  endpointSliceEvents,
  kubernetesEvents,
  podEvents,
  proxySyncEvents,
  splitJsonObjects,
  type FailoverEvent,
  type Observed,
} from './failover-events.js';
import type { ScenarioResult } from './failover.js';
import type { ScenarioRecord } from './failover-page.js';

type RecordAccess = Pick<EmulatedCluster, 'sh' | 'env'>;

class Watch {
  readonly observed: Observed[] = [];
  private readonly child: ChildProcess;
  private rest = '';
  private stderr = '';
  readonly first: Promise<void>;

  constructor(c: RecordAccess, args: string[]) {
    // Its own process group, so stop() ends cluster.sh, control-plane.sh and kubectl together.
    this.child = spawn(
      'bash',
      [join(SCRIPTS, 'cluster.sh'), 'kubectl', ...args, '--watch', '--output-watch-events', '-o', 'json'],
      { env: c.env, detached: true, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let seen!: () => void;
    this.first = new Promise((r) => (seen = r));
    this.child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      const at = Date.now();
      const { objects, rest } = splitJsonObjects(this.rest + chunk);
      this.rest = rest;
      for (const o of objects) {
        try {
          const e = JSON.parse(o);
          this.observed.push({ at, type: e.type, object: e.object });
          seen();
        } catch {
          /* a fragment the splitter could not close: ignored */
        }
      }
    });
    this.child.stderr!.setEncoding('utf8').on('data', (d: string) => (this.stderr += d));
    this.child.on('exit', () => seen());
  }

  stop(): string {
    try {
      process.kill(-this.child.pid!, 'SIGTERM');
    } catch {
      /* already gone */
    }
    return this.stderr.trim();
  }
}

/** What the script itself did, from its own clock (the only events not from the cluster). */
function scriptEvents(r: ScenarioResult): FailoverEvent[] {
  const action: Record<ScenarioResult['scenario'], string> = {
    a: `docker kill --signal KILL the demo container of ${r.target}`,
    b: `rm /www/ready in ${r.target}: its readiness probe starts failing`,
    c: `kubectl delete pod ${r.target}`,
    d: `cluster.sh partition ${r.facts.partitionedNode ?? r.target}`,
  };
  const out: FailoverEvent[] = [{ at: r.actionAt, kind: 'action', source: 'script', text: action[r.scenario] }];
  if (typeof r.facts.healAt === 'number')
    out.push({
      at: r.facts.healAt,
      kind: 'action',
      source: 'script',
      text: `touch /www/ready in ${r.target}: its probe passes again`,
    });
  return out;
}

/** The measured window, loop ms: for (b) the probe failing to the pod's last answer, else the
 * first failed request's start to the last one's end; null when nothing failed. */
export function measuredWindow(r: ScenarioResult): { from: number; to: number; label: string } | null {
  if (r.scenario === 'b') {
    const s = r.facts.lastAnswerWhileFailingSeconds as number;
    return {
      from: r.actionAt,
      to: r.actionAt + s * 1000,
      label: `traffic still reached the failing pod for ${s.toFixed(2)} s`,
    };
  }
  const failed = r.samples.filter((s) => !s.ok);
  if (!failed.length) return null;
  return {
    from: Math.min(...failed.map((s) => s.start)),
    to: Math.max(...failed.map((s) => s.end)),
    label: `${failed.length} failed requests over ${r.summary.windowSeconds.toFixed(2)} s`,
  };
}

export interface Recording {
  /** After runScenario: stop watching, read the proxy logs, return the scenario's record. */
  finish(r: ScenarioResult): Promise<ScenarioRecord>;
  /** Stop watching without a record (the scenario failed). */
  abort(): void;
}

/** Start watching before runScenario; resolves once the Pod and EndpointSlice watches answer. */
export async function startRecording(c: RecordAccess): Promise<Recording> {
  const pods = new Watch(c, ['get', 'pods', '-l', 'app=demo']);
  const slices = new Watch(c, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=demo']);
  const events = new Watch(c, ['get', 'events', '--field-selector', 'involvedObject.kind=Pod']);
  const timeout = new Promise<void>((r) => setTimeout(r, 30_000).unref());
  await Promise.race([Promise.all([pods.first, slices.first]), timeout]);
  // The first list may come in several chunks: let it finish, it is the baseline.
  await new Promise((r) => setTimeout(r, 500));
  const initial = new Set(pods.observed.map((o) => o.object?.metadata?.name as string));
  return {
    abort: () => {
      pods.stop();
      slices.stop();
      events.stop();
    },
    async finish(r) {
      const problems = [pods.stop(), slices.stop(), events.stop()].filter((e) => e && !/terminated|signal/i.test(e));
      const toLoop = (o: Observed) => ({ ...o, at: o.at - r.t0Wall });
      const endWall = r.t0Wall + Math.max(...r.samples.map((s) => s.end), 0);
      const nodes = (await c.sh(['nodes'])).stdout
        .trim()
        .split('\n')
        .filter(Boolean)
        .map((l) => l.split(' ')[0]!);
      const syncs: FailoverEvent[] = [];
      for (const node of nodes) {
        const log = await c.sh(['logs', node, 'proxy'], { allowFailure: true });
        syncs.push(...proxySyncEvents(node, log.stdout, r.t0Wall, endWall, r.t0Wall));
      }
      const demoEvents = events.observed.filter((o) =>
        String(o.object?.involvedObject?.name ?? '').startsWith('demo-'),
      );
      const all = [
        ...scriptEvents(r),
        ...podEvents(pods.observed.map(toLoop), initial),
        ...endpointSliceEvents(slices.observed.map(toLoop)),
        ...kubernetesEvents(demoEvents.map(toLoop), r.t0Wall),
        ...syncs,
      ]
        .filter((e) => e.at >= 0 && e.at <= endWall - r.t0Wall)
        .sort((a, b) => a.at - b.at);
      return {
        scenario: r.scenario,
        title: r.title,
        target: r.target,
        summary: r.summary,
        samples: r.samples,
        actionAt: r.actionAt,
        settledFrom: r.settledFrom,
        window: measuredWindow(r),
        events: all,
        ...(problems.length ? { notes: problems } : {}),
      };
    },
  };
}

/** runScenario with a recording around it when `records` is given (the watches end either way). */
export async function recorded(
  c: RecordAccess,
  records: ScenarioRecord[] | undefined,
  runIt: () => Promise<ScenarioResult>,
): Promise<ScenarioResult> {
  if (!records) return runIt();
  const rec = await startRecording(c);
  let r: ScenarioResult;
  try {
    r = await runIt();
  } catch (e) {
    rec.abort();
    throw e;
  }
  records.push(await rec.finish(r));
  return r;
}
