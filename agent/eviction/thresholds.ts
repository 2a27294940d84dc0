// Hard eviction thresholds in kubelet's syntax ("memory.available<100Mi", "nodefs.available<10%"),
// parsed as kubelet's ParseThresholdConfig does, and what a threshold means against a capacity.
// Pure. https://kubernetes.io/docs/concepts/scheduling-eviction/node-pressure-eviction/
import { parseQuantity, quantityValue, formatBytes } from '../../lib/quantity.js';
import { errorMessage } from '../../lib/errors.js';

export const SIGNALS = [
  'memory.available',
  'nodefs.available',
  'nodefs.inodesFree',
  'imagefs.available',
  'imagefs.inodesFree',
  'pid.available',
] as const;
export type Signal = (typeof SIGNALS)[number];

/** Signals kubelet knows but kubenode does not observe (a separate container filesystem, allocatable). */
const KNOWN_UNSUPPORTED = ['allocatableMemory.available', 'containerfs.available', 'containerfs.inodesFree'];

/** kubelet's DefaultEvictionHard on Linux (pkg/kubelet/eviction/defaults_linux.go). */
export const DEFAULT_EVICTION_HARD: Readonly<Record<string, string>> = {
  'memory.available': '100Mi',
  'nodefs.available': '10%',
  'nodefs.inodesFree': '5%',
  'imagefs.available': '15%',
  'imagefs.inodesFree': '5%',
};

/** One threshold: the signal must stay at or above a quantity, or a fraction of its capacity. */
export interface Threshold {
  signal: Signal;
  /** Exactly one of quantity (bytes, inodes, pids) and percentage (0..1, float32 as kubelet keeps it). */
  quantity?: number;
  percentage?: number;
  /** As written: "100Mi", "10%". */
  text: string;
}

export type ConditionType = 'MemoryPressure' | 'DiskPressure' | 'PIDPressure';

/** kubelet's signalToNodeCondition. */
export function conditionOf(signal: Signal): ConditionType {
  return signal === 'memory.available' ? 'MemoryPressure' : signal === 'pid.available' ? 'PIDPressure' : 'DiskPressure';
}

/** kubelet's signalToResource: what the eviction message says the node was low on. */
export function resourceOf(signal: Signal): string {
  if (signal === 'memory.available') return 'memory';
  if (signal === 'pid.available') return 'pids';
  return signal.endsWith('inodesFree') ? 'inodes' : 'ephemeral-storage';
}

/** The bytes (inodes, pids) a threshold keeps back on a resource of `capacity`: GetThresholdQuantity. */
export function thresholdQuantity(t: Threshold, capacity: number): number {
  return t.quantity ?? Math.trunc(capacity * t.percentage!);
}

/** "memory.available<100Mi", for logs and condition messages. */
export function thresholdText(t: Threshold): string {
  return `${t.signal}<${t.text}`;
}

/** How kubelet prints a quantity in its messages (resource.Quantity in BinarySI form). */
export function formatQuantity(signal: Signal, n: number): string {
  return resourceOf(signal) === 'memory' || resourceOf(signal) === 'ephemeral-storage' ? formatBytes(n) : String(n);
}

/**
 * The statements of --eviction-hard / evictionHard, by signal. An unknown signal or a bad value
 * is an error naming both; "0%" and "100%" switch a signal off, as kubelet ignores them.
 * `where` names the setting in errors ("--eviction-hard").
 */
export function parseThresholds(statements: Readonly<Record<string, string>>, where: string): Threshold[] {
  const out: Threshold[] = [];
  for (const [signal, raw] of Object.entries(statements)) {
    const value = String(raw).trim();
    const fail = (why: string) => new Error(`${where}: ${signal}<${value}: ${why}`);
    if (!(SIGNALS as readonly string[]).includes(signal)) {
      throw fail(
        KNOWN_UNSUPPORTED.includes(signal)
          ? 'this signal is not supported by kubenode'
          : `unsupported eviction signal (one of ${SIGNALS.join(', ')})`,
      );
    }
    const s = signal as Signal;
    if (value.endsWith('%')) {
      if (value === '0%' || value === '100%') continue;
      const v = Number(value.slice(0, -1));
      if (!/^[+-]?(\d+\.?\d*|\.\d+)%$/.test(value) || !Number.isFinite(v)) throw fail('not a percentage');
      // kubelet keeps the fraction as a float32: float32(v) / 100.
      const percentage = Math.fround(Math.fround(v) / 100);
      if (percentage < 0) throw fail('a percentage threshold must be >= 0%');
      if (percentage > 1) throw fail('a percentage threshold must be <= 100%');
      out.push({ signal: s, percentage, text: value });
      continue;
    }
    let n: number;
    try {
      n = quantityValue(parseQuantity(value));
    } catch (e) {
      throw fail(errorMessage(e));
    }
    if (n <= 0) throw fail('the threshold must be positive');
    out.push({ signal: s, quantity: n, text: value });
  }
  return out.sort((a, b) => SIGNALS.indexOf(a.signal) - SIGNALS.indexOf(b.signal));
}

/**
 * The statements in force: the given ones, or kubelet's defaults when none were given. A
 * --config file's evictionHard replaces the defaults too, unless mergeDefaultEvictionSettings
 * (1.34) asks to keep the defaults of signals it does not name.
 */
export function effectiveStatements(
  given: Readonly<Record<string, string>> | undefined,
  mergeDefaults: boolean,
): Record<string, string> {
  if (!given) return { ...DEFAULT_EVICTION_HARD };
  return mergeDefaults ? { ...DEFAULT_EVICTION_HARD, ...given } : { ...given };
}

/** "memory.available<100Mi,nodefs.available<10%" (kubelet's LangleSeparatedMapStringString) -> map. */
export function parseStatementList(flag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of flag
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)) {
    const i = part.indexOf('<');
    if (i <= 0) throw new Error(`${JSON.stringify(part)}: expected signal<value, e.g. memory.available<100Mi`);
    out[part.slice(0, i).trim()] = part.slice(i + 1).trim();
  }
  return out;
}
