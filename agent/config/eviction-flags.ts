// The settings of hard eviction and image garbage collection: kubelet's flags and
// KubeletConfiguration names, with kubelet's defaults, plus two periods of kubenode's own that
// kubelet hard-codes (tests cannot wait 10 s and 5 min rounds).
import { effectiveStatements, parseStatementList, parseThresholds, type Threshold } from '../eviction/thresholds.js';
import { errorMessage } from '../../lib/errors.js';

export interface EvictionConfig {
  /** --eviction-hard as given (signal -> value); undefined: kubelet's defaults. */
  evictionHard?: Record<string, string>;
  mergeDefaultEvictionSettings: boolean;
  evictionPressureTransitionPeriodMs: number;
  evictionMonitoringPeriodMs: number;
  imageGcHighThresholdPercent: number;
  imageGcLowThresholdPercent: number;
  minimumImageTtlMs: number;
  imageGcPeriodMs: number;
}

export const EVICTION_FLAGS = [
  {
    name: 'eviction-hard',
    key: 'evictionHard',
    kind: 'map',
    alias: 'evictionHard',
    help: "hard eviction thresholds, e.g. 'memory.available<100Mi,nodefs.available<10%' (a set replaces the defaults) [memory.available<100Mi,nodefs.available<10%,nodefs.inodesFree<5%,imagefs.available<15%,imagefs.inodesFree<5%]",
  },
  {
    name: 'merge-default-eviction-settings',
    key: 'mergeDefaultEvictionSettings',
    kind: 'bool',
    alias: 'mergeDefaultEvictionSettings',
    help: 'keep the default thresholds of signals --eviction-hard does not name [false]',
  },
  {
    name: 'eviction-pressure-transition-period',
    key: 'evictionPressureTransitionPeriodMs',
    kind: 'duration',
    alias: 'evictionPressureTransitionPeriod',
    help: 'how long a pressure condition stays True after its threshold was last crossed [5m]',
  },
  {
    name: 'eviction-monitoring-period',
    key: 'evictionMonitoringPeriodMs',
    kind: 'duration',
    help: "kubenode's own: period of the eviction manager's rounds (kubelet: 10s, fixed) [10s]",
  },
  {
    name: 'image-gc-high-threshold',
    key: 'imageGcHighThresholdPercent',
    kind: 'int',
    alias: 'imageGCHighThresholdPercent',
    help: 'image filesystem usage percent from which unused images are removed; 100 disables image GC [85]',
  },
  {
    name: 'image-gc-low-threshold',
    key: 'imageGcLowThresholdPercent',
    kind: 'int',
    alias: 'imageGCLowThresholdPercent',
    help: 'usage percent image GC frees down to [80]',
  },
  {
    name: 'minimum-image-ttl-duration',
    key: 'minimumImageTtlMs',
    kind: 'duration',
    alias: 'imageMinimumGCAge',
    help: 'an unused image first seen less than this long ago is not removed [2m]',
  },
  {
    name: 'image-gc-period',
    key: 'imageGcPeriodMs',
    kind: 'duration',
    help: "kubenode's own: period of image garbage collection (kubelet: 5m, fixed) [5m]",
  },
] as const;

export function evictionDefaults(): EvictionConfig {
  return {
    mergeDefaultEvictionSettings: false,
    evictionPressureTransitionPeriodMs: 5 * 60_000,
    evictionMonitoringPeriodMs: 10_000,
    imageGcHighThresholdPercent: 85,
    imageGcLowThresholdPercent: 80,
    minimumImageTtlMs: 2 * 60_000,
    imageGcPeriodMs: 5 * 60_000,
  };
}

/** A 'map' setting: "signal<value,..." from a flag, or a mapping from a --config file. */
export function statementsOf(raw: unknown): Record<string, string> {
  if (raw && typeof raw === 'object' && !Array.isArray(raw))
    return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, String(v)]));
  return parseStatementList(String(raw ?? ''));
}

/** The thresholds in force; throws naming --eviction-hard and the bad statement. */
export function evictionThresholds(cfg: EvictionConfig): Threshold[] {
  return parseThresholds(effectiveStatements(cfg.evictionHard, cfg.mergeDefaultEvictionSettings), '--eviction-hard');
}

/** kubelet's validation of these settings, as error messages (empty: valid). */
export function evictionConfigErrors(cfg: EvictionConfig): string[] {
  const errors: string[] = [];
  const pct = (v: number, name: string) => {
    if (!(v >= 0 && v <= 100)) errors.push(`--${name} ${v}: must be between 0 and 100, inclusive`);
  };
  pct(cfg.imageGcHighThresholdPercent, 'image-gc-high-threshold');
  pct(cfg.imageGcLowThresholdPercent, 'image-gc-low-threshold');
  if (cfg.imageGcLowThresholdPercent >= cfg.imageGcHighThresholdPercent) {
    errors.push(
      `--image-gc-low-threshold ${cfg.imageGcLowThresholdPercent}: must be less than --image-gc-high-threshold ${cfg.imageGcHighThresholdPercent}`,
    );
  }
  for (const [v, name] of [
    [cfg.evictionMonitoringPeriodMs, 'eviction-monitoring-period'],
    [cfg.imageGcPeriodMs, 'image-gc-period'],
  ] as const) {
    if (v <= 0) errors.push(`--${name}: must be positive`);
  }
  try {
    evictionThresholds(cfg);
  } catch (e) {
    errors.push(errorMessage(e));
  }
  return errors;
}
