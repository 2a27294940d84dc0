// The node's Lease in kube-node-lease: the cheap heartbeat the node controller watches (a Lease
// is a few hundred bytes, a Node status many kilobytes). Shaped like kubelet's nodelease
// controller: the Lease is named after the node, held by it, lasts 40 s, is renewed every 10 s,
// and is owned by the Node so it is garbage collected with it.
// https://kubernetes.io/docs/concepts/architecture/leases/#node-heart-beats
import { V1MicroTime, type CoordinationV1Api, type V1Lease, type V1OwnerReference } from '@kubernetes/client-node';
import { isNotFound, requestOptions } from '../kube/client.js';

export const LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_SECONDS = 40;

export interface NodeRef {
  name: string;
  uid: string;
}

export function nodeOwnerReference(node: NodeRef): V1OwnerReference {
  return { apiVersion: 'v1', kind: 'Node', name: node.name, uid: node.uid };
}

/** The Lease renewed at `now`: a new one when `current` is undefined (pure). */
export function renewedLease(current: V1Lease | undefined, node: NodeRef, now: Date): V1Lease {
  const owners = current?.metadata?.ownerReferences ?? [];
  // A Node deleted and registered again has a new uid: point the Lease at the Node that exists.
  const ownedByNode = owners.some((o) => o.kind === 'Node' && o.uid === node.uid);
  return {
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: {
      ...current?.metadata,
      name: node.name,
      namespace: LEASE_NAMESPACE,
      ownerReferences: ownedByNode ? owners : [...owners.filter((o) => o.kind !== 'Node'), nodeOwnerReference(node)],
    },
    spec: {
      ...current?.spec,
      holderIdentity: node.name,
      leaseDurationSeconds: LEASE_DURATION_SECONDS,
      // MicroTime: the apiserver wants six fractional digits, which V1MicroTime serialises.
      renewTime: new V1MicroTime(now.getTime()),
    },
  };
}

/**
 * Renews with an update of the Lease last seen (no GET per renewal, as kubelet); after any
 * failure the next renewal reads the Lease again, which also resolves a conflict.
 */
export class NodeLease {
  private latest: V1Lease | undefined;
  constructor(
    private readonly api: CoordinationV1Api,
    private readonly timeoutMs: number,
  ) {}

  async renew(node: NodeRef, now = new Date()): Promise<V1Lease> {
    const opts = requestOptions({ timeoutMs: this.timeoutMs });
    try {
      if (!this.latest) {
        try {
          this.latest = await this.api.readNamespacedLease({ name: node.name, namespace: LEASE_NAMESPACE }, opts);
        } catch (err) {
          if (!isNotFound(err)) throw err;
          this.latest = await this.api.createNamespacedLease(
            { namespace: LEASE_NAMESPACE, body: renewedLease(undefined, node, now) },
            opts,
          );
          return this.latest;
        }
      }
      this.latest = await this.api.replaceNamespacedLease(
        { name: node.name, namespace: LEASE_NAMESPACE, body: renewedLease(this.latest, node, now) },
        opts,
      );
      return this.latest;
    } catch (err) {
      this.latest = undefined;
      throw err;
    }
  }
}
