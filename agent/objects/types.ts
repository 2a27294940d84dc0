// What pods on this node need from the apiserver besides their own spec: ConfigMaps, Secrets,
// service-account tokens, and the Services behind their service environment variables. Types only and two small error classes, so an agent without
// --kubeconfig loads none of @kubernetes/client-node.
import type { V1ConfigMap, V1Pod, V1Secret, V1Service } from '@kubernetes/client-node';

/** A service-account token as TokenRequest returned it. */
export interface ServiceAccountToken {
  token: string;
  /** When the token was issued (expiration minus the lifetime the apiserver granted). */
  issuedAt: Date;
  expiresAt: Date;
}

export interface TokenRequestOptions {
  /** Empty: the apiserver's own audiences (its --api-audiences, by default the issuer). */
  audience?: string;
  expirationSeconds: number;
}

/**
 * The objects a node may read: under the Node authorizer only those referenced by pods bound to
 * it (a GET of anything else is forbidden). `undefined` means the object does not exist; any other
 * failure (apiserver away, forbidden) throws.
 */
export interface PodObjects {
  /** A ConfigMap in the pod's namespace (the pod's UID keys the cache's references). */
  configMap(pod: V1Pod, name: string): Promise<V1ConfigMap | undefined>;
  secret(pod: V1Pod, name: string): Promise<V1Secret | undefined>;
  /** A token for the pod's service account, bound to the pod (its name and UID). */
  serviceAccountToken(pod: V1Pod, serviceAccount: string, opts: TokenRequestOptions): Promise<ServiceAccountToken>;
  /** The pod's worker is gone: its references and tokens are dropped. */
  forgetPod(uid: string): void;
}

/** The Services of the cluster, from a cache kept by list+watch (kubelet's serviceLister). */
export interface ServiceLister {
  /** The first list succeeded. */
  hasSynced(): boolean;
  list(): V1Service[];
}

/** The agent runs without --kubeconfig: nothing can be fetched. */
export class NotConnectedError extends Error {
  constructor(what: string) {
    super(`${what}: the agent is not connected to an apiserver (no --kubeconfig)`);
    this.name = 'NotConnectedError';
  }
}

/** kubelet's not-found wording for objects its managers fetch: `configmap "x" not found`. */
export function notFoundMessage(kind: 'configmap' | 'secret', name: string): string {
  return `${kind} "${name}" not found`;
}
