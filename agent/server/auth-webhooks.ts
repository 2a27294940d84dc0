// The apiserver decides for the node API, as it does for kubelet's (--authorization-mode Webhook,
// --authentication-token-webhook): a SubjectAccessReview per (user, verb, subresource), cached
// (auth-attributes.ts DecisionCache), and a TokenReview per bearer token, cached 2 minutes as
// kubelet's --authentication-token-webhook-cache-ttl. Both are asked with the node's own
// credentials; the Node authorizer lets every node create these reviews.
import { AuthenticationV1Api, AuthorizationV1Api } from '@kubernetes/client-node';
import { apiClients, apiErrorMessage, requestOptions } from '../kube/client.js';
import { DecisionCache, type ResourceAttributes, type UserInfo } from './auth-attributes.js';

export interface Authorizer {
  /** true: allowed; false: denied; throws when no decision could be had (kubelet answers 500). */
  authorize(user: UserInfo, a: ResourceAttributes): Promise<boolean>;
}

export type TokenAuthenticator = (
  token: string,
) => Promise<{ authenticated: true; user: UserInfo } | { authenticated: false; error: string }>;

const TIMEOUT_MS = 10_000;

export function webhookAuthorizer(kubeconfig: string, now: () => number = Date.now): Authorizer {
  const api = apiClients(kubeconfig).kubeConfig.makeApiClient(AuthorizationV1Api);
  const cache = new DecisionCache();
  return {
    async authorize(user, a) {
      const key = DecisionCache.key(user, a);
      const hit = cache.get(key, now());
      if (hit !== undefined) return hit;
      let allowed: boolean;
      try {
        const review = await api.createSubjectAccessReview(
          {
            body: {
              apiVersion: 'authorization.k8s.io/v1',
              kind: 'SubjectAccessReview',
              spec: { user: user.name, groups: user.groups, resourceAttributes: { ...a } },
            },
          },
          requestOptions({ timeoutMs: TIMEOUT_MS }),
        );
        allowed = review.status?.allowed === true;
      } catch (e) {
        throw new Error(`SubjectAccessReview failed: ${apiErrorMessage(e)}`);
      }
      cache.set(key, allowed, now());
      return allowed;
    },
  };
}

export function webhookTokenAuthenticator(kubeconfig: string, now: () => number = Date.now): TokenAuthenticator {
  const api = apiClients(kubeconfig).kubeConfig.makeApiClient(AuthenticationV1Api);
  const cache = new Map<string, { until: number; result: Awaited<ReturnType<TokenAuthenticator>> }>();
  return async (token) => {
    const hit = cache.get(token);
    if (hit && hit.until > now()) return hit.result;
    let result: Awaited<ReturnType<TokenAuthenticator>>;
    try {
      const review = await api.createTokenReview(
        { body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } },
        requestOptions({ timeoutMs: TIMEOUT_MS }),
      );
      const u = review.status?.user;
      result =
        review.status?.authenticated && u?.username
          ? { authenticated: true, user: { name: u.username, groups: u.groups ?? [] } }
          : { authenticated: false, error: review.status?.error || 'token not authenticated' };
    } catch (e) {
      // Not cached: the apiserver being away says nothing about the token.
      return { authenticated: false, error: `TokenReview failed: ${apiErrorMessage(e)}` };
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(token, { until: now() + 120_000, result });
    return result;
  };
}
