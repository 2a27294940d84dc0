// What every pod source (file, URL, manifest server, etcd, the apiserver) hands the merger.
// A source either sends complete snapshots of its pods ("this is all I have now") or incremental
// add/update/remove operations, always for its own source name only, as kubelet's config sources do.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/config/config.go
import type { V1Pod } from '@kubernetes/client-node';

// kubernetes.io/config.source values: kubelet's "file", "http" and "api"; "etcd" is the name early
// kubelet gave its etcd source (kubelet.EtcdSource); "server" is kubenode's manifest server.
export type SourceName = 'file' | 'http' | 'server' | 'etcd' | 'api';

/** A manifest the agent refused: where it came from, which object, which field, and why. */
export interface ManifestError {
  source: SourceName;
  /** The file path, URL, etcd key, or "POST /pods" it came from. */
  origin: string;
  /** "namespace/name" when known, else "document 2". */
  object: string;
  field: string;
  reason: string;
  /** When the error was first seen (ISO time). */
  time?: string;
}

export type SourceUpdate =
  | { source: SourceName; op: 'snapshot'; pods: V1Pod[]; errors: ManifestError[] }
  | { source: SourceName; op: 'add' | 'update' | 'remove'; pods: V1Pod[]; errors?: ManifestError[] };

export interface PodSource {
  readonly name: SourceName;
  /** Begins delivering updates; the first snapshot (or first op) marks the source as seen. */
  start(emit: (u: SourceUpdate) => void): Promise<void>;
  stop(): Promise<void>;
  /** Why the source cannot be read now (an unreachable URL or etcd), while it keeps the last good pods. */
  readonly fetchError?: ManifestError;
}

/** Annotations kubelet puts on pods from non-apiserver sources. */
export const ANNOTATIONS = {
  configSource: 'kubernetes.io/config.source',
  configHash: 'kubernetes.io/config.hash',
  configSeen: 'kubernetes.io/config.seen',
  /** The file or URL the manifest came from, so a person can find it again. */
  configOrigin: 'kubenode.io/config.origin',
} as const;
