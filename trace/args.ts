// Command-line parsing for kubenode-trace: pure (argv in, options or a UsageError out), so every
// usage mistake is caught before anything touches the kernel. Usage errors exit 2.
import { isIPv4 } from '../lib/ip.js';

export const USAGE = `usage: kubenode-trace [--node NODE] -- COMMAND [ARG...]
       kubenode-trace [--node NODE] [--from POD|ADDR] --to ADDR:PORT [--proto tcp|udp]
       kubenode-trace --cleanup [--node NODE]

Follow one real packet through a node's netfilter rules with the kernel's own tracing
(nftables 'meta nftrace' in a temporary table of ours, read with 'nft monitor trace'): every
table, chain and rule it met with its verdict and what the rule means for Kubernetes, the NAT
before and after, the route and interface it left by, the pod that answered and the conntrack
entry.

  -- COMMAND...        run COMMAND in the node's network namespace and trace its first packet
                       (the destination is read from COMMAND: a URL, ADDR:PORT or ADDR PORT;
                       --to overrides it)
  --from POD|ADDR      only packets from this pod (NAME or NAMESPACE/NAME) or address
  --to ADDR:PORT       trace the next packet to this address and port
  --proto tcp|udp      the protocol (tcp)
  --node NODE          the node's network namespace (a name under /run/netns); default: this one
  --timeout DURATION   give up when no packet matched within it (5s); exit status 1
  --json               print one JSON document instead of text
  --html FILE          also write a self-contained page drawing the path
  --cni-cache-dir DIR  the agent's CNI result cache, to name pods (/var/lib/kubenode/node/root/cni-cache)
  --kubeconfig FILE    ask the apiserver for pods that are not on this node (optional)
  --cleanup            remove tracing tables left by kubenode-trace runs that died, and exit
  -h, --help           this text

Exit status: 0 traced, 1 no matching packet (or a node or pod that does not exist), 2 usage.
Tracing tables are named kubenode_trace_p<PID>_<random>; one whose process is gone is removed
by the next run in that namespace or by --cleanup.`;

export type Protocol = 'tcp' | 'udp';

export interface TraceOptions {
  node?: string;
  from?: string;
  to?: { ip: string; port: number };
  proto: Protocol;
  command?: string[];
  timeoutMs: number;
  json: boolean;
  html?: string;
  cniCacheDir: string;
  kubeconfig?: string;
  cleanup: boolean;
  help: boolean;
}

export class UsageError extends Error {
  override name = 'UsageError';
}

export const DEFAULT_CNI_CACHE_DIR = '/var/lib/kubenode/node/root/cni-cache';

/** "ADDR:PORT" with an IPv4 address and a port 1-65535. */
export function parseAddrPort(s: string, what: string): { ip: string; port: number } {
  const m = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(s);
  const port = m ? Number(m[2]) : NaN;
  if (!m || !isIPv4(m[1]!) || !(port >= 1 && port <= 65535))
    throw new UsageError(`${what} '${s}': expected an IPv4 ADDR:PORT like 10.96.0.10:80`);
  return { ip: m[1]!, port };
}

/** "5s", "500ms", "2m", or plain seconds. */
export function parseDuration(s: string, what: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(s);
  if (!m) throw new UsageError(`${what} '${s}': expected a duration like 5s or 500ms`);
  const n = Number(m[1]);
  const ms = m[2] === 'ms' ? n : m[2] === 'm' ? n * 60_000 : n * 1000;
  if (!(ms > 0)) throw new UsageError(`${what} '${s}': must be more than 0`);
  return ms;
}

const WITH_VALUE = new Set([
  '--node',
  '--from',
  '--to',
  '--proto',
  '--timeout',
  '--html',
  '--cni-cache-dir',
  '--kubeconfig',
]);

export function parseArgs(argv: readonly string[]): TraceOptions {
  const o: TraceOptions = {
    proto: 'tcp',
    timeoutMs: 5000,
    json: false,
    cniCacheDir: DEFAULT_CNI_CACHE_DIR,
    cleanup: false,
    help: false,
  };
  let to: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if (a === '--') {
      o.command = argv.slice(i + 1);
      if (o.command.length === 0) throw new UsageError('-- must be followed by a command to run');
      break;
    }
    if (a === '-h' || a === '--help') {
      o.help = true;
      continue;
    }
    if (a === '--json') {
      o.json = true;
      continue;
    }
    if (a === '--cleanup') {
      o.cleanup = true;
      continue;
    }
    const [flag, inline] =
      a.startsWith('--') && a.includes('=')
        ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)]
        : [a, undefined];
    if (!WITH_VALUE.has(flag)) throw new UsageError(`unknown argument '${a}'`);
    const v = inline ?? argv[++i];
    if (v === undefined || v === '') throw new UsageError(`${flag} needs a value`);
    switch (flag) {
      case '--node':
        o.node = v;
        break;
      case '--from':
        o.from = v;
        break;
      case '--to':
        to = v;
        break;
      case '--proto':
        if (v !== 'tcp' && v !== 'udp') throw new UsageError(`--proto '${v}': expected tcp or udp`);
        o.proto = v;
        break;
      case '--timeout':
        o.timeoutMs = parseDuration(v, '--timeout');
        break;
      case '--html':
        o.html = v;
        break;
      case '--cni-cache-dir':
        o.cniCacheDir = v;
        break;
      case '--kubeconfig':
        o.kubeconfig = v;
        break;
    }
  }
  if (o.help || o.cleanup) return o;
  if (to !== undefined) o.to = parseAddrPort(to, '--to');
  if (o.command) {
    o.to ??= destinationOf(o.command);
    if (!o.to) throw new UsageError(`cannot tell where '${o.command.join(' ')}' connects: give --to ADDR:PORT`);
  } else if (!o.to) {
    throw new UsageError('nothing to trace: give --to ADDR:PORT (and optionally --from), or -- COMMAND');
  }
  return o;
}

const SCHEME_PORTS: Record<string, number> = { http: 80, https: 443 };

/**
 * Where a command will connect, read from its arguments: the first URL with an IPv4 host
 * (http://10.96.0.10/ -> :80), ADDR:PORT, or ADDR followed by a PORT argument (nc 10.96.0.10 80).
 */
export function destinationOf(command: readonly string[]): { ip: string; port: number } | undefined {
  for (let i = 0; i < command.length; i++) {
    const a = command[i]!;
    const url = /^([a-z]+):\/\/(\d+\.\d+\.\d+\.\d+)(?::(\d+))?(?:[/?#]|$)/i.exec(a);
    if (url && isIPv4(url[2]!)) {
      const port = url[3] ? Number(url[3]) : SCHEME_PORTS[url[1]!.toLowerCase()];
      if (port) return { ip: url[2]!, port };
    }
    const hp = /^(\d+\.\d+\.\d+\.\d+):(\d+)$/.exec(a);
    if (hp && isIPv4(hp[1]!)) return { ip: hp[1]!, port: Number(hp[2]) };
    if (isIPv4(a) && /^\d+$/.test(command[i + 1] ?? '')) return { ip: a, port: Number(command[i + 1]) };
  }
  return undefined;
}
