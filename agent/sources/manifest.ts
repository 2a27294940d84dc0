// Reading pod manifests (YAML or JSON; several documents per file; a Pod, a PodList or a v1
// List of Pods) and turning each document into either an admitted pod or a ManifestError that
// says where it came from, which object, which field and why. Pure: text in, data out.
import type { V1Pod } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { validatePod } from '../podspec/validation.js';
import { toStaticPod } from './static-pod.js';
import type { ManifestError, SourceName } from './types.js';

export interface ParsedManifests {
  pods: V1Pod[];
  errors: ManifestError[];
}

function objectName(doc: unknown, index: number): string {
  const md = (doc as { metadata?: { name?: unknown; namespace?: unknown } } | null)?.metadata;
  if (md && typeof md.name === 'string')
    return `${typeof md.namespace === 'string' && md.namespace ? md.namespace : 'default'}/${md.name}`;
  return `document ${index + 1}`;
}

/** The documents in a manifest text, or a single error when it is not YAML/JSON at all. */
export function parseDocuments(text: string): { docs: unknown[]; error?: string } {
  const docs: unknown[] = [];
  const parsed = parseAllDocuments(text, { uniqueKeys: false });
  if (!Array.isArray(parsed)) return { docs }; // an empty stream
  for (const d of parsed) {
    if (d.errors.length) return { docs: [], error: `not valid YAML or JSON: ${d.errors[0]!.message.split('\n')[0]}` };
    const v = d.toJS({ maxAliasCount: 100 });
    if (v !== null && v !== undefined) docs.push(v);
  }
  return { docs };
}

/** Lists (kind PodList, or List) are opened into their items. */
function flatten(docs: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const d of docs) {
    const kind = (d as { kind?: unknown } | null)?.kind;
    if ((kind === 'PodList' || kind === 'List') && Array.isArray((d as { items?: unknown }).items))
      out.push(
        ...(d as { items: unknown[] }).items.map((i) =>
          kind === 'PodList' && i && typeof i === 'object' ? { kind: 'Pod', apiVersion: 'v1', ...i } : i,
        ),
      );
    else out.push(d);
  }
  return out;
}

/**
 * Parse, validate and admit every pod in `text`. A bad document is reported and skipped; the good
 * ones in the same file are still admitted.
 */
export function readManifests(
  text: string,
  opts: { source: SourceName; origin: string; nodeName: string },
): ParsedManifests {
  const { docs, error } = parseDocuments(text);
  const base = { source: opts.source, origin: opts.origin };
  if (error) return { pods: [], errors: [{ ...base, object: 'document 1', field: '<document>', reason: error }] };
  const pods: V1Pod[] = [];
  const errors: ManifestError[] = [];
  flatten(docs).forEach((doc, i) => {
    const fieldErrors = validatePod(doc);
    if (fieldErrors.length) {
      for (const fe of fieldErrors)
        errors.push({ ...base, object: objectName(doc, i), field: fe.field, reason: fe.reason });
      return;
    }
    pods.push(toStaticPod(doc as V1Pod, opts.nodeName, opts.source, opts.origin));
  });
  return { pods, errors };
}
