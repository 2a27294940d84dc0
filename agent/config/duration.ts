// Go-style durations as kubelet's flags take them: "20s", "1m30s", "100ms", "1h".
const units: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(input: string): number {
  const s = input.trim();
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * units[m[2]!]!;
    matched = re.lastIndex;
  }
  if (matched !== s.length || matched === 0)
    throw new Error(`invalid duration ${JSON.stringify(input)}: use a number with a unit, such as 500ms, 20s, 1m30s`);
  return total;
}
