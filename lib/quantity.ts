// Kubernetes resource quantities ("100m", "64Mi", "1.5", "1e3"), parsed exactly as
// k8s.io/apimachinery/pkg/api/resource does: a signed decimal number and one suffix, either a
// binary SI suffix (Ki..Ei), a decimal SI suffix (n, u, m, "", k, M, G, T, P, E) or a decimal
// exponent (e3, E-2). Values are kept as exact fractions of BigInts: no float rounding decides
// how many bytes a container may use.
// https://github.com/kubernetes/apimachinery/blob/master/pkg/api/resource/quantity.go

export class QuantityError extends Error {
  constructor(
    readonly input: string,
    reason: string,
  ) {
    super(`invalid quantity ${JSON.stringify(input)}: ${reason}`);
    this.name = 'QuantityError';
  }
}

const binary: Record<string, number> = { Ki: 10, Mi: 20, Gi: 30, Ti: 40, Pi: 50, Ei: 60 };
const decimal: Record<string, number> = { n: -9, u: -6, m: -3, '': 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 };
const pattern = /^([+-]?)(\d+(?:\.\d*)?|\.\d+)(.*)$/;

export interface Quantity {
  /** numerator / denominator is the exact value in base units (cores, bytes). */
  readonly numerator: bigint;
  readonly denominator: bigint;
  readonly text: string;
}

export function parseQuantity(input: string | number): Quantity {
  const text = typeof input === 'number' ? String(input) : input;
  if (typeof text !== 'string' || text.length === 0) throw new QuantityError(String(input), 'empty');
  const m = pattern.exec(text.trim());
  if (!m) throw new QuantityError(text, 'expected a number followed by an optional suffix such as m, Mi or G');
  const [, sign, digits, suffix] = m as unknown as [string, string, string, string];
  const [intPart, fracPart = ''] = digits.split('.');
  let num = BigInt((intPart || '0') + fracPart);
  let den = 10n ** BigInt(fracPart.length);
  if (sign === '-') num = -num;
  if (suffix in binary) {
    num *= 2n ** BigInt(binary[suffix]!);
  } else if (suffix in decimal) {
    const e = decimal[suffix]!;
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
  } else if (/^[eE][+-]?\d+$/.test(suffix)) {
    const e = Number(suffix.slice(1));
    if (Math.abs(e) > 64) throw new QuantityError(text, 'exponent out of range');
    if (e >= 0) num *= 10n ** BigInt(e);
    else den *= 10n ** BigInt(-e);
  } else {
    throw new QuantityError(
      text,
      `unknown suffix ${JSON.stringify(suffix)} (use one of n u m k M G T P E Ki Mi Gi Ti Pi Ei or an exponent)`,
    );
  }
  return { numerator: num, denominator: den, text };
}

function ceilDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a % b !== 0n && a > 0n === b > 0n ? q + 1n : q;
}

/** The value in base units rounded up, as Quantity.Value() does (bytes for memory). */
export function quantityValue(q: Quantity | string | number): number {
  const p = typeof q === 'object' ? q : parseQuantity(q);
  return Number(ceilDiv(p.numerator, p.denominator));
}

/** The value in thousandths rounded up, as Quantity.MilliValue() does (millicores for CPU). */
export function quantityMilliValue(q: Quantity | string | number): number {
  const p = typeof q === 'object' ? q : parseQuantity(q);
  return Number(ceilDiv(p.numerator * 1000n, p.denominator));
}

/** Format bytes the way kubectl shows memory: the largest binary suffix that divides exactly. */
export function formatBytes(bytes: number): string {
  for (const [suffix, shift] of Object.entries(binary).reverse()) {
    const unit = 2 ** shift;
    if (bytes !== 0 && bytes % unit === 0) return `${bytes / unit}${suffix}`;
  }
  return String(bytes);
}
