// The agent's settings: kubelet's flag names where kubelet has one, kubenode's own otherwise, and
// --config for a YAML file holding the same settings (camelCase keys; kubelet's
// KubeletConfiguration names such as staticPodPath and staticPodURL are accepted too). Flags given
// on the command line win over the file, as in kubelet.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ETCD_FLAGS, etcdSourceProblem, type EtcdSourceConfig } from './etcd.js';
import { EVICTION_FLAGS, evictionConfigErrors, evictionDefaults, type EvictionConfig } from './eviction-flags.js';
import { ConfigError, convert, flattenAuth, type Kind } from './values.js';
import { errorMessage } from '../../lib/errors.js';

export { ConfigError };

export interface AgentConfig extends EtcdSourceConfig, EvictionConfig {
  podManifestPath?: string;
  manifestUrl?: string;
  manifestUrlHeader: Record<string, string>;
  fileCheckFrequencyMs: number;
  httpCheckFrequencyMs: number;
  hostnameOverride?: string;
  nodeIp?: string;
  rootDir: string;
  cniConfDir: string;
  cniBinDir: string[];
  cniCacheDir?: string;
  readOnlyPort: number;
  address: string;
  kubeconfig?: string;
  registerWithTaints?: string;
  podCidrFile?: string;
  manifestServerAddress?: string;
  manifestServerTokenFile?: string;
  containerRuntimeEndpoint: string;
  podInfraContainerImage: string;
  /** Emulation only: the container whose network namespace is this node's (hostNetwork pods join it). */
  hostNetworkContainer?: string;
  cgroupRoot: string;
  instance: string;
  syncFrequencyMs: number;
  housekeepingIntervalMs: number;
  minimumContainerTtlMs: number;
  maximumDeadContainersPerContainer: number;
  maximumDeadContainers: number;
  maxPods: number;
  syncConcurrency: number;
  imagePullTimeoutMs: number;
  // The authenticated HTTPS node API (agent/server/secure.ts), kubelet's flags.
  port: number;
  tlsCertFile?: string;
  tlsPrivateKeyFile?: string;
  clientCaFile?: string;
  anonymousAuth: boolean;
  /** Unset: Webhook with --kubeconfig, else AlwaysAllow (see validateConfig). */
  authorizationMode?: 'Webhook' | 'AlwaysAllow';
  /** Unset: on with --kubeconfig. */
  authenticationTokenWebhook?: boolean;
  // TLS bootstrap and certificate rotation (agent/certificate/), kubelet's flags.
  bootstrapKubeconfig?: string;
  certDir?: string;
  rotateCertificates: boolean;
  rotateServerCertificates: boolean;
  // Pods' DNS (pods/pod-dns.ts), kubelet's flags.
  clusterDns: string[];
  clusterDomain: string;
  resolvConf: string;
}

export interface Flag {
  name: string;
  key: keyof AgentConfig;
  kind: Kind;
  help: string;
  /** KubeletConfiguration's name for it in a --config file, when it differs. */
  alias?: string;
  /** A string flag for which "" is a value of its own (--resolv-conf=""). */
  allowEmpty?: boolean;
}

export const FLAGS: Flag[] = [
  {
    name: 'config',
    key: 'podManifestPath',
    kind: 'string',
    help: 'YAML file with these settings (flags given on the command line win)',
  },
  {
    name: 'pod-manifest-path',
    key: 'podManifestPath',
    kind: 'string',
    alias: 'staticPodPath',
    help: 'directory of static pod manifests (YAML/JSON), watched',
  },
  {
    name: 'manifest-url',
    key: 'manifestUrl',
    kind: 'string',
    alias: 'staticPodURL',
    help: 'URL of a Pod or PodList, polled',
  },
  {
    name: 'manifest-url-header',
    key: 'manifestUrlHeader',
    kind: 'headers',
    alias: 'staticPodURLHeader',
    help: "HTTP headers for --manifest-url, 'Name:value' (repeatable)",
  },
  {
    name: 'file-check-frequency',
    key: 'fileCheckFrequencyMs',
    kind: 'duration',
    alias: 'fileCheckFrequency',
    help: 'rescan period of --pod-manifest-path (changes are seen at once anyway) [20s]',
  },
  {
    name: 'http-check-frequency',
    key: 'httpCheckFrequencyMs',
    kind: 'duration',
    alias: 'httpCheckFrequency',
    help: 'poll period of --manifest-url [20s]',
  },
  { name: 'hostname-override', key: 'hostnameOverride', kind: 'string', help: 'node name instead of the hostname' },
  { name: 'node-ip', key: 'nodeIp', kind: 'string', help: "the node's IP (hostIP of pods) [first non-loopback IPv4]" },
  {
    name: 'root-dir',
    key: 'rootDir',
    kind: 'string',
    help: 'state directory: pod volumes, sandbox network records [/var/lib/kubenode]',
  },
  { name: 'cni-conf-dir', key: 'cniConfDir', kind: 'string', help: 'CNI configuration directory [/etc/cni/net.d]' },
  {
    name: 'cni-bin-dir',
    key: 'cniBinDir',
    kind: 'list',
    help: 'comma-separated CNI plugin directories [/opt/cni/bin,/usr/lib/cni]',
  },
  { name: 'cni-cache-dir', key: 'cniCacheDir', kind: 'string', help: 'CNI result cache [<root-dir>/cni-cache]' },
  {
    name: 'read-only-port',
    key: 'readOnlyPort',
    kind: 'int',
    alias: 'readOnlyPort',
    help: 'port of the read-only HTTP API (no authentication); 0 disables it [0 with --kubeconfig, as kubelet; 10255 without]',
  },
  {
    name: 'address',
    key: 'address',
    kind: 'string',
    help: 'address the read-only and HTTPS node APIs listen on [0.0.0.0]',
  },
  {
    name: 'kubeconfig',
    key: 'kubeconfig',
    kind: 'string',
    help: 'kubeconfig of the apiserver (node credentials system:node:NAME): registers the Node, runs the pods bound to it',
  },
  {
    name: 'register-with-taints',
    key: 'registerWithTaints',
    kind: 'string',
    alias: 'registerWithTaints',
    help: "taints the Node is created with: 'key=value:Effect,...'",
  },
  {
    name: 'pod-cidr-file',
    key: 'podCidrFile',
    kind: 'string',
    help: "file receiving the Node's spec.podCIDR for the CNI IPAM [<root-dir>/pod-cidr]",
  },
  {
    name: 'manifest-server-address',
    key: 'manifestServerAddress',
    kind: 'string',
    help: '[host:]port of the manifest server accepting POST/PUT/DELETE /pods (host defaults to 127.0.0.1)',
  },
  {
    name: 'manifest-server-token-file',
    key: 'manifestServerTokenFile',
    kind: 'string',
    help: 'file holding the bearer token the manifest server requires (mandatory off loopback)',
  },
  ...ETCD_FLAGS,
  {
    name: 'container-runtime-endpoint',
    key: 'containerRuntimeEndpoint',
    kind: 'string',
    help: 'Docker Engine socket [unix:///var/run/docker.sock]',
  },
  {
    name: 'pod-infra-container-image',
    key: 'podInfraContainerImage',
    kind: 'string',
    help: 'sandbox image [kubenode/pause:latest]',
  },
  {
    name: 'host-network-container',
    key: 'hostNetworkContainer',
    kind: 'string',
    help: "emulated nodes only: a running container whose network namespace is the node's; hostNetwork pods join it (Docker's container:NAME) instead of the machine's root namespace",
  },
  {
    name: 'cgroup-root',
    key: 'cgroupRoot',
    kind: 'string',
    alias: 'cgroupRoot',
    help: 'cgroup under which kubepods/ is created [/]',
  },
  {
    name: 'instance',
    key: 'instance',
    kind: 'string',
    help: 'this agent manages, adopts and garbage-collects only containers labelled kubenode.io/instance=<instance> [kubenode]',
  },
  {
    name: 'sync-frequency',
    key: 'syncFrequencyMs',
    kind: 'duration',
    alias: 'syncFrequency',
    help: 'periodic resync of every pod [1m]',
  },
  {
    name: 'housekeeping-interval',
    key: 'housekeepingIntervalMs',
    kind: 'duration',
    help: 'period of container garbage collection and orphan checks [30s]',
  },
  {
    name: 'minimum-container-ttl-duration',
    key: 'minimumContainerTtlMs',
    kind: 'duration',
    help: 'a dead container younger than this is not collected [0s]',
  },
  {
    name: 'maximum-dead-containers-per-container',
    key: 'maximumDeadContainersPerContainer',
    kind: 'int',
    help: 'dead instances kept per container [1]',
  },
  {
    name: 'maximum-dead-containers',
    key: 'maximumDeadContainers',
    kind: 'int',
    help: 'dead containers kept in total; -1 no limit [-1]',
  },
  { name: 'max-pods', key: 'maxPods', kind: 'int', alias: 'maxPods', help: 'pods this node accepts [110]' },
  { name: 'sync-concurrency', key: 'syncConcurrency', kind: 'int', help: 'pod syncs talking to Docker at once [16]' },
  {
    name: 'image-pull-timeout',
    key: 'imagePullTimeoutMs',
    kind: 'duration',
    help: 'give up an image pull after this long [2m]',
  },
  {
    name: 'port',
    key: 'port',
    kind: 'int',
    help: 'port of the authenticated HTTPS node API (logs for the apiserver); 0 disables it [10250]',
  },
  {
    name: 'tls-cert-file',
    key: 'tlsCertFile',
    kind: 'string',
    alias: 'tlsCertFile',
    help: 'serving certificate (PEM) of the HTTPS node API; without it that API is not started',
  },
  {
    name: 'tls-private-key-file',
    key: 'tlsPrivateKeyFile',
    kind: 'string',
    alias: 'tlsPrivateKeyFile',
    help: 'private key (PEM) of --tls-cert-file',
  },
  {
    name: 'client-ca-file',
    key: 'clientCaFile',
    kind: 'string',
    alias: 'clientCAFile',
    help: 'CA bundle client certificates are verified against (user = CN, groups = O)',
  },
  {
    name: 'anonymous-auth',
    key: 'anonymousAuth',
    kind: 'bool',
    help: 'serve unauthenticated requests as system:anonymous [false]',
  },
  {
    name: 'authorization-mode',
    key: 'authorizationMode',
    kind: 'string',
    help: 'Webhook (SubjectAccessReview to the apiserver) or AlwaysAllow [Webhook with --kubeconfig, else AlwaysAllow]',
  },
  {
    name: 'cluster-dns',
    key: 'clusterDns',
    kind: 'list',
    alias: 'clusterDNS',
    help: 'comma-separated IPs of the cluster DNS Service: the nameservers of ClusterFirst pods (none: they fall back to Default)',
  },
  {
    name: 'cluster-domain',
    key: 'clusterDomain',
    kind: 'string',
    alias: 'clusterDomain',
    help: "the cluster's DNS domain, e.g. cluster.local: search domains of ClusterFirst pods, pods' FQDNs",
  },
  {
    name: 'resolv-conf',
    key: 'resolvConf',
    kind: 'string',
    alias: 'resolvConf',
    allowEmpty: true,
    help: "the node's resolver file, given to Default pods and forwarded to by cluster DNS; '' for none [/etc/resolv.conf]",
  },
  {
    name: 'authentication-token-webhook',
    key: 'authenticationTokenWebhook',
    kind: 'bool',
    help: 'accept bearer tokens the apiserver vouches for (TokenReview) [true with --kubeconfig]',
  },
  {
    name: 'bootstrap-kubeconfig',
    key: 'bootstrapKubeconfig',
    kind: 'string',
    help: 'kubeconfig with a bootstrap token: when --kubeconfig is missing or its client certificate is not valid, a certificate is requested with it and --kubeconfig is written',
  },
  {
    name: 'cert-dir',
    key: 'certDir',
    kind: 'string',
    help: 'where bootstrapped and rotated certificates are kept (kubelet-client-current.pem, kubelet-server-current.pem) [<root-dir>/pki]',
  },
  {
    name: 'rotate-certificates',
    key: 'rotateCertificates',
    kind: 'bool',
    alias: 'rotateCertificates',
    help: 'renew the client certificate at 70-90% of its lifetime through a CertificateSigningRequest [false]',
  },
  {
    name: 'rotate-server-certificates',
    key: 'rotateServerCertificates',
    kind: 'bool',
    alias: 'serverTLSBootstrap',
    help: 'get and renew the HTTPS node API serving certificate from signer kubernetes.io/kubelet-serving (instead of --tls-cert-file) [false]',
  },
  ...EVICTION_FLAGS,
];

export function defaults(): AgentConfig {
  return {
    manifestUrlHeader: {},
    manifestEtcdEndpoints: [],
    fileCheckFrequencyMs: 20_000,
    httpCheckFrequencyMs: 20_000,
    rootDir: '/var/lib/kubenode',
    cniConfDir: '/etc/cni/net.d',
    cniBinDir: ['/opt/cni/bin', '/usr/lib/cni'],
    readOnlyPort: 10255,
    address: '0.0.0.0',
    containerRuntimeEndpoint: 'unix:///var/run/docker.sock',
    podInfraContainerImage: 'kubenode/pause:latest',
    cgroupRoot: '/',
    instance: 'kubenode',
    syncFrequencyMs: 60_000,
    housekeepingIntervalMs: 30_000,
    minimumContainerTtlMs: 0,
    maximumDeadContainersPerContainer: 1,
    maximumDeadContainers: -1,
    maxPods: 110,
    syncConcurrency: 16,
    imagePullTimeoutMs: 120_000,
    port: 10250,
    // KubeletConfiguration v1beta1 (and kubeadm) defaults, not kubelet's bare-CLI ones (anonymous
    // on, AlwaysAllow): upstream's recommended configuration wins.
    anonymousAuth: false,
    rotateCertificates: false,
    rotateServerCertificates: false,
    clusterDns: [],
    clusterDomain: '',
    resolvConf: '/etc/resolv.conf',
    ...evictionDefaults(),
  };
}

/** Settings from a --config YAML file. */
export function readConfigFile(path: string): Partial<AgentConfig> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(`--config ${path}: ${errorMessage(e)}`);
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (e) {
    throw new ConfigError(`--config ${path}: not valid YAML: ${errorMessage(e).split('\n')[0]}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc))
    throw new ConfigError(`--config ${path}: expected a mapping of settings`);
  const out: Partial<Record<keyof AgentConfig, unknown>> = {};
  for (const [k, v] of Object.entries(flattenAuth(doc as Record<string, unknown>, path))) {
    if (k === 'kind' || k === 'apiVersion') continue;
    const flag = FLAGS.find(
      (f) => f.name !== 'config' && (f.key === k || f.alias === k || f.name === k || f.key === `${k}Ms`),
    );
    if (!flag) throw new ConfigError(`--config ${path}: unknown setting ${JSON.stringify(k)}`);
    convert(flag, v, `--config ${path}: ${k}`, out);
  }
  return out as Partial<AgentConfig>;
}

export function usage(): string {
  const lines = [
    'Usage: kubenode-agent [flags]',
    '',
    'A kubelet-like node agent running pods on Docker.',
    '',
    'Flags:',
  ];
  for (const f of FLAGS) lines.push(`  --${f.name.padEnd(40)} ${f.help}`);
  lines.push(`  --${'help'.padEnd(40)} print this help`);
  return lines.join('\n');
}

/** argv (without node and script) -> settings; --config is read first and flags override it. */
export function parseArgs(argv: string[]): AgentConfig | 'help' {
  const fromFlags: Partial<Record<keyof AgentConfig, unknown>> = {};
  let configFile: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--help' || arg === '-h') return 'help';
    const m = /^--?([a-z0-9-]+)(?:=(.*))?$/s.exec(arg);
    if (!m) throw new ConfigError(`unexpected argument ${JSON.stringify(arg)} (flags look like --name=value)`);
    const flag = FLAGS.find((f) => f.name === m[1]);
    if (!flag) throw new ConfigError(`unknown flag --${m[1]} (see --help)`);
    let value = m[2];
    // A boolean flag alone means true (--anonymous-auth), as Go's flag package reads it.
    if (value === undefined && flag.kind === 'bool') value = 'true';
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new ConfigError(`flag --${flag.name} needs a value`);
    }
    if (flag.name === 'config') {
      configFile = value;
      continue;
    }
    convert(flag, value, `--${flag.name}`, fromFlags);
  }
  const chosen = { ...(configFile ? readConfigFile(configFile) : {}), ...(fromFlags as Partial<AgentConfig>) };
  const cfg: AgentConfig = { ...defaults(), ...chosen };
  // kubelet's read-only port is off by default (KubeletConfiguration v1beta1, kubeadm): on a node
  // of a cluster it would show every pod's spec and status to anyone who can reach the node. A
  // standalone agent keeps 10255, since /pods there is the only way to read pod status and
  // nothing but loopback reaches it in our setups (the tests, the README's examples); the
  // emulated cluster asks for it explicitly (scripts/cluster.sh).
  if (chosen.readOnlyPort === undefined && cfg.kubeconfig) cfg.readOnlyPort = 0;
  validateConfig(cfg);
  return cfg;
}

export function validateConfig(cfg: AgentConfig): void {
  if (cfg.readOnlyPort < 0 || cfg.readOnlyPort > 65535)
    throw new ConfigError(`--read-only-port ${cfg.readOnlyPort}: must be between 0 and 65535`);
  if (!cfg.rootDir.startsWith('/')) throw new ConfigError(`--root-dir ${cfg.rootDir}: must be an absolute path`);
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(cfg.instance))
    throw new ConfigError(`--instance ${cfg.instance}: must be a valid label value`);
  if (cfg.manifestUrl) {
    try {
      new URL(cfg.manifestUrl);
    } catch {
      throw new ConfigError(`--manifest-url ${cfg.manifestUrl}: not a URL`);
    }
  }
  const etcd = etcdSourceProblem(cfg);
  if (etcd) throw new ConfigError(etcd);
  if (cfg.fileCheckFrequencyMs <= 0 || cfg.httpCheckFrequencyMs <= 0 || cfg.syncFrequencyMs <= 0)
    throw new ConfigError('check and sync frequencies must be positive');
  if (cfg.syncConcurrency < 1) throw new ConfigError(`--sync-concurrency ${cfg.syncConcurrency}: must be at least 1`);
  if (cfg.port < 0 || cfg.port > 65535) throw new ConfigError(`--port ${cfg.port}: must be between 0 and 65535`);
  if (!!cfg.tlsCertFile !== !!cfg.tlsPrivateKeyFile)
    throw new ConfigError(`--tls-cert-file and --tls-private-key-file: give both or neither`);
  if (
    cfg.authorizationMode !== undefined &&
    cfg.authorizationMode !== 'Webhook' &&
    cfg.authorizationMode !== 'AlwaysAllow'
  ) {
    throw new ConfigError(`--authorization-mode ${cfg.authorizationMode}: expected Webhook or AlwaysAllow`);
  }
  // Webhook asks the apiserver, so it needs --kubeconfig; it is the default when there is one
  // (KubeletConfiguration's default), AlwaysAllow (any authenticated client) otherwise.
  if (cfg.authorizationMode === 'Webhook' && !cfg.kubeconfig)
    throw new ConfigError(
      '--authorization-mode Webhook needs --kubeconfig (the apiserver answers the SubjectAccessReviews)',
    );
  if (cfg.authenticationTokenWebhook && !cfg.kubeconfig)
    throw new ConfigError('--authentication-token-webhook needs --kubeconfig (the apiserver answers the TokenReviews)');
  for (const ip of cfg.clusterDns)
    if (!isIP(ip)) throw new ConfigError(`--cluster-dns ${cfg.clusterDns.join(',')}: "${ip}" is not an IP address`);
  // kubelet needs --kubeconfig as the place to write what it bootstraps, and the apiserver for the rest.
  if (cfg.bootstrapKubeconfig && !cfg.kubeconfig)
    throw new ConfigError('--bootstrap-kubeconfig needs --kubeconfig (where the bootstrapped credentials are written)');
  if (cfg.rotateCertificates && !cfg.kubeconfig) throw new ConfigError('--rotate-certificates needs --kubeconfig');
  if (cfg.rotateServerCertificates && !cfg.kubeconfig)
    throw new ConfigError(
      '--rotate-server-certificates needs --kubeconfig (the serving certificate is requested from the apiserver)',
    );
  const eviction = evictionConfigErrors(cfg);
  if (eviction.length) throw new ConfigError(eviction.join('; '));
  cfg.certDir ??= join(cfg.rootDir, 'pki');
  cfg.cniCacheDir ??= join(cfg.rootDir, 'cni-cache');
}

/** "[host:]port" -> host and port (host defaults to loopback). */
export function parseHostPort(s: string, flag: string): { host: string; port: number } {
  const m = /^(?:\[?([^\]]*?)\]?:)?(\d+)$/.exec(s.trim());
  if (!m) throw new ConfigError(`${flag} ${s}: expected [host:]port`);
  const port = Number(m[2]);
  if (port > 65535) throw new ConfigError(`${flag} ${s}: port out of range`);
  return { host: m[1] || '127.0.0.1', port };
}
