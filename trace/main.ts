// kubenode-trace: follow one real packet through a node (see USAGE in args.ts). Wiring only:
// arguments, node and pod lookup, the capture, what the kernel says afterwards, and the output.
import { writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIPv4 } from 'node:net';
import { parseArgs, type TraceOptions, USAGE, UsageError } from './args.js';
import { capture } from './capture.js';
import { parseConntrack } from './conntrack.js';
import {
  bridgePort,
  conntrackList,
  ipvsConnectionTable,
  listNetns,
  tcpListeners,
  Netns,
  netnsExists,
  routeGet,
  routeLookup,
  type RuleSnapshot,
  snapshotRules,
  sweepStaleTables,
} from './kernel.js';
import { detectMode } from './modes/index.js';
import { parseIpvsConnections } from './modes/ipvs.js';
import type { PodRef } from './modes/types.js';
import { NotFoundError, podsFromApiserver, podsFromCniCache, resolvePod } from './pods.js';
import { renderHtml } from './render/html.js';
import { renderText } from './render/text.js';
import { buildReport, type Observation, type TraceReport } from './report.js';
import { parseIptablesSave, parseNftHandles } from './ruleset.js';
import { tableName, type TracedFlow } from './table.js';
import { errorMessage } from '../lib/errors.js';

function resolveNode(node: string | undefined): Netns {
  if (node === undefined) return new Netns();
  if (!/^[A-Za-z0-9_.-]+$/.test(node) || !netnsExists(node)) {
    const all = listNetns();
    throw new NotFoundError(
      `node '${node}' not found: no network namespace /run/netns/${node}; namespaces here: ${all.length ? all.join(', ') : 'none'}`,
    );
  }
  return new Netns(node);
}

async function loadPods(opts: TraceOptions, node: string): Promise<Map<string, PodRef>> {
  const pods = opts.kubeconfig ? await podsFromApiserver(opts.kubeconfig) : new Map<string, PodRef>();
  // This node's own record wins: it also knows the pod's host interface.
  for (const [ip, p] of await podsFromCniCache(opts.cniCacheDir, node)) pods.set(ip, { ...pods.get(ip), ...p });
  return pods;
}

/** After the capture: the rules as written, route, bridge port, conntrack, IPVS. */
async function observe(
  ns: Netns,
  flow: TracedFlow,
  before: RuleSnapshot,
  base: Omit<Observation, 'rules' | 'conntrack' | 'ipvs'>,
): Promise<Observation> {
  const snap = await snapshotRules(ns);
  const listing = (s: RuleSnapshot) => ({
    handles: parseNftHandles(s.nftRuleset),
    save: parseIptablesSave(s.iptablesSave),
  });
  const mode = detectMode(snap.iptablesSave, snap.nftTables);
  const first = base.packets[0]!.first;
  const hops = base.packets[0]!.events.filter((e) => e.kind === 'packet');
  const lastSeen = hops.length ? hops[hops.length - 1]! : undefined;
  const ct = parseConntrack(await conntrackList(ns, flow.proto, first.saddr ?? '', first.daddr ?? flow.to));
  const mine = ct.find((c) => c.original.sport === first.sport && c.original.dport === first.dport);
  const finalDst = mine?.reply.src ?? (lastSeen?.kind === 'packet' ? lastSeen.packet.daddr : undefined) ?? flow.to;
  const oif = lastSeen?.kind === 'packet' ? lastSeen.packet.oif : undefined;
  const [route, port, ipvs, listeners] = await Promise.all([
    routeGet(ns, finalDst),
    oif ? bridgePort(ns, oif, finalDst) : Promise.resolve(undefined),
    mode === 'ipvs' ? ipvsConnectionTable(ns) : Promise.resolve(''),
    mode === 'userspace' ? tcpListeners(ns) : Promise.resolve(undefined),
  ]);
  return {
    ...base,
    ...(mode ? { mode } : {}),
    rules: [listing(snap), listing(before)],
    conntrack: ct,
    ipvs: parseIpvsConnections(ipvs),
    ...(route ? { route } : {}),
    ...(port ? { bridgePort: port } : {}),
    ...(listeners !== undefined ? { listeners } : {}),
  };
}

async function trace(opts: TraceOptions): Promise<number> {
  const ns = resolveNode(opts.node);
  for (const t of await sweepStaleTables(ns))
    process.stderr.write(`kubenode-trace: removed tracing table ${t} left by a run that is gone\n`);
  if (opts.cleanup) return 0;
  const node = opts.node ?? hostname();
  const pods = await loadPods(opts, node);
  let from: string | undefined;
  if (opts.from) from = isIPv4(opts.from) ? opts.from : resolvePod(pods, opts.from);
  const to = opts.to!;
  const flow: TracedFlow = {
    proto: opts.proto,
    ...(from ? { from } : {}),
    to: to.ip,
    port: to.port,
    localOnly: !!opts.command,
  };
  const table = tableName(process.pid);
  const before = await snapshotRules(ns);
  const got = await capture(ns, table, flow, {
    ...(opts.command ? { command: opts.command } : {}),
    timeoutMs: opts.timeoutMs,
  });
  if (got.packets.length === 0) {
    const what = `${opts.proto}${from ? ` from ${from}` : ''} to ${to.ip}:${to.port}`;
    const why =
      got.commandExit !== undefined
        ? `: the command exited (status ${got.commandExit}) without sending one`
        : ` within ${opts.timeoutMs / 1000} s`;
    process.stderr.write(`kubenode-trace: no packet ${what} on node ${node}${why}\n`);
    // A local process with no route to the address gets an error from connect() and sends nothing.
    const lookup = opts.command ? await routeLookup(ns, to.ip) : {};
    if (lookup.error)
      process.stderr.write(
        `kubenode-trace: node ${node} has no route to ${to.ip} (ip route get: ${lookup.error}), so the command's connect() failed before any packet was sent\n`,
      );
    return 1;
  }
  const flowInfo: Observation['flow'] = {
    proto: opts.proto,
    ...(from ? { from } : {}),
    ...(opts.from && from !== opts.from ? { fromPod: opts.from } : {}),
    to: to.ip,
    port: to.port,
    ...(opts.command ? { command: opts.command } : {}),
  };
  const obs = await observe(ns, flow, before, {
    node,
    flow: flowInfo,
    packets: got.packets,
    pods,
    ...(got.commandExit !== undefined ? { commandExit: got.commandExit } : {}),
  });
  const report = buildReport(obs)!;
  output(report, opts);
  return 0;
}

function output(report: TraceReport, opts: TraceOptions): void {
  process.stdout.write(opts.json ? JSON.stringify(report, null, 2) + '\n' : renderText(report));
  if (opts.html) {
    writeFileSync(opts.html, renderHtml(report));
    process.stderr.write(`kubenode-trace: wrote ${opts.html}\n`);
  }
}

export async function main(argv: string[]): Promise<number> {
  let opts: TraceOptions;
  try {
    opts = parseArgs(argv);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    process.stderr.write(`kubenode-trace: ${e.message}\n${USAGE.split('\n\n')[0]}\n`);
    return 2;
  }
  if (opts.help) {
    process.stdout.write(USAGE + '\n');
    return 0;
  }
  try {
    return await trace(opts);
  } catch (e) {
    process.stderr.write(`kubenode-trace: ${errorMessage(e)}\n`);
    return 1;
  }
}
