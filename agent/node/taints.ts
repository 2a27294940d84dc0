// --register-with-taints, in kubelet's syntax: "key=value:Effect,key2:Effect" (pure).
import type { V1Taint } from '@kubernetes/client-node';

export const TAINT_EFFECTS = ['NoSchedule', 'PreferNoSchedule', 'NoExecute'] as const;

export function parseTaints(flag: string): V1Taint[] {
  if (!flag.trim()) return [];
  return flag.split(',').map((spec, i) => {
    const where = `--register-with-taints entry ${i + 1} (${JSON.stringify(spec)})`;
    const colon = spec.lastIndexOf(':');
    if (colon < 0) throw new Error(`${where}: expected key[=value]:effect`);
    const effect = spec.slice(colon + 1).trim();
    const kv = spec.slice(0, colon).trim();
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    const value = eq < 0 ? undefined : kv.slice(eq + 1);
    if (!(TAINT_EFFECTS as readonly string[]).includes(effect))
      throw new Error(`${where}: effect must be one of ${TAINT_EFFECTS.join(', ')}, not ${JSON.stringify(effect)}`);
    if (!key) throw new Error(`${where}: the key is empty`);
    return value === undefined ? { key, effect } : { key, value, effect };
  });
}
