// A pod's hostname and /etc/hosts, planned as kubelet plans them (pkg/kubelet/kubelet_pods.go:
// GeneratePodHostNameAndDomain, managedHostsFileContent, nodeHostsFileContent; and
// pkg/kubelet/util GetNodenameForKernel). Pure: the runtime writes the file into the pod's
// directory (<root-dir>/pods/<uid>/etc-hosts, kubelet's path) and binds it in every container.
import type { V1HostAlias, V1Pod, V1PodSpec } from '@kubernetes/client-node';

/** The first line of a managed file; the upstream conformance suite looks for exactly this. */
export const MANAGED_HOSTS_HEADER = '# Kubernetes-managed hosts file.';
/** A host-network pod's file: the node's own hosts file under this line. */
export const MANAGED_HOSTS_HEADER_HOST_NETWORK = '# Kubernetes-managed hosts file (host network).';
const HOST_ALIASES_HEADER = '# Entries added by HostAliases.';
/** The kernel's limit on a hostname (64 bytes with the terminating NUL). */
const HOSTNAME_MAX = 63;
/** setHostnameAsFQDN: the kernel's nodename holds at most 64 characters. */
const NODENAME_MAX = 64;

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

export class PodHostnameError extends Error {
  constructor(pod: V1Pod, field: string, reason: string) {
    super(`pod ${pod.metadata?.namespace}/${pod.metadata?.name}: ${field}: ${reason}`);
    this.name = 'PodHostnameError';
  }
}

export interface PodHostname {
  /** The short hostname: spec.hostname, else the pod's name, cut to 63 characters. */
  hostname: string;
  /** <subdomain>.<namespace>.svc.<cluster domain> when spec.subdomain is set, else "". */
  domain: string;
}

/** The pod's hostname and domain (kubelet's GeneratePodHostNameAndDomain). */
export function podHostnameAndDomain(pod: V1Pod, clusterDomain: string): PodHostname {
  const spec: V1PodSpec = pod.spec ?? { containers: [] };
  let hostname = pod.metadata?.name ?? '';
  if (spec.hostname) {
    if (spec.hostname.length > HOSTNAME_MAX || !DNS1123_LABEL.test(spec.hostname))
      throw new PodHostnameError(pod, 'spec.hostname', `"${spec.hostname}" is not a valid DNS label`);
    hostname = spec.hostname;
  }
  if (hostname.length > HOSTNAME_MAX) {
    // A pod name may be 253 characters; kubelet cuts it and drops trailing '-' and '.'.
    hostname = hostname.slice(0, HOSTNAME_MAX).replace(/[-.]+$/, '');
    if (!hostname)
      throw new PodHostnameError(pod, 'metadata.name', 'no valid hostname left after truncating it to 63 characters');
  }
  let domain = '';
  if (spec.subdomain) {
    if (spec.subdomain.length > HOSTNAME_MAX || !DNS1123_LABEL.test(spec.subdomain))
      throw new PodHostnameError(pod, 'spec.subdomain', `"${spec.subdomain}" is not a valid DNS label`);
    domain = `${spec.subdomain}.${pod.metadata?.namespace}.svc.${clusterDomain}`;
  }
  return { hostname, domain };
}

/**
 * The hostname the pod's containers see (the kernel's nodename): the short hostname, or with
 * setHostnameAsFQDN and a subdomain the FQDN, which must then fit the kernel's 64 characters.
 */
export function nodenameForKernel(pod: V1Pod, h: PodHostname): string {
  if (!pod.spec?.setHostnameAsFQDN || !h.domain) return h.hostname;
  const fqdn = `${h.hostname}.${h.domain}`;
  if (fqdn.length > NODENAME_MAX) {
    throw new PodHostnameError(
      pod,
      'spec.setHostnameAsFQDN',
      `failed to construct FQDN from pod hostname and cluster domain, FQDN ${fqdn} is too long (${NODENAME_MAX} characters is the max, ${fqdn.length} characters requested)`,
    );
  }
  return fqdn;
}

/** spec.hostAliases, one line per IP, after a blank line and kubelet's comment. */
function hostAliasLines(aliases: V1HostAlias[] | undefined): string {
  if (!aliases?.length) return '';
  return `\n${HOST_ALIASES_HEADER}\n` + aliases.map((a) => `${a.ip}\t${(a.hostnames ?? []).join('\t')}\n`).join('');
}

/**
 * The hosts file of a pod on the pod network: localhost, the IPv6 well-known names, each pod IP
 * under its FQDN (when it has a subdomain) and short hostname, then the host aliases.
 */
export function managedHostsFile(podIPs: string[], h: PodHostname, aliases: V1HostAlias[] | undefined): string {
  let out = `${MANAGED_HOSTS_HEADER}\n`;
  out += '127.0.0.1\tlocalhost\n';
  out += '::1\tlocalhost ip6-localhost ip6-loopback\n';
  out += 'fe00::0\tip6-localnet\n';
  out += 'fe00::0\tip6-mcastprefix\n';
  out += 'fe00::1\tip6-allnodes\n';
  out += 'fe00::2\tip6-allrouters\n';
  for (const ip of podIPs)
    out += h.domain ? `${ip}\t${h.hostname}.${h.domain}\t${h.hostname}\n` : `${ip}\t${h.hostname}\n`;
  return out + hostAliasLines(aliases);
}

/** The hosts file of a host-network pod: the node's own, under kubelet's host-network header. */
export function hostNetworkHostsFile(nodeHosts: string, aliases: V1HostAlias[] | undefined): string {
  return `${MANAGED_HOSTS_HEADER_HOST_NETWORK}\n${nodeHosts}${hostAliasLines(aliases)}`;
}
