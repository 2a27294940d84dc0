// Token discovery, as `kubeadm join --discovery-token` does it (cmd/kubeadm/app/discovery/token):
// a node that knows only the apiserver's address and a bootstrap token reads
// kube-public/cluster-info anonymously (the CA is not known yet, so TLS is not verified on this
// first read), checks the bootstrapsigner's detached JWS over the kubeconfig in it with the
// token's secret, checks the CA against the pinned hash when one is given, then reads
// cluster-info again over TLS verified with that CA. The result is a bootstrap kubeconfig.
import { request } from 'node:https';
import { parse as parseYaml, stringify } from 'yaml';
import { caCertHash, parseCaCertHash } from './ca-hash.js';
import { verifyDetached, JwsError } from './jws.js';
import { errorMessage } from '../../lib/errors.js';

export class DiscoveryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DiscoveryError';
  }
}

export interface BootstrapToken {
  id: string;
  secret: string;
}

/** "abcdef.0123456789abcdef" (kubeadm's token format) -> id and secret. */
export function parseBootstrapToken(s: string): BootstrapToken {
  const m = /^([a-z0-9]{6})\.([a-z0-9]{16})$/.exec(s.trim());
  if (!m)
    throw new DiscoveryError(
      'bootstrap token: expected "[a-z0-9]{6}.[a-z0-9]{16}" (as control-plane.sh token create prints it)',
    );
  return { id: m[1]!, secret: m[2]! };
}

export interface ClusterInfo {
  /** The kubeconfig text the JWS signs. */
  kubeconfig: string;
  /** jws-kubeconfig-<token-id> values by token id. */
  signatures: Record<string, string>;
}

/** The CA bundle (PEM) and server of cluster-info's kubeconfig, after checking its signature and pin. */
export function verifyClusterInfo(
  info: ClusterInfo,
  token: BootstrapToken,
  caHash?: string,
): { caPem: string; server: string } {
  const jws = info.signatures[token.id];
  // The bootstrapsigner adds the signature a moment after the token is created: the caller retries.
  if (!jws)
    throw new DiscoveryError(
      `cluster-info has no signature for token id "${token.id}" (jws-kubeconfig-${token.id}) yet: the token is unknown, expired, not usable for signing, or the controller-manager's bootstrapsigner has not signed it yet`,
    );
  try {
    verifyDetached(jws, info.kubeconfig, token.id, token.secret);
  } catch (e) {
    if (e instanceof JwsError)
      throw new DiscoveryError(`cluster-info signature jws-kubeconfig-${token.id}: ${e.message}`);
    throw e;
  }
  // Read as plain YAML: kubeadm's cluster-info names its cluster "", which client-node's
  // KubeConfig loader refuses.
  let doc: { clusters?: { cluster?: { server?: string; 'certificate-authority-data'?: string } }[] };
  try {
    doc = parseYaml(info.kubeconfig) as typeof doc;
  } catch (e) {
    throw new DiscoveryError(`cluster-info kubeconfig: not YAML: ${errorMessage(e)}`);
  }
  const c = doc?.clusters?.[0]?.cluster;
  if (!c?.['certificate-authority-data'])
    throw new DiscoveryError('cluster-info kubeconfig: the first cluster has no certificate-authority-data');
  const cluster = { caData: c['certificate-authority-data'], server: c.server ?? '' };
  const caPem = Buffer.from(cluster.caData, 'base64').toString('utf8');
  if (caHash) {
    const want = parseCaCertHash(caHash);
    const certs = caPem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
    const got = certs.map((c) => caCertHash(c));
    if (!got.includes(want))
      throw new DiscoveryError(
        `the cluster CA does not match the pinned hash: KUBENODE_CA_CERT_HASH is ${want}, cluster-info's CA is ${got.join(', ') || 'none'}; refusing to join (wrong hash, or not the cluster you meant)`,
      );
  }
  return { caPem, server: cluster.server };
}

/** GET cluster-info with no credentials; `ca` unset: the server is not verified (first read). */
export function fetchClusterInfo(apiserver: string, ca?: string, timeoutMs = 10_000): Promise<ClusterInfo> {
  const url = new URL('/api/v1/namespaces/kube-public/configmaps/cluster-info', apiserver);
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: 'GET',
        headers: { accept: 'application/json' },
        ...(ca ? { ca } : { rejectUnauthorized: false }),
        timeout: timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const body = Buffer.concat(chunks).toString('utf8');
          if (res.statusCode !== 200)
            return reject(new DiscoveryError(`GET ${url.href}: HTTP ${res.statusCode}: ${body.slice(0, 300)}`));
          try {
            const cm = JSON.parse(body) as { data?: Record<string, string> };
            const data = cm.data ?? {};
            if (!data.kubeconfig) return reject(new DiscoveryError('cluster-info has no "kubeconfig" key'));
            const signatures: Record<string, string> = {};
            for (const [k, v] of Object.entries(data))
              if (k.startsWith('jws-kubeconfig-')) signatures[k.slice('jws-kubeconfig-'.length)] = v;
            resolve({ kubeconfig: data.kubeconfig, signatures });
          } catch (e) {
            reject(new DiscoveryError(`GET ${url.href}: not a ConfigMap: ${errorMessage(e)}`));
          }
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', (e) => reject(new DiscoveryError(`GET ${url.href}: ${e.message}`)));
    req.end();
  });
}

/**
 * The bootstrap kubeconfig: the apiserver address the node was given (it has just proven
 * reachable), the discovered CA, and the token as bearer credentials.
 */
export function bootstrapKubeconfigYaml(apiserver: string, caPem: string, token: BootstrapToken): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'kubernetes',
        cluster: { server: apiserver, 'certificate-authority-data': Buffer.from(caPem).toString('base64') },
      },
    ],
    users: [{ name: `tls-bootstrap-token-user`, user: { token: `${token.id}.${token.secret}` } }],
    contexts: [
      {
        name: 'tls-bootstrap-token-user@kubernetes',
        context: { cluster: 'kubernetes', user: 'tls-bootstrap-token-user' },
      },
    ],
    'current-context': 'tls-bootstrap-token-user@kubernetes',
  });
}

export interface DiscoverOptions {
  apiserver: string;
  token: BootstrapToken;
  caHash?: string;
  timeoutMs: number;
  log: (msg: string) => void;
}

/** Discovery with retries until the signature appears (or a definite refusal: a pin mismatch). */
export async function discover(o: DiscoverOptions): Promise<{ caPem: string }> {
  const deadline = Date.now() + o.timeoutMs;
  let last = '';
  for (;;) {
    try {
      const first = await fetchClusterInfo(o.apiserver);
      const { caPem } = verifyClusterInfo(first, o.token, o.caHash);
      if (!o.caHash)
        o.log(
          'warning: no CA certificate hash given (KUBENODE_CA_CERT_HASH): the CA is trusted on the token signature alone',
        );
      // Again over TLS verified with the CA just learnt: the apiserver holds that CA's certificate.
      const second = await fetchClusterInfo(o.apiserver, caPem);
      if (second.kubeconfig !== first.kubeconfig)
        throw new DiscoveryError('cluster-info changed between the unverified and the verified read');
      return { caPem };
    } catch (e) {
      const msg = errorMessage(e);
      // A pin mismatch or a bad signature does not get better by waiting: stop at once.
      if (/does not match the pinned hash|signature does not match|algorithm is|key id is/.test(msg)) throw e;
      if (Date.now() > deadline)
        throw new DiscoveryError(
          `cluster-info discovery at ${o.apiserver} did not succeed within ${Math.round(o.timeoutMs / 1000)}s: ${msg}`,
        );
      if (msg !== last) o.log(`discovery: ${msg}; retrying`);
      last = msg;
      await new Promise((r) => setTimeout(r, 2000));
    }
  }
}
