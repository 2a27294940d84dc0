// node dist/test/conformance/summary.js JUNIT.xml...
// Prints scripts/conformance.sh's summary: one row per spec that ran (spec, result, seconds, first
// failure line) and a last line "N passed, N failed". Exits 1 when a spec failed or a report is
// missing or unreadable (a suite that crashed before writing its report is a failure, not zero).
import { readFileSync } from 'node:fs';
import { parseJUnit, renderSummary, summarize, type SpecOutcome } from './junit.js';
import { errorMessage } from '../../lib/errors.js';

const files = process.argv.slice(2);
const outcomes: SpecOutcome[] = [];
for (const f of files) {
  try {
    outcomes.push(...parseJUnit(readFileSync(f, 'utf8')));
  } catch (err) {
    outcomes.push({
      name: `JUnit report ${f}`,
      result: 'failed',
      seconds: 0,
      kind: 'suite',
      firstFailureLine: `cannot read it (${errorMessage(err)}): the suite did not finish, see ginkgo-*.log beside it`,
    });
  }
}
if (files.length === 0) {
  outcomes.push({
    name: 'JUnit reports',
    result: 'failed',
    seconds: 0,
    kind: 'suite',
    firstFailureLine: 'none was written: the suite did not run, see ginkgo-*.log',
  });
}
const summary = summarize(outcomes);
console.log(renderSummary(summary));
process.exitCode = summary.failed > 0 ? 1 : 0;
