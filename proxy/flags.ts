// kube-proxy's flags (same names, same defaults where kube-proxy has them), plus --services-dir
// for the standalone source and --iptables-backend to pick iptables-nft or iptables-legacy.
import { hostname } from 'node:os';
import { looksLikeIPv6, parseIPv4Network, type IPv4Network } from '../lib/ip.js';

export interface ProxyFlags {
  proxyMode: 'iptables' | 'ipvs' | 'nftables' | 'userspace';
  kubeconfig?: string;
  servicesDir?: string;
  hostnameOverride: string;
  clusterCIDR?: IPv4Network;
  nodePortAddresses: IPv4Network[];
  minSyncPeriodMs: number;
  syncPeriodMs: number;
  /** "" disables the server. */
  healthzBindAddress: string;
  metricsBindAddress: string;
  cleanup: boolean;
  masqueradeAll: boolean;
  masqueradeBit: number;
  iptablesBackend: 'auto' | 'nft' | 'legacy';
  /** --ipvs-scheduler as given ('' = rr); validated by the IPVS mode (proxy/ipvs/scheduler.ts). */
  ipvsScheduler: string;
  /** --udp-timeout: userspace mode's idle timeout of a UDP "connection" (upstream default 250ms). */
  udpIdleTimeoutMs: number;
  /** --iptables-localhost-nodeports (default true, as upstream): NodePorts on 127.0.0.1 too. */
  iptablesLocalhostNodePorts: boolean;
  help: boolean;
}

export class FlagError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FlagError';
  }
}

export const USAGE = `Usage: kubenode-proxy [flags]

  --proxy-mode iptables|ipvs|nftables|userspace  which proxier to run (default iptables)
  --kubeconfig PATH                watch Services and EndpointSlices on this cluster's apiserver
  --services-dir DIR               standalone: Service/EndpointSlice YAML files in DIR, watched
  --hostname-override NAME         this node's name, to recognise local endpoints (default: hostname)
  --cluster-cidr CIDR              pod network; traffic from elsewhere to a Service is masqueraded
  --nodeport-addresses CIDR,...    NodePorts only on node addresses in these ranges (default: all)
  --min-sync-period DURATION       at most one sync per this period (default 1s)
  --sync-period DURATION           full resync period (default 30s)
  --healthz-bind-address HOST:PORT proxy health (default 0.0.0.0:10256; "" disables)
  --metrics-bind-address HOST:PORT /metrics (default 127.0.0.1:10249; "" disables)
  --masquerade-all                 SNAT all Service traffic
  --iptables-masquerade-bit N      fwmark bit used to mark packets for SNAT (default 14)
  --iptables-backend auto|nft|legacy  iptables flavour (default: what 'iptables' is here)
  --iptables-localhost-nodeports=false  no NodePorts on 127.0.0.1 (default true: sets route_localnet=1)
  --ipvs-scheduler NAME            IPVS mode's scheduler: rr (default), wrr, lc, wlc, sh, dh, sed, nq, mh...
  --udp-timeout DURATION           userspace mode: idle UDP connections are closed after this (default 250ms)
  --cleanup                        remove every rule kubenode-proxy installed, then exit
`;

/** Go duration syntax, as kube-proxy's flags take it: "1s", "500ms", "1m30s". */
export function parseDuration(flag: string, v: string): number {
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };
  if (!/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v) && v !== '0')
    throw new FlagError(`--${flag}: ${JSON.stringify(v)} is not a duration like 1s, 500ms or 1m30s`);
  let ms = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2]!]!;
  return ms;
}

const BOOLEAN = new Set(['cleanup', 'masquerade-all', 'help', 'iptables-localhost-nodeports']);
const VALUED = new Set([
  'proxy-mode',
  'kubeconfig',
  'services-dir',
  'hostname-override',
  'cluster-cidr',
  'nodeport-addresses',
  'min-sync-period',
  'sync-period',
  'healthz-bind-address',
  'metrics-bind-address',
  'iptables-masquerade-bit',
  'iptables-backend',
  'ipvs-scheduler',
  'udp-timeout',
]);

export function parseFlags(argv: readonly string[]): ProxyFlags {
  const raw = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new FlagError(`unexpected argument ${JSON.stringify(arg)}\n\n${USAGE}`);
    const name = m[1]!;
    if (name === 'h') {
      raw.set('help', 'true');
      continue;
    }
    if (BOOLEAN.has(name)) {
      const v = m[2] ?? 'true';
      if (v !== 'true' && v !== 'false') throw new FlagError(`--${name}: ${JSON.stringify(v)} is not true or false`);
      raw.set(name, v);
    } else if (VALUED.has(name)) {
      const v = m[2] ?? argv[++i];
      if (v === undefined) throw new FlagError(`--${name} needs a value`);
      raw.set(name, v);
    } else {
      throw new FlagError(`unknown flag --${name}\n\n${USAGE}`);
    }
  }

  const mode = raw.get('proxy-mode') ?? 'iptables';
  if (mode !== 'iptables' && mode !== 'ipvs' && mode !== 'nftables' && mode !== 'userspace')
    throw new FlagError(`--proxy-mode: ${JSON.stringify(mode)} is not iptables, ipvs, nftables or userspace`);
  const backend = raw.get('iptables-backend') ?? 'auto';
  if (backend !== 'auto' && backend !== 'nft' && backend !== 'legacy')
    throw new FlagError(`--iptables-backend: ${JSON.stringify(backend)} is not auto, nft or legacy`);

  let clusterCIDR: IPv4Network | undefined;
  for (const c of splitList(raw.get('cluster-cidr'))) {
    if (looksLikeIPv6(c.split('/')[0])) continue; // dual-stack lists: the IPv6 half is not used (IPv4 only)
    const parsed = parseIPv4Network(c);
    if (!parsed) throw new FlagError(`--cluster-cidr: ${JSON.stringify(c)} is not an IPv4 CIDR`);
    if (clusterCIDR) throw new FlagError('--cluster-cidr: only one IPv4 CIDR is supported');
    clusterCIDR = parsed;
  }
  const nodePortAddresses = splitList(raw.get('nodeport-addresses')).map((c) => {
    const parsed = parseIPv4Network(c);
    if (!parsed) throw new FlagError(`--nodeport-addresses: ${JSON.stringify(c)} is not an IPv4 CIDR`);
    return parsed;
  });
  const bit = Number(raw.get('iptables-masquerade-bit') ?? '14');
  if (!Number.isInteger(bit) || bit < 0 || bit > 31)
    throw new FlagError('--iptables-masquerade-bit: must be an integer within 0..31');

  const flags: ProxyFlags = {
    proxyMode: mode,
    kubeconfig: raw.get('kubeconfig') || undefined,
    servicesDir: raw.get('services-dir') || undefined,
    hostnameOverride: (raw.get('hostname-override') || hostname()).toLowerCase(),
    clusterCIDR,
    nodePortAddresses,
    minSyncPeriodMs: parseDuration('min-sync-period', raw.get('min-sync-period') ?? '1s'),
    syncPeriodMs: parseDuration('sync-period', raw.get('sync-period') ?? '30s'),
    healthzBindAddress: raw.get('healthz-bind-address') ?? '0.0.0.0:10256',
    metricsBindAddress: raw.get('metrics-bind-address') ?? '127.0.0.1:10249',
    cleanup: raw.get('cleanup') === 'true',
    masqueradeAll: raw.get('masquerade-all') === 'true',
    masqueradeBit: bit,
    iptablesBackend: backend,
    ipvsScheduler: raw.get('ipvs-scheduler') ?? '',
    udpIdleTimeoutMs: parseDuration('udp-timeout', raw.get('udp-timeout') ?? '250ms'),
    iptablesLocalhostNodePorts: raw.get('iptables-localhost-nodeports') !== 'false',
    help: raw.get('help') === 'true',
  };
  if (flags.udpIdleTimeoutMs <= 0) throw new FlagError('--udp-timeout: must be greater than 0');
  if (flags.syncPeriodMs <= 0) throw new FlagError('--sync-period: must be greater than 0');
  if (flags.minSyncPeriodMs > flags.syncPeriodMs)
    throw new FlagError('--min-sync-period: must not be longer than --sync-period');
  if (!flags.cleanup && !flags.help) {
    if (!flags.kubeconfig && !flags.servicesDir)
      throw new FlagError('one of --kubeconfig (apiserver) or --services-dir (standalone) is required');
    if (flags.kubeconfig && flags.servicesDir)
      throw new FlagError('--kubeconfig and --services-dir are exclusive: pick one source');
  }
  return flags;
}

function splitList(v: string | undefined): string[] {
  return (v ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}
