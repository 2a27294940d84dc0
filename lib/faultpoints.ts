// Named fault points: places in the code where a test can make the program die, fail or stall on
// purpose, so that "the agent was killed right after CNI ADD" is a deterministic test case, not a
// race against a timer. etcd's gofail is the model (a point name and an action per point, chosen
// at run time through the environment), without its code generation: the points are ordinary
// calls, inert unless the environment variable names them.
//
//   KUBENODE_FAULTPOINTS=<point>:<action>[,<point>:<action>...]
//
// Actions:
//   exit        the process SIGKILLs itself at once: no clean-up, no exit handlers, nothing flushed
//               but the one log line saying so (an OOM kill or `kill -9` at exactly this point)
//   panic       an uncaught exception: Node prints the stack and the process exits with code 1
//   throw       the point throws an Error into the code around it, as a failing step would
//   sleep(MS)   the point waits MS milliseconds, then the code goes on (widens a race window)
//   N*ACTION    the action for the first N times the point is reached; after that it is inert
//               (`1*throw`: fail once, then recover)
//
// Points of the agent (each named where it sits in the code; "the pod" is the one being worked on):
//   before-cni-add           the sandbox (pause container) runs and its network namespace exists;
//                            CNI ADD has not run (agent/pods/sandbox.ts createSandbox)
//   after-cni-add            ADD succeeded and the pod IPs are recorded; no container of the pod
//                            has been started yet (agent/pods/sandbox.ts createSandbox)
//   after-init-container-start  an init container was started and is running
//                            (agent/pods/containers.ts startContainer)
//   during-pre-stop          a container's preStop hook is running (agent/pods/containers.ts
//                            killContainer); with `exit` the hook goes on without the agent
//   before-sandbox-teardown  a terminating pod's containers are all stopped; its sandbox still
//                            runs and its network is still set up (agent/pods/sync-pod.ts)
//
// Cost when the variable is unset: one test of a module variable per point reached (no Map
// lookup, no allocation); `await` of the undefined it returns is the only other cost.
// A point or action not listed here makes the program refuse to start (loadFaultPoints), so a
// typo in a test cannot silently test nothing.

export const FAULT_POINTS = [
  'before-cni-add',
  'after-cni-add',
  'after-init-container-start',
  'during-pre-stop',
  'before-sandbox-teardown',
] as const;

export type FaultPointName = (typeof FAULT_POINTS)[number];

export type FaultAction =
  | { kind: 'exit' | 'panic' | 'throw'; times?: number }
  | { kind: 'sleep'; ms: number; times?: number };

export class FaultPointError extends Error {
  constructor(readonly point: string) {
    super(`fault point ${point}: injected failure`);
    this.name = 'FaultPointError';
  }
}

/** Parse the variable's value. Pure: throws naming the entry and what is wrong with it. */
export function parseFaultPoints(spec: string, known: readonly string[] = FAULT_POINTS): Map<string, FaultAction> {
  const out = new Map<string, FaultAction>();
  for (const raw of spec
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const colon = raw.indexOf(':');
    if (colon < 0) throw new Error(`KUBENODE_FAULTPOINTS entry "${raw}": expected <point>:<action>`);
    const name = raw.slice(0, colon);
    if (!known.includes(name))
      throw new Error(
        `KUBENODE_FAULTPOINTS entry "${raw}": unknown fault point "${name}" (known: ${known.join(', ')})`,
      );
    if (out.has(name)) throw new Error(`KUBENODE_FAULTPOINTS entry "${raw}": fault point "${name}" is given twice`);
    let term = raw.slice(colon + 1);
    let times: number | undefined;
    const count = /^(\d+)\*(.*)$/.exec(term);
    if (count) {
      times = Number(count[1]);
      if (times < 1) throw new Error(`KUBENODE_FAULTPOINTS entry "${raw}": the count before * must be at least 1`);
      term = count[2]!;
    }
    const sleep = /^sleep\((\d+)\)$/.exec(term);
    if (sleep) out.set(name, { kind: 'sleep', ms: Number(sleep[1]), ...(times ? { times } : {}) });
    else if (term === 'exit' || term === 'panic' || term === 'throw')
      out.set(name, { kind: term, ...(times ? { times } : {}) });
    else
      throw new Error(
        `KUBENODE_FAULTPOINTS entry "${raw}": unknown action "${term}" (exit, panic, throw, sleep(MS), with an optional N* before it)`,
      );
  }
  return out;
}

let active: Map<string, FaultAction> | undefined;
let note: (line: string) => void = (line) => process.stderr.write(line + '\n');

/**
 * Read KUBENODE_FAULTPOINTS once, at start. Throws (the program should refuse to start) on a bad
 * value. `log` receives one JSON line per point reached; stderr by default.
 */
export function loadFaultPoints(env: NodeJS.ProcessEnv = process.env, log?: (line: string) => void): string[] {
  const spec = env.KUBENODE_FAULTPOINTS;
  active = spec ? parseFaultPoints(spec) : undefined;
  if (active && active.size === 0) active = undefined;
  if (log) note = log;
  return active ? [...active.keys()] : [];
}

/** A fault point: inert (returns undefined) unless KUBENODE_FAULTPOINTS names it. Call as `await faultPoint(...)`. */
export function faultPoint(name: FaultPointName): Promise<void> | undefined {
  if (active === undefined) return undefined;
  const a = active.get(name);
  if (!a) return undefined;
  if (a.times !== undefined) {
    if (a.times === 0) return undefined;
    a.times--;
  }
  return fire(name, a);
}

async function fire(name: string, a: FaultAction): Promise<void> {
  // Written synchronously (stderr is a pipe or a file): the line is out before the process dies.
  note(
    JSON.stringify({
      ts: new Date().toISOString(),
      level: 'warn',
      component: 'faultpoints',
      msg: 'fault point reached',
      point: name,
      action: a.kind,
    }),
  );
  switch (a.kind) {
    case 'sleep':
      await new Promise((r) => setTimeout(r, a.ms));
      return;
    case 'throw':
      throw new FaultPointError(name);
    case 'panic':
      // Out of every try/catch and promise chain: an uncaught exception ends the process.
      setImmediate(() => {
        throw new FaultPointError(name);
      });
      return new Promise(() => {});
    case 'exit':
      process.kill(process.pid, 'SIGKILL');
      return new Promise(() => {}); // never reached in practice: the signal is delivered at once
  }
}
