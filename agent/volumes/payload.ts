// What an API-data volume holds, decided purely: the files of a configMap, secret, downwardAPI or
// projected volume (path -> bytes and mode) from the objects already fetched. Follows kubelet's
// volume plugins (pkg/volume/configmap, secret, downwardapi, projected): every key as a file, or
// only `items` (key -> path, with its own mode); defaultMode 0644; a missing object or key fails
// the mount unless `optional`.
import type {
  V1ConfigMap,
  V1DownwardAPIVolumeFile,
  V1KeyToPath,
  V1Pod,
  V1ProjectedVolumeSource,
  V1Secret,
  V1Volume,
} from '@kubernetes/client-node';
import { fieldValue, resourceValue } from '../podspec/env.js';
import { notFoundMessage } from '../objects/types.js';
import { fsGroupMode, fsGroupOf, fsUserOf } from './ownership.js';
import { errorMessage } from '../../lib/errors.js';

export interface FileContent {
  data: Buffer;
  mode: number;
  /** The file's owner when not root (a token of a pod whose containers all run as one user). */
  uid?: number;
}

/** Relative path inside the volume -> content. */
export type Payload = Map<string, FileContent>;

/** The reason a volume cannot be set up (the caller names the volume). */
export class ProjectionError extends Error {
  constructor(reason: string) {
    super(reason);
    this.name = 'ProjectionError';
  }
}

export const DEFAULT_MODE = 0o644;

/** The objects a volume needs, fetched beforehand; a token is keyed by the source's index in the projected volume. */
export interface FetchedObjects {
  configMaps: Map<string, V1ConfigMap | undefined>;
  secrets: Map<string, V1Secret | undefined>;
  tokens: Map<number, string>;
}

export interface ObjectRefs {
  configMaps: string[];
  secrets: string[];
  /** Index of each serviceAccountToken source in a projected volume. */
  tokens: { index: number; audience?: string; expirationSeconds?: number }[];
}

/** The API objects a volume refers to (nothing for other volume types). */
export function volumeRefs(v: V1Volume): ObjectRefs {
  const refs: ObjectRefs = { configMaps: [], secrets: [], tokens: [] };
  if (v.configMap) refs.configMaps.push(v.configMap.name ?? '');
  if (v.secret) refs.secrets.push(v.secret.secretName ?? '');
  (v.projected?.sources ?? []).forEach((s, index) => {
    if (s.configMap) refs.configMaps.push(s.configMap.name ?? '');
    if (s.secret) refs.secrets.push(s.secret.name ?? '');
    if (s.serviceAccountToken)
      refs.tokens.push({
        index,
        audience: s.serviceAccountToken.audience || undefined,
        expirationSeconds: s.serviceAccountToken.expirationSeconds,
      });
  });
  return refs;
}

/** The volume types whose contents come from the API (and are refreshed on every pod sync). */
export function isApiDataVolume(v: V1Volume): boolean {
  return Boolean(v.configMap || v.secret || v.downwardAPI || v.projected);
}

/** A ConfigMap's keys as bytes: `data` (UTF-8) and `binaryData` (base64). */
export function configMapData(cm: V1ConfigMap): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) out.set(k, Buffer.from(v, 'base64'));
  return out;
}

/** A Secret's keys as bytes (`data` is base64 on the wire). */
export function secretData(s: V1Secret): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) out.set(k, Buffer.from(v, 'base64'));
  // stringData is write-only in the API, but a static pod's fixture may carry it.
  for (const [k, v] of Object.entries(s.stringData ?? {})) out.set(k, Buffer.from(v, 'utf8'));
  return out;
}

/**
 * Keys of a ConfigMap or Secret as files. `data` undefined: the object does not exist (an empty
 * projection when optional, else an error). With `items`, only those keys, each at its path.
 */
export function projectKeys(o: {
  kind: 'configmap' | 'secret';
  name: string;
  data: Map<string, Buffer> | undefined;
  items?: V1KeyToPath[];
  mode: number;
  optional: boolean;
}): Payload {
  const out: Payload = new Map();
  if (!o.data) {
    if (o.optional) return out;
    throw new ProjectionError(notFoundMessage(o.kind, o.name));
  }
  if (!o.items?.length) {
    for (const [k, data] of o.data) out.set(k, { data, mode: o.mode });
    return out;
  }
  for (const item of o.items) {
    const data = o.data.get(item.key);
    if (data === undefined) {
      if (o.optional) continue;
      throw new ProjectionError(
        o.kind === 'configmap'
          ? `configmap references non-existent config key: ${item.key}`
          : `references non-existent secret key: ${item.key}`,
      );
    }
    out.set(item.path, { data, mode: item.mode ?? o.mode });
  }
  return out;
}

/** `metadata.labels` / `metadata.annotations` as a file: one `key="value"` line each, sorted. */
export function formatMap(m: Record<string, string> | undefined): string {
  return Object.keys(m ?? {})
    .sort()
    .map((k) => `${k}=${JSON.stringify(m![k])}`)
    .join('\n');
}

export interface DownwardContext {
  pod: V1Pod;
  nodeCpuMilli: number;
  nodeMemoryBytes: number;
}

/** downwardAPI items (a volume's or a projected source's). Only metadata fields and resources, as the API allows in volumes. */
export function projectDownwardAPI(
  items: V1DownwardAPIVolumeFile[] | undefined,
  mode: number,
  ctx: DownwardContext,
): Payload {
  const out: Payload = new Map();
  for (const item of items ?? []) {
    let text: string;
    if (item.fieldRef) {
      const path = item.fieldRef.fieldPath;
      if (path === 'metadata.labels') text = formatMap(ctx.pod.metadata?.labels);
      else if (path === 'metadata.annotations') text = formatMap(ctx.pod.metadata?.annotations);
      else if (path.startsWith('metadata.')) {
        try {
          text = fieldValue(path, { pod: ctx.pod, podIPs: [], hostIPs: [] });
        } catch (e) {
          throw new ProjectionError(`downwardAPI ${item.path}: ${errorMessage(e)}`);
        }
      } else
        throw new ProjectionError(
          `downwardAPI ${item.path}: field path ${JSON.stringify(path)} is not supported in volumes (only metadata.* fields)`,
        );
    } else if (item.resourceFieldRef) {
      const ref = item.resourceFieldRef;
      const all = [...(ctx.pod.spec?.containers ?? []), ...(ctx.pod.spec?.initContainers ?? [])];
      const c = all.find((x) => x.name === ref.containerName);
      if (!c)
        throw new ProjectionError(
          `downwardAPI ${item.path}: resourceFieldRef.containerName ${JSON.stringify(ref.containerName ?? '')} names no container of the pod`,
        );
      text = resourceValue(c, ref.resource, ref.divisor as string | number | undefined, ctx);
    } else {
      throw new ProjectionError(`downwardAPI ${item.path}: neither fieldRef nor resourceFieldRef is set`);
    }
    out.set(item.path, { data: Buffer.from(text, 'utf8'), mode: item.mode ?? mode });
  }
  return out;
}

/** The whole payload of an API-data volume. */
/**
 * The files of an API-data volume, with the pod's fsGroup applied to their modes (group read: the
 * writer then compares against what ownership.ts leaves on disk, so an unchanged volume is not
 * rewritten on every sync).
 */
export function volumePayload(v: V1Volume, objects: FetchedObjects, ctx: DownwardContext): Payload {
  const payload = volumeFiles(v, objects, ctx);
  const fsGroup = fsGroupOf(ctx.pod);
  if (fsGroup !== undefined)
    for (const c of payload.values()) c.mode = fsGroupMode(c.mode, { dir: false, readOnly: true });
  return payload;
}

/** The data of a fetched ConfigMap, undefined when it was not found. */
function fetchedConfigMapData(objects: FetchedObjects, name: string): Map<string, Buffer> | undefined {
  const cm = objects.configMaps.get(name);
  return cm ? configMapData(cm) : undefined;
}

/** The data of a fetched Secret, undefined when it was not found. */
function fetchedSecretData(objects: FetchedObjects, name: string): Map<string, Buffer> | undefined {
  const s = objects.secrets.get(name);
  return s ? secretData(s) : undefined;
}

function volumeFiles(v: V1Volume, objects: FetchedObjects, ctx: DownwardContext): Payload {
  if (v.configMap) {
    const s = v.configMap;
    return projectKeys({
      kind: 'configmap',
      name: s.name ?? '',
      data: fetchedConfigMapData(objects, s.name ?? ''),
      items: s.items,
      mode: s.defaultMode ?? DEFAULT_MODE,
      optional: s.optional ?? false,
    });
  }
  if (v.secret) {
    const s = v.secret;
    return projectKeys({
      kind: 'secret',
      name: s.secretName ?? '',
      data: fetchedSecretData(objects, s.secretName ?? ''),
      items: s.items,
      mode: s.defaultMode ?? DEFAULT_MODE,
      optional: s.optional ?? false,
    });
  }
  if (v.downwardAPI) return projectDownwardAPI(v.downwardAPI.items, v.downwardAPI.defaultMode ?? DEFAULT_MODE, ctx);
  if (v.projected) return projectedFiles(v.projected, objects, ctx);
  throw new ProjectionError('not an API-data volume');
}

/** A projected volume: the files of its sources, merged in order (a later source's path wins). */
function projectedFiles(projected: V1ProjectedVolumeSource, objects: FetchedObjects, ctx: DownwardContext): Payload {
  const mode = projected.defaultMode ?? DEFAULT_MODE;
  const out: Payload = new Map();
  (projected.sources ?? []).forEach((src, i) => {
    let part: Payload;
    if (src.configMap)
      part = projectKeys({
        kind: 'configmap',
        name: src.configMap.name ?? '',
        data: fetchedConfigMapData(objects, src.configMap.name ?? ''),
        items: src.configMap.items,
        mode,
        optional: src.configMap.optional ?? false,
      });
    else if (src.secret)
      part = projectKeys({
        kind: 'secret',
        name: src.secret.name ?? '',
        data: fetchedSecretData(objects, src.secret.name ?? ''),
        items: src.secret.items,
        mode,
        optional: src.secret.optional ?? false,
      });
    else if (src.downwardAPI) part = projectDownwardAPI(src.downwardAPI.items, mode, ctx);
    else if (src.serviceAccountToken) {
      const token = objects.tokens.get(i);
      if (token === undefined) throw new ProjectionError(`sources[${i}].serviceAccountToken: no token was fetched`);
      // As kubelet: the token has the volume's mode, but only its owner may read it once the
      // pod has an fsGroup or one user for all its containers (the owner, then).
      const uid = fsUserOf(ctx.pod);
      const owned = uid !== undefined || fsGroupOf(ctx.pod) !== undefined;
      part = new Map([
        [
          src.serviceAccountToken.path,
          { data: Buffer.from(token, 'utf8'), mode: owned ? 0o600 : mode, ...(uid !== undefined ? { uid } : {}) },
        ],
      ]);
    } else {
      const kind = Object.keys(src)[0] ?? 'unknown';
      throw new ProjectionError(
        `sources[${i}]: projected source ${kind} is not supported (configMap, secret, downwardAPI and serviceAccountToken are)`,
      );
    }
    for (const [p, c] of part) out.set(p, c);
  });
  return out;
}
