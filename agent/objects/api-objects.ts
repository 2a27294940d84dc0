// PodObjects from the apiserver, with the node's own credentials (system:node:NAME). The Node
// authorizer lets a node GET only the ConfigMaps and Secrets referenced by pods bound to it, and
// create tokens only for their service accounts, bound to those pods: every request here is one
// of those. ConfigMaps and Secrets go through a TTL cache (ttl-cache.ts: kubelet's "Cache"
// strategy, no watches); tokens are kept until token-refresh.ts says they are due.
import type { V1ConfigMap, V1Pod, V1Secret } from '@kubernetes/client-node';
import type { Logger } from '../../lib/log.js';
import { apiClients, apiErrorMessage, isNotFound, requestOptions } from '../kube/client.js';
import { TtlCache } from './ttl-cache.js';
import { issuedAt, TOKEN_REFRESH_MAX_JITTER_MS, tokenNeedsRefresh, tokenValid } from './token-refresh.js';
import type { PodObjects, ServiceAccountToken, TokenRequestOptions } from './types.js';
import { errorMessage } from '../../lib/errors.js';

const REQUEST_TIMEOUT_MS = 10_000;

export interface ApiPodObjectsOptions {
  kubeconfig: string;
  /** How long a fetched ConfigMap or Secret is served from the cache (kubelet's default: 1 minute). */
  ttlMs: number;
  logger: Logger;
}

export class ApiPodObjects implements PodObjects {
  private readonly core;
  private readonly configMaps: TtlCache<V1ConfigMap | null>;
  private readonly secrets: TtlCache<V1Secret | null>;
  private readonly tokens = new Map<string, { podUid: string; token: ServiceAccountToken }>();
  private readonly inflightTokens = new Map<string, Promise<ServiceAccountToken>>();
  private readonly opts = requestOptions({ timeoutMs: REQUEST_TIMEOUT_MS });

  constructor(private readonly o: ApiPodObjectsOptions) {
    this.core = apiClients(o.kubeconfig).core;
    const immutable = (v: V1ConfigMap | V1Secret | null) => v?.immutable === true;
    this.configMaps = new TtlCache(o.ttlMs, Date.now, immutable);
    this.secrets = new TtlCache(o.ttlMs, Date.now, immutable);
  }

  configMap(pod: V1Pod, name: string): Promise<V1ConfigMap | undefined> {
    const { namespace, uid } = pod.metadata!;
    return this.configMaps
      .get(`${namespace}/${name}`, uid!, () =>
        this.read('configmap', namespace!, name, () =>
          this.core.readNamespacedConfigMap({ namespace: namespace!, name }, this.opts),
        ),
      )
      .then((v) => v ?? undefined);
  }

  secret(pod: V1Pod, name: string): Promise<V1Secret | undefined> {
    const { namespace, uid } = pod.metadata!;
    return this.secrets
      .get(`${namespace}/${name}`, uid!, () =>
        this.read('secret', namespace!, name, () =>
          this.core.readNamespacedSecret({ namespace: namespace!, name }, this.opts),
        ),
      )
      .then((v) => v ?? undefined);
  }

  /** null for not found (the cache does not keep it). */
  private async read<T>(kind: string, namespace: string, name: string, get: () => Promise<T>): Promise<T | null> {
    try {
      return await get();
    } catch (err) {
      if (isNotFound(err)) return null;
      throw new Error(`get ${kind} ${namespace}/${name}: ${apiErrorMessage(err)}`);
    }
  }

  async serviceAccountToken(
    pod: V1Pod,
    serviceAccount: string,
    req: TokenRequestOptions,
  ): Promise<ServiceAccountToken> {
    const md = pod.metadata!;
    const key = `${md.namespace}/${serviceAccount}/${req.audience ?? ''}/${req.expirationSeconds}/${md.uid}`;
    const cached = this.tokens.get(key)?.token;
    const now = new Date();
    if (cached && !tokenNeedsRefresh(cached, now, Math.random() * TOKEN_REFRESH_MAX_JITTER_MS)) return cached;
    let p = this.inflightTokens.get(key);
    if (!p) {
      p = this.requestToken(pod, serviceAccount, req).finally(() => this.inflightTokens.delete(key));
      this.inflightTokens.set(key, p);
    }
    try {
      const token = await p;
      this.tokens.set(key, { podUid: md.uid!, token });
      return token;
    } catch (err) {
      // As kubelet: a token due for refresh but not expired keeps being served when the refresh fails.
      if (cached && tokenValid(cached, now)) {
        this.o.logger.warn('service account token refresh failed; keeping the current token until it expires', {
          pod: `${md.namespace}/${md.name}`,
          serviceAccount,
          error: errorMessage(err),
        });
        return cached;
      }
      throw err;
    }
  }

  private async requestToken(
    pod: V1Pod,
    serviceAccount: string,
    req: TokenRequestOptions,
  ): Promise<ServiceAccountToken> {
    const md = pod.metadata!;
    const requestedAt = new Date();
    try {
      const tr = await this.core.createNamespacedServiceAccountToken(
        {
          namespace: md.namespace!,
          name: serviceAccount,
          body: {
            apiVersion: 'authentication.k8s.io/v1',
            kind: 'TokenRequest',
            spec: {
              audiences: req.audience ? [req.audience] : [],
              expirationSeconds: req.expirationSeconds,
              // Bound to the pod: the token stops working when the pod is deleted.
              boundObjectRef: { apiVersion: 'v1', kind: 'Pod', name: md.name!, uid: md.uid! },
            },
          },
        },
        this.opts,
      );
      const token = tr.status?.token;
      const exp = tr.status?.expirationTimestamp;
      if (!token || !exp) throw new Error('the TokenRequest answer has no token');
      const expiresAt = new Date(exp);
      return { token, expiresAt, issuedAt: issuedAt(expiresAt, tr.spec?.expirationSeconds, requestedAt) };
    } catch (err) {
      throw new Error(
        `request token for serviceaccount ${md.namespace}/${serviceAccount}: ${err instanceof Error && err.message.startsWith('the TokenRequest') ? err.message : apiErrorMessage(err)}`,
      );
    }
  }

  forgetPod(uid: string): void {
    this.configMaps.forgetPod(uid);
    this.secrets.forgetPod(uid);
    for (const [k, v] of this.tokens) if (v.podUid === uid) this.tokens.delete(k);
  }
}
