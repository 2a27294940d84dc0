// Naming and identity of static pods (pods from files, URLs, the manifest server and etcd), as kubelet
// gives them: the name gets "-<node name>" appended so two nodes running the same manifest do not
// collide, and, unless the manifest sets one, the UID is a hash of the manifest's content, the node
// and where it came from, so that a changed manifest is a new pod.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/config/common.go
import type { V1Pod } from '@kubernetes/client-node';
import { createHash } from 'node:crypto';
import { stableStringify } from '../podspec/hash.js';
import { applyPodDefaults } from '../podspec/defaults.js';
import { ANNOTATIONS, type SourceName } from './types.js';

export function staticPodName(name: string, nodeName: string): string {
  return `${name}-${nodeName.toLowerCase()}`;
}

/** 32 hex characters, stable across agent restarts for the same manifest, node and origin. */
export function staticPodUid(raw: unknown, nodeName: string, source: SourceName, origin: string): string {
  const h = createHash('sha256');
  // kubelet hashes the host with a file's path (the same file on two nodes is two pods) and only
  // the URL for a URL. An etcd key is treated as a file: several nodes may share one prefix.
  if (source === 'file' || source === 'etcd') h.update(`host:${nodeName}\n${source}:${origin}\n`);
  else h.update(`${source}:${origin}\n`);
  h.update(stableStringify(raw));
  const hex = h.digest('hex');
  // Formatted like the UUIDs the apiserver gives, so tools that expect one are not surprised.
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/**
 * The pod as the agent will run it: API defaults, node name, static name suffix, UID and the
 * config annotations. `raw` must already be a valid Pod (see validatePod).
 */
export function toStaticPod(raw: V1Pod, nodeName: string, source: SourceName, origin: string): V1Pod {
  const pod = applyPodDefaults(raw);
  const md = pod.metadata!;
  const uid = md.uid || staticPodUid(raw, nodeName, source, origin);
  md.uid = uid;
  md.name = staticPodName(md.name!, nodeName);
  md.annotations = {
    ...md.annotations,
    [ANNOTATIONS.configSource]: source,
    [ANNOTATIONS.configHash]: uid,
    [ANNOTATIONS.configOrigin]: origin,
  };
  pod.spec!.nodeName = nodeName;
  delete pod.status;
  return pod;
}
