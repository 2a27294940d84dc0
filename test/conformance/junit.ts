// Reads the JUnit reports upstream's e2e suite writes (Ginkgo's JUnit reporter, configured by the
// framework's internal/junit: no failure message attribute, the failure's full text as the
// element's content) and turns them into one result per spec. Pure: text in, data out.
// https://github.com/kubernetes/kubernetes/blob/v1.34.4/test/e2e/framework/internal/junit/junit.go

export type SpecResult = 'passed' | 'failed' | 'skipped';

export interface SpecOutcome {
  /** The spec's full text without Ginkgo's node-type prefix ("[It] "). */
  name: string;
  result: SpecResult;
  seconds: number;
  /** The line that says why it failed ("" when it did not). */
  firstFailureLine: string;
  /** A spec (It) or a suite-level node (BeforeSuite...), which only counts when it failed. */
  kind: 'spec' | 'suite';
}

/** XML's five named entities and numeric character references (Go's encoder writes &#xA; etc.). */
export function decodeXml(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e[0] === '#') return String.fromCodePoint(e[1] === 'x' ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
    return ({ amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" } as Record<string, string>)[e]!;
  });
}

function attributes(tag: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const m of tag.matchAll(/([\w:-]+)="([^"]*)"/g)) out.set(m[1]!, decodeXml(m[2]!));
  return out;
}

/**
 * Why a spec failed, in one line: Ginkgo's "[FAILED] ..." (or [PANICKED], [TIMEDOUT],
 * [INTERRUPTED]) message when there is one, else the first line with text. A message Gomega
 * spreads over lines ("Expected", "<string>: ...", "to equal", ...) is joined up to its location
 * line ("In [It] at: ..."), so the line says what was expected.
 */
export function firstFailureLine(text: string): string {
  const lines = text.split('\n').map((l) => l.trim());
  const start = lines.findIndex((l) => /^\[(FAILED|PANICKED|TIMEDOUT|INTERRUPTED|ABORTED)\]/.test(l));
  if (start < 0) return lines.find((l) => l !== '') ?? '';
  const parts = [lines[start]!.replace(/^\[FAILED\]\s*/, '')];
  for (const l of lines.slice(start + 1)) {
    if (l === '' || /^In \[/.test(l) || parts.join(' ').length > 400) break;
    parts.push(l);
  }
  return parts.filter((p) => p !== '').join(' ');
}

const NODE_PREFIX =
  /^\[(It|BeforeSuite|AfterSuite|SynchronizedBeforeSuite|SynchronizedAfterSuite|ReportBeforeSuite|ReportAfterSuite|DeferCleanup \([^)]*\))\]\s*/;

/** Every <testcase> of one JUnit report. Throws, naming the problem, on text that is not one. */
export function parseJUnit(xml: string): SpecOutcome[] {
  if (!/<testsuites?[\s>]/.test(xml)) throw new Error('not a JUnit report: no <testsuites> or <testsuite> element');
  const out: SpecOutcome[] = [];
  for (const m of xml.matchAll(/<testcase\b([^>]*?)(\/>|>([\s\S]*?)<\/testcase>)/g)) {
    const attrs = attributes(m[1]!);
    const body = m[3] ?? '';
    const rawName = attrs.get('name') ?? '';
    const node = NODE_PREFIX.exec(rawName)?.[1] ?? 'It';
    const failure = /<(failure|error)\b[^>]*?(?:\/>|>([\s\S]*?)<\/\1>)/.exec(body);
    const status = attrs.get('status') ?? '';
    let result: SpecResult;
    if (failure || /^(failed|panicked|timedout|interrupted|aborted)$/.test(status)) result = 'failed';
    else if (/<skipped\b/.test(body) || /^(skipped|pending)$/.test(status)) result = 'skipped';
    else result = 'passed';
    let why = '';
    if (result === 'failed') {
      const failureText = decodeXml(failure?.[2] ?? '');
      const messageAttr = failure ? (attributes(failure[0]).get('message') ?? '') : '';
      why = firstFailureLine(failureText) || firstFailureLine(messageAttr) || status;
    }
    out.push({
      name: node === 'It' ? rawName.replace(NODE_PREFIX, '') : rawName,
      result,
      seconds: Number(attrs.get('time') ?? 0) || 0,
      firstFailureLine: why,
      kind: node === 'It' ? 'spec' : 'suite',
    });
  }
  return out;
}

export interface Summary {
  /** The rows to print: every spec that ran, and suite-level nodes that failed. */
  rows: SpecOutcome[];
  passed: number;
  failed: number;
  skipped: number;
}

/** The table's rows (failures first, then by name) and the counts. Skipped specs are only counted. */
export function summarize(outcomes: SpecOutcome[]): Summary {
  const rows = outcomes.filter(
    (o) => (o.kind === 'spec' && o.result !== 'skipped') || (o.kind === 'suite' && o.result === 'failed'),
  );
  rows.sort((a, b) => (a.result === b.result ? a.name.localeCompare(b.name) : a.result === 'failed' ? -1 : 1));
  return {
    rows,
    passed: rows.filter((r) => r.result === 'passed').length,
    failed: rows.filter((r) => r.result === 'failed').length,
    skipped: outcomes.filter((o) => o.kind === 'spec' && o.result === 'skipped').length,
  };
}

function clip(s: string, width: number): string {
  return s.length <= width ? s : `${s.slice(0, width - 1)}…`;
}

/** The summary table: spec, result, seconds, first failure line; then "N passed, N failed". */
export function renderSummary(s: Summary, width = { spec: 110, why: 160 }): string {
  const lines = [`${'SPEC'.padEnd(width.spec)}  RESULT  SECONDS  FIRST FAILURE LINE`];
  for (const r of s.rows) {
    lines.push(
      `${clip(r.name, width.spec).padEnd(width.spec)}  ${r.result.padEnd(6)}  ${r.seconds.toFixed(1).padStart(7)}  ${clip(r.firstFailureLine, width.why)}`,
    );
  }
  lines.push(`(${s.skipped} specs not selected by the focus, skipped)`);
  lines.push(`${s.passed} passed, ${s.failed} failed`);
  return lines.join('\n');
}
