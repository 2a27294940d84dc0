// The settings of the etcd manifest source (agent/sources/etcd.ts), kept beside config.ts so that
// the flag table there stays one line per source: the same flags in --config under these keys.

export interface EtcdSourceConfig {
  manifestEtcdEndpoints: string[];
  /** Unset: /kubenode/nodes/<node name>/pods/ (the node name is known only in the agent). */
  manifestEtcdPrefix?: string;
  manifestEtcdCafile?: string;
  manifestEtcdCertfile?: string;
  manifestEtcdKeyfile?: string;
}

// `as const`, as EVICTION_FLAGS: config.ts checks the entries against its Flag type where it
// lists them, so this file needs nothing from config.ts.
export const ETCD_FLAGS = [
  {
    name: 'manifest-etcd-endpoints',
    key: 'manifestEtcdEndpoints',
    kind: 'list',
    help: 'comma-separated etcd URLs (http:// or https://): each key under --manifest-etcd-prefix holds one Pod, watched',
  },
  {
    name: 'manifest-etcd-prefix',
    key: 'manifestEtcdPrefix',
    kind: 'string',
    help: "etcd key prefix of this node's pods [/kubenode/nodes/<node name>/pods/]",
  },
  {
    name: 'manifest-etcd-cafile',
    key: 'manifestEtcdCafile',
    kind: 'string',
    help: "CA bundle (PEM) etcd's serving certificate is verified against [the system's]",
  },
  {
    name: 'manifest-etcd-certfile',
    key: 'manifestEtcdCertfile',
    kind: 'string',
    help: 'client certificate (PEM) for etcd',
  },
  {
    name: 'manifest-etcd-keyfile',
    key: 'manifestEtcdKeyfile',
    kind: 'string',
    help: 'private key (PEM) of --manifest-etcd-certfile',
  },
] as const;

/** What is wrong with the etcd source's settings, naming the flag, or undefined. */
export function etcdSourceProblem(cfg: EtcdSourceConfig): string | undefined {
  const tls = cfg.manifestEtcdCafile || cfg.manifestEtcdCertfile || cfg.manifestEtcdKeyfile;
  if (!cfg.manifestEtcdEndpoints.length)
    return cfg.manifestEtcdPrefix || tls
      ? '--manifest-etcd-prefix and --manifest-etcd-*file need --manifest-etcd-endpoints'
      : undefined;
  for (const e of cfg.manifestEtcdEndpoints) {
    let u: URL;
    try {
      u = new URL(e);
    } catch {
      return `--manifest-etcd-endpoints ${e}: not a URL (expected http://host:port or https://host:port)`;
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:')
      return `--manifest-etcd-endpoints ${e}: expected http:// or https://, got ${u.protocol}`;
    if (tls && u.protocol === 'http:')
      return `--manifest-etcd-endpoints ${e}: TLS files are given, so the endpoint must be https://`;
  }
  if (!!cfg.manifestEtcdCertfile !== !!cfg.manifestEtcdKeyfile)
    return '--manifest-etcd-certfile and --manifest-etcd-keyfile: give both or neither';
  return undefined;
}
