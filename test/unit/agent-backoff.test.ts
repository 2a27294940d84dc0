// Restart back-off as kubelet's: first restart at once, then 10 s, doubling to 5 min; forgiven after 10 min.
import t from 'tap';
import { Backoff } from '../../agent/podspec/backoff.js';
import { formatDuration } from '../../agent/podspec/pod.js';

t.test('delays double from 10 s up to 5 min', async (t) => {
  const b = new Backoff();
  const delays = [];
  let now = 0;
  for (let i = 0; i < 8; i++) {
    delays.push(b.next('c', now));
    now += delays[delays.length - 1]! + 1000; // the container crashes 1 s after each restart
  }
  t.same(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000]);
});

t.test('remaining: the first failure is retried at once, the next ones wait', async (t) => {
  const b = new Backoff();
  t.equal(b.remaining('c', 1000, 1000), 0, 'no entry: start now');
  b.next('c', 1000); // restarted; it crashes again at 5000
  t.equal(b.remaining('c', 5000, 6000), 9000, 'wait 10 s from the crash');
  t.equal(b.remaining('c', 5000, 15_000), 0, 'then start');
  t.equal(b.next('c', 5000), 20_000);
  t.equal(b.remaining('c', 30_000, 31_000), 19_000);
});

t.test('ten minutes without a failure forgive the past', async (t) => {
  const b = new Backoff();
  b.next('c', 0);
  b.next('c', 20_000);
  t.equal(b.get('c')!.delayMs, 20_000);
  const later = 20_000 + 10 * 60_000 + 1;
  t.equal(b.remaining('c', later, later), 0);
  t.equal(b.next('c', later), 10_000, 'starts over at 10 s');
});

t.test('keys are independent; gc and resetPrefix forget', async (t) => {
  const b = new Backoff();
  b.next('u1/a', 0);
  b.next('u2/a', 0);
  b.resetPrefix('u1/');
  t.equal(b.get('u1/a'), undefined);
  t.ok(b.get('u2/a'));
  b.gc(11 * 60_000);
  t.equal(b.get('u2/a'), undefined);
});

t.test('durations print like Go', async (t) => {
  t.equal(formatDuration(10_000), '10s');
  t.equal(formatDuration(80_000), '1m20s');
  t.equal(formatDuration(300_000), '5m0s');
});
