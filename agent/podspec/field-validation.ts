// Checks shared by the pod validation files (validation.ts, container-validation.ts,
// env-validation.ts): names, quantities, relative paths and object shapes, each pushing a field
// error worded as the apiserver's.
// https://github.com/kubernetes/kubernetes/blob/master/staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go
import { parseQuantity, quantityMilliValue, QuantityError } from '../../lib/quantity.js';
import type { FieldError } from './probe-validation.js';

export const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
export const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Not a guard on purpose: the typed field keeps its type for the checks that follow. */
export const notObject = (v: unknown): boolean => !isObject(v);

/** A relative path field (subPath, subPathExpr); not a string is an error, not a TypeError. */
export function badRelativePath(v: unknown): boolean {
  return typeof v !== 'string' || v.startsWith('/') || v.split('/').includes('..');
}

export function checkName(
  errs: FieldError[],
  field: string,
  v: unknown,
  pattern: RegExp,
  max: number,
  what: string,
): void {
  if (typeof v !== 'string' || v === '') errs.push({ field, reason: 'Required value' });
  else if (v.length > max) errs.push({ field, reason: `must be no more than ${max} characters` });
  else if (!pattern.test(v)) errs.push({ field, reason: `Invalid value ${JSON.stringify(v)}: ${what}` });
}

export function checkQuantity(errs: FieldError[], field: string, v: unknown): number | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') {
    errs.push({ field, reason: `Invalid value ${JSON.stringify(v)}: must be a quantity such as "100m" or "64Mi"` });
    return undefined;
  }
  try {
    const q = parseQuantity(v);
    if (q.numerator < 0n) {
      errs.push({ field, reason: `Invalid value ${JSON.stringify(v)}: must be greater than or equal to 0` });
      return undefined;
    }
    return quantityMilliValue(q);
  } catch (e) {
    errs.push({ field, reason: e instanceof QuantityError ? e.message : String(e) });
    return undefined;
  }
}
