// The items of an optional list field of a hostile object (a manifest, a Service from a file),
// each with its field path. Fuzzing (test/unit/fuzz-pod-manifests.test.ts,
// fuzz-proxy-objects.test.ts) found `ports: "80"` and `endpoints: [null]` throwing TypeErrors out
// of the validators: a field that is not a list, or an item that is not an object, is reported
// here by field and reason, and only object items are handed on to be checked.

export interface ListFieldError {
  field: string;
  reason: string;
}

const isObject = (v: unknown): boolean => typeof v === 'object' && v !== null && !Array.isArray(v);

export function listItems<T>(errs: ListFieldError[], field: string, v: unknown): Array<[T, string, number]> {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) {
    errs.push({ field, reason: `must be a list, got ${String(JSON.stringify(v)).slice(0, 80)}` });
    return [];
  }
  const out: Array<[T, string, number]> = [];
  v.forEach((item, i) => {
    if (isObject(item)) out.push([item as T, `${field}[${i}]`, i]);
    else errs.push({ field: `${field}[${i}]`, reason: 'must be an object' });
  });
  return out;
}
