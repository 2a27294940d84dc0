// The agent's settings: kubelet's flag names where kubelet has one, kubenode's own otherwise, and
// --config for a YAML file holding the same settings (camelCase keys; kubelet's
// KubeletConfiguration names such as staticPodPath and staticPodURL are accepted too). Flags given
// on the command line win over the file, as in kubelet.
import { readFileSync } from 'node:fs';
import { isIP } from '../../lib/ip.js';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { ETCD_FLAGS, etcdSourceProblem, type EtcdSourceConfig } from './etcd.js';
import { EVICTION_FLAGS, evictionConfigErrors, evictionDefaults, type EvictionConfig } from './eviction-flags.js';
import { ConfigError, convert, flattenAuth, type Kind } from './values.js';
import { CERTIFICATE_FLAGS, NODE_FLAGS, REGISTRATION_FLAGS } from './node-flags.js';
import { POD_DNS_FLAGS, POD_RUNTIME_FLAGS } from './pod-flags.js';
import { MANIFEST_SERVER_FLAGS, POD_SOURCE_FLAGS } from './pod-source-flags.js';
import { READ_ONLY_SERVER_FLAGS, SECURE_SERVER_FLAGS } from './server-flags.js';
import { errorMessage } from '../../lib/errors.js';

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

// Every flag, in --help order. The tables live by topic beside this file (as kubelet groups its
// options); this is the one place that assembles them and checks them against Flag.
export const FLAGS: Flag[] = [
  {
    name: 'config',
    key: 'podManifestPath',
    kind: 'string',
    help: 'YAML file with these settings (flags given on the command line win)',
  },
  ...POD_SOURCE_FLAGS,
  ...NODE_FLAGS,
  ...READ_ONLY_SERVER_FLAGS,
  ...REGISTRATION_FLAGS,
  ...MANIFEST_SERVER_FLAGS,
  ...ETCD_FLAGS,
  ...POD_RUNTIME_FLAGS,
  ...SECURE_SERVER_FLAGS,
  ...POD_DNS_FLAGS,
  ...CERTIFICATE_FLAGS,
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
