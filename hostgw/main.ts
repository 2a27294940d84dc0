// kubenode-hostgw: host-gw routes to every other node's pod CIDR, from the Node objects.
//
//   node dist/hostgw/main.js --kubeconfig FILE [--hostname-override NODE] [--cluster-cidr CIDR]
//                                   [--resync-period 10s] [--cleanup]
//
// Without --hostname-override it routes to every node (the machine hosting emulated nodes uses
// this so it can reach pods). --cleanup removes the routes it made (inside --cluster-cidr) and
// exits. Routes are left in place on SIGTERM, as flannel does: pods keep talking while it restarts.
import { createLogger } from '../lib/log.js';
import { applyRouteSync, readHostGwRoutes } from './apply.js';
import { HostGwController } from './controller.js';
import { planRouteSync } from './routes.js';
import { parseIPv4Network } from '../lib/ip.js';
import { errorMessage } from '../lib/errors.js';

interface Flags {
  kubeconfig?: string;
  nodeName?: string;
  clusterCIDR?: string;
  resyncMs: number;
  cleanup: boolean;
}

const USAGE = `Usage: kubenode-hostgw --kubeconfig FILE [flags]     (node dist/hostgw/main.js)

host-gw routes to every other node's pod CIDR, read from the Node objects.

  --kubeconfig FILE           the cluster to watch Nodes on (required unless --cleanup)
  --hostname-override NODE    this node's name: its own pod CIDR is not routed (default: route to every node)
  --cluster-cidr CIDR         the pod network; only routes inside it are managed
  --resync-period DURATION    how often routes are checked against the Nodes (default 10s)
  --cleanup                   remove the routes it made (inside --cluster-cidr) and exit
  -h, --help                  this text
`;

function parseDuration(flag: string, v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)$/.exec(v);
  if (!m) throw new Error(`${flag}: "${v}" is not a duration like 500ms, 10s or 1m`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 's' ? 1000 : 60_000);
}

export function parseFlags(argv: string[]): Flags {
  const f: Flags = { resyncMs: 10_000, cleanup: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const eq = arg.indexOf('=');
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const value = () => {
      if (eq > 0) return arg.slice(eq + 1);
      const v = argv[++i];
      if (v === undefined) throw new Error(`${name} needs a value`);
      return v;
    };
    switch (name) {
      case '--kubeconfig':
        f.kubeconfig = value();
        break;
      case '--hostname-override':
      case '--node-name':
        f.nodeName = value();
        break;
      case '--cluster-cidr':
        f.clusterCIDR = value();
        break;
      case '--resync-period':
        f.resyncMs = parseDuration(name, value());
        break;
      case '--cleanup':
        f.cleanup = true;
        break;
      default:
        throw new Error(`unknown flag ${name}`);
    }
  }
  if (f.clusterCIDR !== undefined && !parseIPv4Network(f.clusterCIDR))
    throw new Error(`--cluster-cidr: "${f.clusterCIDR}" is not an IPv4 CIDR like 10.244.0.0/16`);
  if (!f.cleanup && !f.kubeconfig) throw new Error('--kubeconfig is required');
  return f;
}

async function main(): Promise<void> {
  const log = createLogger('hostgw');
  let flags: Flags;
  if (process.argv.slice(2).some((a) => a === '--help' || a === '-h')) {
    process.stdout.write(USAGE);
    return;
  }
  try {
    flags = parseFlags(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`kubenode-hostgw: ${errorMessage(e)}\n`);
    process.exit(2);
  }
  if (flags.cleanup) {
    const actual = await readHostGwRoutes();
    const res = await applyRouteSync(planRouteSync([], actual, flags.clusterCIDR));
    log.info('removed host-gw routes', { count: res.commands, errors: res.errors });
    process.exit(res.errors.length ? 1 : 0);
  }
  const controller = new HostGwController({
    kubeconfig: flags.kubeconfig!,
    nodeName: flags.nodeName,
    clusterCIDR: flags.clusterCIDR,
    resyncMs: flags.resyncMs,
    logger: log.with({ node: flags.nodeName ?? '(host)' }),
  });
  const shutdown = (sig: string) => {
    log.info('stopping', { signal: sig });
    controller.stop().finally(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
  await controller.start();
  log.info('started', { node: flags.nodeName, clusterCIDR: flags.clusterCIDR, resyncMs: flags.resyncMs });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((e) => {
    process.stderr.write(`kubenode-hostgw: ${(e as Error).stack ?? e}\n`);
    process.exit(1);
  });
}
