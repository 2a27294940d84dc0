// The failover figures: failed requests, the window they span, who answered before and after.
import t from 'tap';
import { formatPods, lastAnswerFrom, parseAnswer, summarize, type Sample } from '../../test/harness/traffic.js';

const ok = (start: number, pod: string): Sample => ({ start, end: start + 5, ok: true, pod, node: 'n' });
const bad = (start: number, end: number, error = 'connect ECONNREFUSED 192.168.56.11:30080'): Sample => ({
  start,
  end,
  ok: false,
  error,
});

t.test('the demo answer is parsed; anything else is not an answer', async (t) => {
  t.same(parseAnswer('pod=demo-1 ip=10.244.1.5 node=kn-node2\n'), {
    pod: 'demo-1',
    ip: '10.244.1.5',
    node: 'kn-node2',
  });
  t.equal(parseAnswer('<html>502</html>'), undefined);
  t.equal(parseAnswer(''), undefined);
});

t.test('failures, their window, and the pods before and after', async (t) => {
  const samples = [
    ok(0, 'a'),
    ok(50, 'b'),
    ok(100, 'a'),
    bad(2000, 2003),
    ok(2050, 'b'),
    bad(2100, 3100, 'no answer within 1000 ms'),
    ok(3200, 'b'),
    ok(5000, 'c'),
    ok(5050, 'b'),
  ];
  const s = summarize(samples, 1000, 4000);
  t.equal(s.requests, 9);
  t.equal(s.failed, 2);
  t.equal(s.windowSeconds, 1.1, 'from the first failure start (2000) to the last failure end (3100)');
  t.same(s.podsBefore, { a: 2, b: 1 });
  t.same(s.podsAfter, { c: 1, b: 1 });
  t.same(
    s.errors,
    { 'connect ECONNREFUSED ADDR': 1, 'no answer within 1000 ms': 1 },
    'errors are counted by kind, addresses folded',
  );
  t.equal(formatPods(s.podsBefore), 'a (2), b (1)');
  t.equal(formatPods({}), '(none)');
});

t.test('no failure: a zero window', async (t) => {
  const s = summarize([ok(0, 'a'), ok(50, 'b')], 25, 25);
  t.equal(s.failed, 0);
  t.equal(s.windowSeconds, 0);
});

t.test('the last answer from a pod after a time', async (t) => {
  const samples = [ok(0, 'a'), ok(100, 'b'), ok(200, 'a'), ok(300, 'b')];
  t.equal(lastAnswerFrom(samples, 'a', 50)?.start, 200);
  t.equal(lastAnswerFrom(samples, 'a', 250), undefined);
  t.equal(lastAnswerFrom(samples, 'z'), undefined);
});
