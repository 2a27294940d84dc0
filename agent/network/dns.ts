// A pod's /etc/resolv.conf, planned as kubelet plans it (pkg/kubelet/network/dns/dns.go,
// GetPodDNS): pure, from the pod, the agent's --cluster-dns / --cluster-domain and the parsed
// contents of its --resolv-conf. The runtime writes the result into the pod's directory and
// binds it at /etc/resolv.conf in every container (runtime/pod-files.ts).
// https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/#pod-s-dns-policy
import type { V1Pod } from '@kubernetes/client-node';

/** The agent's DNS settings, kubelet's flags of the same names. */
export interface NodeDNSConfig {
  /** --cluster-dns */
  clusterDNS: string[];
  /** --cluster-domain */
  clusterDomain: string;
  /** --resolv-conf; "" means none. */
  resolvConf: string;
}

/** Limits the apiserver validates dnsConfig against (pkg/apis/core/validation), and kubelet trims to. */
export const MAX_NAMESERVERS = 3;
export const MAX_SEARCH_PATHS = 32;
export const MAX_SEARCH_LIST_CHARS = 2048;
/** A search domain longer than a DNS subdomain name may be makes some resolvers (glibc 2.28) abort. */
const MAX_SEARCH_PATH_CHARS = 253;
/** kubelet's options for cluster DNS: names with fewer than 5 dots go through the search list first. */
const CLUSTER_OPTIONS = ['ndots:5'];

export interface ResolvConf {
  nameservers: string[];
  searches: string[];
  options: string[];
}

export interface DNSSettings {
  /** --cluster-dns: the cluster DNS Service's address(es); empty when the node has none. */
  clusterDNS: string[];
  /** --cluster-domain, e.g. cluster.local; empty when not set. */
  clusterDomain: string;
  /**
   * The parsed --resolv-conf, the node's resolver that Default pods get and whose search list
   * cluster pods inherit; undefined when --resolv-conf is "" (kubelet then gives Default pods
   * a resolver on the loopback and the search list ".", effectively no DNS).
   */
  host: ResolvConf | undefined;
  /** The node's IPs: one loopback nameserver per address family when there is no --resolv-conf. */
  nodeIPs: string[];
}

/** A warning kubelet records as an Event on the pod. */
export interface DNSEvent {
  reason: 'MissingClusterDNS' | 'DNSConfigForming';
  message: string;
}

export interface PodDNSPlan {
  config: ResolvConf;
  events: DNSEvent[];
}

/**
 * resolv.conf text -> its settings, as kubelet reads --resolv-conf: nameserver lines add up, the
 * last search line and the last options line win, comments and unknown keywords are ignored.
 * A nameserver line without an address is an error (kubelet refuses the file).
 */
export function parseResolvConf(text: string, path = 'resolv.conf'): ResolvConf {
  const out: ResolvConf = { nameservers: [], searches: [], options: [] };
  for (const line of text.split('\n')) {
    const trimmed = line.trim();
    if (trimmed.startsWith('#')) continue;
    const fields = trimmed.split(/\s+/).filter(Boolean);
    if (fields.length === 0) continue;
    switch (fields[0]) {
      case 'nameserver':
        if (fields.length < 2) throw new Error(`${path}: nameserver list is empty`);
        out.nameservers.push(fields[1]!);
        break;
      case 'search':
        // A domain with and without its trailing dot counts once (kubelet normalises the same way).
        out.searches = fields.slice(1).map((s) => s.replace(/\.$/, ''));
        break;
      case 'options':
        out.options = fields.slice(1);
        break;
    }
  }
  return out;
}

export type PodDNSType = 'cluster' | 'host' | 'none';

/**
 * dnsPolicy -> where the pod's resolver comes from. ClusterFirst on the host network means
 * Default (the node's resolver): only ClusterFirstWithHostNet gives a host-network pod the
 * cluster DNS. An unset policy is ClusterFirst (the apiserver's default).
 */
export function podDNSType(pod: V1Pod): PodDNSType {
  switch (pod.spec?.dnsPolicy ?? 'ClusterFirst') {
    case 'None':
      return 'none';
    case 'ClusterFirstWithHostNet':
      return 'cluster';
    case 'Default':
      return 'host';
    case 'ClusterFirst':
      return pod.spec?.hostNetwork ? 'host' : 'cluster';
    default:
      // kubelet falls back to cluster DNS for a policy it does not know (the apiserver rejects
      // those, so only a static pod can carry one).
      return 'cluster';
  }
}

function unique(list: string[]): string[] {
  return [...new Set(list)];
}

/**
 * Options merged as kubelet's mergeDNSOptions: one entry per option name, a dnsConfig option
 * replacing the same-named one before it. kubelet's order comes out of a Go map (random); ours
 * keeps the first appearance of each name, so the file is the same on every sync.
 */
function mergeOptions(existing: string[], extra: { name?: string; value?: string }[]): string[] {
  const byName = new Map<string, string>();
  for (const op of existing) {
    const i = op.indexOf(':');
    if (i === -1) byName.set(op, '');
    else byName.set(op.slice(0, i), op.slice(i + 1));
  }
  for (const op of extra) byName.set(op.name ?? '', op.value ?? '');
  return [...byName].map(([name, value]) => (value !== '' ? `${name}:${value}` : name));
}

function fitNameservers(servers: string[], events: DNSEvent[]): string[] {
  if (servers.length <= MAX_NAMESERVERS) return servers;
  const kept = servers.slice(0, MAX_NAMESERVERS);
  events.push({
    reason: 'DNSConfigForming',
    message: `Nameserver limits were exceeded, some nameservers have been omitted, the applied nameserver line is: ${kept.join(' ')}`,
  });
  return kept;
}

/** At most 32 domains, none over 253 characters, the line at most 2048 (the last ones go). */
function fitSearches(searches: string[], events: DNSEvent[]): string[] {
  let exceeded = false;
  let kept = searches;
  if (kept.length > MAX_SEARCH_PATHS) {
    kept = kept.slice(0, MAX_SEARCH_PATHS);
    exceeded = true;
  }
  const short = kept.filter((s) => s.length <= MAX_SEARCH_PATH_CHARS);
  if (short.length !== kept.length) exceeded = true;
  kept = short;
  while (kept.join(' ').length > MAX_SEARCH_LIST_CHARS) {
    kept = kept.slice(0, -1);
    exceeded = true;
  }
  if (exceeded)
    events.push({
      reason: 'DNSConfigForming',
      message: `Search Line limits were exceeded, some search paths have been omitted, the applied search line is: ${kept.join(' ')}`,
    });
  return kept;
}

/** The pod's resolver settings, and the warnings kubelet would record about them. */
export function planPodDNS(pod: V1Pod, s: DNSSettings): PodDNSPlan {
  const events: DNSEvent[] = [];
  const host: ResolvConf = s.host
    ? { nameservers: [...s.host.nameservers], searches: [...s.host.searches], options: [...s.host.options] }
    : { nameservers: [], searches: [], options: [] };
  let config: ResolvConf = host;
  const type = podDNSType(pod);
  let useHost = type === 'host';
  if (type === 'none') {
    // None starts from nothing: the pod's dnsConfig is the whole file.
    config = { nameservers: [], searches: [], options: [] };
  } else if (type === 'cluster') {
    if (s.clusterDNS.length > 0) {
      // The cluster DNS server is the only nameserver: it forwards what it does not know to the
      // node's resolver itself (CoreDNS's `forward . /etc/resolv.conf`).
      const ns = pod.metadata?.namespace ?? 'default';
      const clusterSearch = s.clusterDomain
        ? [`${ns}.svc.${s.clusterDomain}`, `svc.${s.clusterDomain}`, s.clusterDomain]
        : [];
      config = {
        nameservers: [...s.clusterDNS],
        searches: unique([...clusterSearch, ...host.searches]),
        options: [...CLUSTER_OPTIONS],
      };
    } else {
      events.push({
        reason: 'MissingClusterDNS',
        message: `kubelet does not have ClusterDNS IP configured and cannot create Pod using "ClusterFirst" policy. Falling back to "Default" policy.`,
      });
      useHost = true;
    }
  }
  if (useHost && !s.host) {
    // No --resolv-conf: a loopback resolver per address family and the root as the only search
    // domain, which in effect turns DNS off (kubelet's behaviour for --resolv-conf="").
    const families = unique(s.nodeIPs.map((ip) => (ip.includes(':') ? '::1' : '127.0.0.1')));
    config = { nameservers: families.length ? families : ['127.0.0.1'], searches: ['.'], options: [] };
  }
  const extra = pod.spec?.dnsConfig;
  if (extra) {
    config = {
      nameservers: unique([...config.nameservers, ...(extra.nameservers ?? [])]),
      searches: unique([...config.searches, ...(extra.searches ?? [])]),
      options: mergeOptions(config.options, extra.options ?? []),
    };
  }
  return {
    config: {
      nameservers: fitNameservers(config.nameservers, events),
      searches: fitSearches(config.searches, events),
      options: config.options,
    },
    events,
  };
}

/**
 * The file as a CRI runtime writes it from the sandbox's DNS config (containerd: search line,
 * then one nameserver line each, then the options line; empty parts are left out).
 */
export function renderResolvConf(c: ResolvConf): string {
  let out = '';
  if (c.searches.length) out += `search ${c.searches.join(' ')}\n`;
  for (const ns of c.nameservers) out += `nameserver ${ns}\n`;
  if (c.options.length) out += `options ${c.options.join(' ')}\n`;
  return out;
}
