// host-gw routing, the part that touches the kernel: read what is there, apply a plan with one
// `ip -batch`. Runs in whatever network namespace the process is in.
import { run } from '../lib/exec.js';
import { HOSTGW_ROUTE_PROTOCOL, parseAddresses, parseRoutes } from './iproute.js';
import { batchInput, type LocalAddress, type Route, type RouteSync } from './routes.js';

export async function readLocalAddresses(): Promise<LocalAddress[]> {
  return parseAddresses((await run('ip', ['-j', '-4', 'addr', 'show'])).stdout);
}

/** The routes this program made earlier (those carrying its protocol mark), main table. */
export async function readHostGwRoutes(protocol = HOSTGW_ROUTE_PROTOCOL): Promise<Route[]> {
  return parseRoutes((await run('ip', ['-j', '-4', 'route', 'show', 'proto', String(protocol)])).stdout);
}

export interface ApplyResult {
  commands: number;
  /** Lines `ip` rejected (with -force it carries on past them), verbatim. */
  errors: string[];
}

/** Apply a sync in one `ip -batch`; -force keeps going past a failed line so one bad route cannot block the rest. */
export async function applyRouteSync(sync: RouteSync, protocol = HOSTGW_ROUTE_PROTOCOL): Promise<ApplyResult> {
  const input = batchInput(sync, protocol);
  if (!input) return { commands: 0, errors: [] };
  const res = await run('ip', ['-force', '-batch', '-'], { input, allowFailure: true, timeoutMs: 30_000 });
  const errors = res.code === 0 ? [] : res.stderr.trim().split('\n').filter(Boolean);
  return { commands: input.trim().split('\n').length, errors };
}
