// Parse a --services-dir file (pure): YAML or JSON, several documents, a `kind: List` with
// items. Each object that is not a Service or EndpointSlice, and each document that does not
// parse, becomes an error naming the file, the document and the reason; the others are kept.
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { Composer, Parser } from 'yaml';
import { truncate } from '../../lib/truncate.js';
import { errorMessage } from '../../lib/errors.js';

export type ManifestObject = { kind: 'Service'; obj: V1Service } | { kind: 'EndpointSlice'; obj: V1EndpointSlice };

export interface ParsedManifest {
  objects: ManifestObject[];
  errors: string[];
  /** The file as a whole is not YAML at all (nothing could be read from it). */
  unreadable: boolean;
}

export function parseManifest(file: string, text: string): ParsedManifest {
  const objects: ManifestObject[] = [];
  const errors: string[] = [];
  // Documents are composed one at a time (not parseAllDocuments), so that each one's syntax
  // tree is garbage as soon as it is converted: a file of 200 objects never has 200 trees alive.
  let index = 0;
  let readable = 0;
  try {
    for (const doc of new Composer().compose(new Parser().parse(text))) {
      const i = index++;
      const where = `${file} (document ${i + 1})`;
      if (doc.errors.length > 0) {
        errors.push(`${where}: not YAML: ${doc.errors[0]!.message.split('\n')[0]}`);
        continue;
      }
      readable++;
      // Strings from the YAML parser can be slices of the whole file's text, which would keep
      // every file alive for as long as one name or address from it is kept: copy them out.
      collect(JSON.parse(JSON.stringify(doc.toJS())) as unknown, where, objects, errors);
    }
  } catch (e) {
    return { objects, errors: [`${file}: not YAML: ${errorMessage(e)}`], unreadable: true };
  }
  return { objects, errors, unreadable: index > 0 && readable === 0 };
}

function collect(value: unknown, where: string, objects: ManifestObject[], errors: string[]): void {
  if (value === null || value === undefined) return; // an empty document ("---" at the end)
  const items = isObject(value) && value.kind === 'List' && Array.isArray(value.items) ? value.items : [value];
  items.forEach((item: unknown, j: number) => {
    const at = items.length > 1 || item !== value ? `${where} item ${j}` : where;
    if (!isObject(item)) {
      errors.push(`${at}: not a Kubernetes object`);
      return;
    }
    const kind = item.kind;
    const api = item.apiVersion;
    const name = isObject(item.metadata)
      ? `${shown(item.metadata.namespace ?? 'default')}/${shown(item.metadata.name)}`
      : '(no metadata)';
    if (kind === 'Service' && (api === 'v1' || api === undefined)) objects.push({ kind, obj: item as V1Service });
    else if (kind === 'EndpointSlice' && (api === 'discovery.k8s.io/v1' || api === undefined))
      objects.push({ kind, obj: item as V1EndpointSlice });
    else
      errors.push(
        `${at}: ${shown(kind)} ${name} (apiVersion ${shown(api)}) is not a v1 Service or discovery.k8s.io/v1 EndpointSlice; skipped`,
      );
  });
}

/** A value quoted in an error, cut short: a mutated kind of megabytes made a log line as long. */
const shown = (v: unknown): string => truncate(String(v), 80);

function isObject(v: unknown): v is Record<string, any> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
