// The Node object's metadata and spec as the agent registers it (pure).
import type { V1Node, V1Taint } from '@kubernetes/client-node';

/**
 * The labels kubelet always sets on its Node: the stable hostname/os/arch labels and the beta
 * os/arch ones kubelet still applies for old nodeSelectors. All of them are on the list the
 * NodeRestriction admission plugin lets a node set on itself.
 */
export function defaultLabels(hostname: string, os: string, arch: string): Record<string, string> {
  return {
    'kubernetes.io/hostname': hostname,
    'kubernetes.io/os': os,
    'kubernetes.io/arch': arch,
    'beta.kubernetes.io/os': os,
    'beta.kubernetes.io/arch': arch,
  };
}

/**
 * kubelet's default annotation: volumes on this node are attached and detached by the
 * controller-manager's attach/detach controller, not by the node itself.
 */
export const DEFAULT_ANNOTATIONS: Record<string, string> = {
  'volumes.kubernetes.io/controller-managed-attach-detach': 'true',
};

export function initialNode(o: {
  nodeName: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  taints: V1Taint[];
}): V1Node {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: o.nodeName, labels: { ...o.labels }, annotations: { ...o.annotations } },
    // Taints are set here, at creation, and never again: as with kubelet's --register-with-taints,
    // later taint changes are the cluster admin's (NodeRestriction forbids a node changing them).
    spec: o.taints.length ? { taints: o.taints.map((t) => ({ ...t })) } : {},
  };
}

/**
 * The entries of `desired` that `existing` lacks or holds with another value, or undefined when
 * there are none. Entries only `existing` has are left alone: someone else put them there.
 */
export function missingEntries(
  existing: Record<string, string> | undefined,
  desired: Record<string, string>,
): Record<string, string> | undefined {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(desired)) if (existing?.[k] !== v) out[k] = v;
  return Object.keys(out).length ? out : undefined;
}
