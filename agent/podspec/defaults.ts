// API defaulting for pods that do not come through an apiserver (static manifests, the manifest
// URL, the manifest server): the same defaults kube-apiserver would have filled in, so the rest of
// the agent reads one shape whatever the source.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/apis/core/v1/defaults.go
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { clone } from './hash.js';

/** Always for ":latest" or untagged images (no digest), IfNotPresent otherwise, as the API does. */
export function defaultImagePullPolicy(image: string): 'Always' | 'IfNotPresent' {
  if (image.includes('@')) return 'IfNotPresent';
  const lastSegment = image.slice(image.lastIndexOf('/') + 1);
  const tag = lastSegment.includes(':') ? lastSegment.slice(lastSegment.indexOf(':') + 1) : '';
  return tag === '' || tag === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(p: V1Probe | undefined): void {
  if (!p) return;
  p.timeoutSeconds ??= 1;
  p.periodSeconds ??= 10;
  p.successThreshold ??= 1;
  p.failureThreshold ??= 3;
  if (p.httpGet) p.httpGet.scheme ??= 'HTTP';
  if (p.httpGet) p.httpGet.path ??= '/';
}

function defaultContainer(c: V1Container): void {
  if (typeof c.image === 'string' && c.image) c.imagePullPolicy ??= defaultImagePullPolicy(c.image);
  c.terminationMessagePath ??= '/dev/termination-log';
  c.terminationMessagePolicy ??= 'File';
  for (const p of c.ports ?? []) p.protocol ??= 'TCP';
  for (const e of c.env ?? []) if (e.valueFrom?.fieldRef) e.valueFrom.fieldRef.apiVersion ??= 'v1';
  // A limit without a request means the request equals the limit (this is what makes a pod with
  // only limits Guaranteed).
  const limits = c.resources?.limits;
  if (limits) {
    c.resources!.requests ??= {};
    for (const [k, v] of Object.entries(limits)) c.resources!.requests[k] ??= v;
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
}

/** A defaulted copy; the input is not changed. */
export function applyPodDefaults(input: V1Pod): V1Pod {
  const pod = clone(input);
  pod.apiVersion ??= 'v1';
  pod.kind ??= 'Pod';
  pod.metadata ??= {};
  if (!pod.metadata.namespace) pod.metadata.namespace = 'default';
  pod.spec ??= { containers: [] };
  const s = pod.spec;
  s.restartPolicy ??= 'Always';
  s.terminationGracePeriodSeconds ??= 30;
  s.dnsPolicy ??= 'ClusterFirst';
  s.schedulerName ??= 'default-scheduler';
  s.securityContext ??= {};
  for (const c of s.initContainers ?? []) defaultContainer(c);
  for (const c of s.containers ?? []) defaultContainer(c);
  for (const v of s.volumes ?? []) {
    const sources = Object.keys(v).filter((k) => k !== 'name');
    if (sources.length === 0) v.emptyDir = {};
    if (v.hostPath) v.hostPath.type ??= '';
  }
  return pod;
}
