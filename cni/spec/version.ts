// Spec versions: which ones we speak and how to compare them. 0.1.0/0.2.0 results have a
// different shape ("ip4"/"ip6") and no chaining; runtimes stopped using them years ago, so we
// start at 0.3.0, the first version with the rich result type.
import { CniError, ErrorCode } from './errors.js';

export const SUPPORTED_VERSIONS = ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;
export const LATEST = '1.1.0';

function parts(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

/** -1, 0, 1 like a comparator; undefined when either is not a version. */
export function compareVersions(a: string, b: string): number | undefined {
  const x = parts(a),
    y = parts(b);
  if (!x || !y) return undefined;
  for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i]! < y[i]! ? -1 : 1;
  return 0;
}

export const atLeast = (v: string, min: string): boolean => (compareVersions(v, min) ?? -1) >= 0;

/** The config's cniVersion must be one we implement exactly (results differ between versions). */
export function requireSupported(version: unknown, where = 'cniVersion'): string {
  if (typeof version !== 'string' || version === '') {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI version',
      `${where} is missing; supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  if (!(SUPPORTED_VERSIONS as readonly string[]).includes(version)) {
    throw new CniError(
      ErrorCode.IncompatibleVersion,
      'incompatible CNI version',
      `${where} ${JSON.stringify(version)} is not supported; supported: ${SUPPORTED_VERSIONS.join(', ')}`,
    );
  }
  return version;
}
