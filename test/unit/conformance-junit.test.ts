import t from 'tap';
import { decodeXml, firstFailureLine, parseJUnit, renderSummary, summarize } from '../conformance/junit.js';

// The shape the e2e framework writes (Ginkgo's reporter, failure text as element content, Go's
// XML escaping of newlines and quotes).
const REPORT = `<?xml version="1.0" encoding="UTF-8"?>
<testsuites tests="4" disabled="0" errors="0" failures="1" time="40.5">
  <testsuite name="Kubernetes e2e suite" package="/" tests="4" disabled="0" skipped="1" errors="0" failures="1" time="40.5" timestamp="2026-12-07T05:00:00">
    <testcase name="[SynchronizedBeforeSuite]" classname="Kubernetes e2e suite" status="passed" time="3.2"></testcase>
    <testcase name="[It] [sig-node] Pods should get a host IP [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="passed" time="4.25"></testcase>
    <testcase name="[It] [sig-node] Downward API should provide default limits.cpu/memory from node allocatable [NodeConformance] [Conformance]" classname="Kubernetes e2e suite" status="failed" time="33.01">
      <failure type="failed">[FAILED] Expected&#xA;    &lt;string&gt;: &#34;CPU_LIMIT=2&#34;&#xA;to contain substring &#39;CPU_LIMIT=&#39;&#xA;In [It] at: test/e2e/common/node/downwardapi.go:120 @ 12/07/26 05:00:33.01&#xA;</failure>
      <system-err>timeline</system-err>
    </testcase>
    <testcase name="[It] [sig-apps] Deployment should run [Conformance]" classname="Kubernetes e2e suite" status="skipped" time="0">
      <skipped message="skipped"></skipped>
    </testcase>
  </testsuite>
</testsuites>`;

t.test("decodeXml: named entities and Go's numeric references", async (t) => {
  t.equal(decodeXml('a&#xA;b &#34;q&#34; &lt;x&gt; &amp;amp; &#39;'), 'a\nb "q" <x> &amp; \'');
});

t.test('firstFailureLine: the [FAILED] line without its marker, else the first text', async (t) => {
  t.equal(firstFailureLine('\n  timeline...\n[FAILED] pod never ran\nIn [It] at: x.go:1'), 'pod never ran');
  t.equal(
    firstFailureLine('[FAILED] Expected\n    <string>: a\nto equal\n    <string>: b\nIn [It] at: x.go:1\nmore'),
    'Expected <string>: a to equal <string>: b',
    'a message over several lines, joined up to its location',
  );
  t.equal(firstFailureLine('[TIMEDOUT] A suite timeout occurred\n'), '[TIMEDOUT] A suite timeout occurred');
  t.equal(firstFailureLine('\n\nsomething broke\nmore'), 'something broke');
  t.equal(firstFailureLine(''), '');
});

t.test('parseJUnit: one outcome per testcase, spec names without the node prefix', async (t) => {
  const out = parseJUnit(REPORT);
  t.equal(out.length, 4);
  t.same(out[0], {
    name: '[SynchronizedBeforeSuite]',
    result: 'passed',
    seconds: 3.2,
    firstFailureLine: '',
    kind: 'suite',
  });
  t.same(out[1], {
    name: '[sig-node] Pods should get a host IP [NodeConformance] [Conformance]',
    result: 'passed',
    seconds: 4.25,
    firstFailureLine: '',
    kind: 'spec',
  });
  t.equal(out[2]!.result, 'failed');
  t.equal(out[2]!.firstFailureLine, 'Expected <string>: "CPU_LIMIT=2" to contain substring \'CPU_LIMIT=\'');
  t.equal(out[3]!.result, 'skipped');
});

t.test('parseJUnit: a failure given only as a message attribute, a self-closing testcase', async (t) => {
  const out = parseJUnit(
    '<testsuites><testsuite><testcase name="[It] a" status="failed" time="1"><failure message="boom&#xA;trace" type="failed"/></testcase><testcase name="[It] b" status="passed" time="2"/></testsuite></testsuites>',
  );
  t.same(
    out.map((o) => [o.name, o.result, o.firstFailureLine]),
    [
      ['a', 'failed', 'boom'],
      ['b', 'passed', ''],
    ],
  );
});

t.test('parseJUnit: text that is not a JUnit report is an error, not zero specs', async (t) => {
  t.throws(() => parseJUnit('panic: runtime error'), /not a JUnit report/);
});

t.test('summarize and renderSummary: failures first, skipped only counted, the last line', async (t) => {
  const s = summarize(parseJUnit(REPORT));
  t.equal(s.passed, 1);
  t.equal(s.failed, 1);
  t.equal(s.skipped, 1);
  t.match(s.rows[0]!.name, /Downward API/);
  const text = renderSummary(s);
  const lines = text.split('\n');
  t.equal(lines.at(-1), '1 passed, 1 failed');
  t.match(lines[1]!, /Downward API.*failed\s+33\.0\s+Expected <string>/);
  t.notMatch(text, /sig-apps/, 'a spec that did not run has no row');
});

t.test('summarize: a failed suite node (BeforeSuite) is a failure row', async (t) => {
  const s = summarize(
    parseJUnit(
      '<testsuites><testcase name="[SynchronizedBeforeSuite]" status="failed" time="1"><failure type="failed">[FAILED] nodes not ready</failure></testcase></testsuites>',
    ),
  );
  t.equal(s.failed, 1);
  t.equal(s.rows[0]!.firstFailureLine, 'nodes not ready');
});
