// Hard eviction's pure parts against kubelet's behaviour: --eviction-hard parsing (syntax,
// defaults, percentages as float32, errors naming the statement), signal arithmetic (the root
// cgroup's working set on v1 and v2), the pressure transition period, kubelet's pod ranking and
// its eviction message, and image GC's order and amounts.
import t from 'tap';
import type { V1Pod } from '@kubernetes/client-node';
import { parseArgs } from '../../agent/config/config.js';
import { evictionThresholds } from '../../agent/config/eviction-flags.js';
import { decideRound, INITIAL_ROUND, thresholdsMet } from '../../agent/eviction/decide.js';
import { bytesToFree, detectImages, evictionOrder } from '../../agent/eviction/image-gc.js';
import {
  evictionMessage,
  isCriticalPod,
  podRequest,
  rankForEviction,
  type PodUsage,
} from '../../agent/eviction/rank.js';
import { memTotal, rootWorkingSet } from '../../agent/eviction/signals.js';
import {
  DEFAULT_EVICTION_HARD,
  parseStatementList,
  parseThresholds,
  thresholdQuantity,
} from '../../agent/eviction/thresholds.js';
import { nodeThresholds } from '../../agent/node/eviction.js';

const Mi = 1024 * 1024;
const Gi = 1024 * Mi;

t.test('--eviction-hard: kubelet syntax, defaults, replacement, errors', async (t) => {
  const d = evictionThresholds(parseArgs([]) as never);
  t.same(
    d.map((x) => `${x.signal}<${x.text}`),
    [
      'memory.available<100Mi',
      'nodefs.available<10%',
      'nodefs.inodesFree<5%',
      'imagefs.available<15%',
      'imagefs.inodesFree<5%',
    ],
    "kubelet's Linux defaults",
  );
  t.equal(d[0]!.quantity, 100 * Mi);
  // The flag replaces the whole set (kubelet's map flag): unnamed signals are not enforced.
  const only = evictionThresholds(parseArgs(['--eviction-hard=memory.available<1Gi,nodefs.available<500Mi']) as never);
  t.same(
    only.map((x) => x.signal),
    ['memory.available', 'nodefs.available'],
  );
  t.equal(only[1]!.quantity, 500 * Mi, 'a quantity for a disk signal');
  const merged = evictionThresholds(
    parseArgs(['--eviction-hard=memory.available<1Gi', '--merge-default-eviction-settings']) as never,
  );
  t.equal(merged.length, 5, 'mergeDefaultEvictionSettings keeps the other defaults');
  t.equal(merged[0]!.quantity, Gi);
  t.same(
    parseThresholds({ 'nodefs.available': '0%', 'imagefs.available': '100%' }, 'x'),
    [],
    '0% and 100% switch a signal off, as kubelet ignores them',
  );
  const pct = parseThresholds({ 'nodefs.available': '10%' }, 'x')[0]!;
  t.equal(pct.percentage, Math.fround(0.1), 'the fraction is a float32, as kubelet keeps it');
  t.equal(
    thresholdQuantity(pct, 1000 * Mi),
    Math.trunc(1000 * Mi * Math.fround(0.1)),
    'GetThresholdQuantity truncates capacity * fraction',
  );
  t.throws(
    () => parseArgs(['--eviction-hard=memory.avail<1Gi']),
    /--eviction-hard: memory.avail<1Gi: unsupported eviction signal/,
    'an unknown signal is named',
  );
  t.throws(() => parseArgs(['--eviction-hard=memory.available<-1Gi']), /must be positive/);
  t.throws(() => parseArgs(['--eviction-hard=nodefs.available<150%']), /<= 100%/);
  t.throws(() => parseArgs(['--eviction-hard=memory.available<lots']), /memory.available<lots/);
  t.throws(() => parseArgs(['--eviction-hard=memory.available=1Gi']), /expected signal<value/);
  t.throws(
    () => parseArgs(['--image-gc-high-threshold=80', '--image-gc-low-threshold=80']),
    /must be less than --image-gc-high-threshold 80/,
  );
  t.throws(() => parseArgs(['--image-gc-high-threshold=101']), /between 0 and 100/);
  t.same(parseStatementList(''), {}, 'an empty flag: no thresholds at all');
  const cfg = parseArgs(['--eviction-pressure-transition-period=30s', '--minimum-image-ttl-duration=0s']) as {
    evictionPressureTransitionPeriodMs: number;
    minimumImageTtlMs: number;
    imageGcHighThresholdPercent: number;
  };
  t.same(
    [cfg.evictionPressureTransitionPeriodMs, cfg.minimumImageTtlMs, cfg.imageGcHighThresholdPercent],
    [30_000, 0, 85],
  );
  t.same(DEFAULT_EVICTION_HARD['imagefs.available'], '15%');
});

t.test('the node status view: allocatable keeps back what the thresholds keep', async (t) => {
  const n = nodeThresholds(parseThresholds({ 'memory.available': '5%', 'nodefs.available': '1Gi' }, 'x'), {
    memoryBytes: 100 * Gi,
    nodefsBytes: 10 * Gi,
  });
  t.equal(n.memoryAvailableBytes, Math.trunc(100 * Gi * Math.fround(0.05)));
  t.equal(n.nodefsAvailable, 0.1);
  t.equal(n.nodefsInodesFree, 0, 'no inode threshold given');
});

t.test('memory.available from the root cgroup, v1 and v2', async (t) => {
  t.equal(rootWorkingSet(1, { total_inactive_file: 300 }, 1000), 700, 'v1: usage_in_bytes - total_inactive_file');
  t.equal(rootWorkingSet(2, { anon: 600, file: 400, inactive_file: 300 }), 700, 'v2 root: anon + file - inactive_file');
  t.equal(rootWorkingSet(1, { total_inactive_file: 2000 }, 1000), 0, 'never below 0');
  t.equal(memTotal('MemTotal:       24683404 kB\nMemFree: 1 kB\n'), 24683404 * 1024);
});

t.test('thresholds met and the pressure transition period', async (t) => {
  const th = parseThresholds({ 'memory.available': '100Mi', 'nodefs.available': '10%' }, 'x');
  t.same(
    thresholdsMet(th, { 'memory.available': { available: 100 * Mi, capacity: Gi } }),
    [],
    'exactly at the threshold is not below it',
  );
  const low = {
    'memory.available': { available: 50 * Mi, capacity: Gi },
    'nodefs.available': { available: 5 * Gi, capacity: 10 * Gi },
  };
  const r1 = decideRound(th, low, INITIAL_ROUND, 1000, 60_000);
  t.same([...r1.conditions], [['MemoryPressure', ['memory.available<100Mi']]]);
  t.equal(r1.met[0]!.signal, 'memory.available');
  const fine = { ...low, 'memory.available': { available: 500 * Mi, capacity: Gi } };
  const r2 = decideRound(th, fine, r1.state, 30_000, 60_000);
  t.same([...r2.conditions.keys()], ['MemoryPressure'], 'still True within the transition period');
  t.same(r2.met, [], 'but nothing to reclaim');
  const r3 = decideRound(th, fine, r2.state, 61_001, 60_000);
  t.same([...r3.conditions.keys()], [], 'False once the period since the last crossing passed');
  const both = decideRound(
    th,
    { ...low, 'nodefs.available': { available: Gi / 2, capacity: 10 * Gi } },
    INITIAL_ROUND,
    0,
    1,
  );
  t.same(
    both.met.map((x) => x.signal),
    ['memory.available', 'nodefs.available'],
    'memory is reclaimed first',
  );
});

const pod = (name: string, o: { mem?: string; limit?: string; priority?: number; source?: string } = {}): V1Pod => ({
  metadata: { name, namespace: 'ns', uid: name, annotations: { 'kubernetes.io/config.source': o.source ?? 'api' } },
  spec: {
    priority: o.priority,
    containers: [
      {
        name: 'c',
        image: 'i',
        resources: {
          requests: o.mem ? { memory: o.mem } : undefined,
          limits: o.limit ? { memory: o.limit } : undefined,
        },
      },
    ],
  },
});
const use = (p: V1Pod, mem?: number, disk?: number): PodUsage => ({
  pod: p,
  memoryWorkingSetBytes: mem,
  diskBytes: disk,
  containers: [{ name: 'c', memoryWorkingSetBytes: mem }],
});

t.test("kubelet's ranking under memory pressure", async (t) => {
  const [mem] = parseThresholds({ 'memory.available': '1Gi' }, 'x');
  const bestEffort = use(pod('besteffort'), 10 * Mi);
  const burstableOver = use(pod('burstable-over', { mem: '50Mi' }), 200 * Mi);
  const burstableUnder = use(pod('burstable-under', { mem: '500Mi' }), 100 * Mi);
  const guaranteed = use(pod('guaranteed', { mem: '1Gi', limit: '1Gi' }), 900 * Mi);
  const highPriority = use(pod('besteffort-important', { priority: 1000 }), 900 * Mi);
  const order = rankForEviction([guaranteed, burstableUnder, highPriority, bestEffort, burstableOver], mem!).map(
    (u) => u.pod.metadata!.name,
  );
  t.same(
    order,
    ['burstable-over', 'besteffort', 'besteffort-important', 'guaranteed', 'burstable-under'],
    'over its request first; then lower priority; then the larger excess over the request',
  );
  t.same(
    rankForEviction([use(pod('a'), 10 * Mi), use(pod('b'), 30 * Mi)], mem!).map((u) => u.pod.metadata!.name),
    ['b', 'a'],
    'two BestEffort: the larger user first',
  );
  t.equal(
    rankForEviction([use(pod('measured'), 10 * Mi), use(pod('unmeasured'))], mem!)[0]!.pod.metadata!.name,
    'unmeasured',
    'a pod without stats goes first (kubelet)',
  );
  t.equal(podRequest(pod('x', { limit: '64Mi' }), 'memory'), 64 * Mi, 'a limit alone is the request (API defaulting)');
});

t.test('ranking under disk pressure, critical pods, the message', async (t) => {
  const [disk] = parseThresholds({ 'nodefs.available': '10%' }, 'x');
  const order = rankForEviction(
    [use(pod('small'), 0, Mi), use(pod('filler'), 0, 100 * Mi), use(pod('prio', { priority: 5 }), 0, 500 * Mi)],
    disk!,
  ).map((u) => u.pod.metadata!.name);
  t.same(order, ['filler', 'small', 'prio'], 'all exceed a zero request: priority, then the largest user');
  t.ok(isCriticalPod(pod('static', { source: 'file' })), 'a static pod is critical');
  t.ok(isCriticalPod(pod('sys', { priority: 2_000_000_000 })), 'system-critical priority');
  t.notOk(isCriticalPod(pod('api')));
  const obs = { 'memory.available': { available: 51200 * 1024, capacity: 4 * Gi } };
  const [mem] = parseThresholds({ 'memory.available': '100Mi' }, 'x');
  t.equal(
    evictionMessage('memory', use(pod('p', { mem: '10Mi' }), 300 * Mi), [mem!], obs),
    'The node was low on resource: memory. Threshold quantity: 100Mi, available: 50Mi. Container c was using 300Mi, request is 10Mi, has larger consumption of memory. ',
  );
  t.equal(
    evictionMessage('ephemeral-storage', use(pod('p'), 0, Mi), [disk!], {
      'nodefs.available': { available: 1000, capacity: 100 * Mi },
    }),
    'The node was low on resource: ephemeral-storage. Threshold quantity: 10Mi, available: 1000. ',
    'quantities in BinarySI form, as resource.Quantity prints them',
  );
});

t.test('image GC: records, order, amount', async (t) => {
  const img = (id: string, size = 10) => ({ id, size, tags: [`${id}:latest`] });
  let rec = detectImages(
    new Map(),
    [img('a'), img('b'), img('c'), img('pause')],
    new Set(['b']),
    new Set(['pause']),
    1000,
  );
  t.same(
    [rec.get('a')!.firstDetected, rec.get('b')!.lastUsed, rec.get('a')!.lastUsed],
    [1000, 1000, 0],
    'first detected now; last used when in use',
  );
  rec = detectImages(rec, [img('a'), img('b'), img('c'), img('pause')], new Set(['a']), new Set(['pause']), 2000);
  t.equal(rec.get('b')!.lastUsed, 1000, 'last use kept once unused');
  t.same(
    evictionOrder(rec, new Set(['a'])).map((r) => r.image.id),
    ['c', 'b'],
    'never used first, then least recently used; in use and pinned never',
  );
  rec = detectImages(rec, [img('a')], new Set(), new Set(), 3000);
  t.same([...rec.keys()], ['a'], 'records of removed images are forgotten');
  const policy = { highThresholdPercent: 85, lowThresholdPercent: 80, minAgeMs: 0 };
  t.equal(bytesToFree(1000, 160, policy), 0, '84% used: below the high threshold');
  t.equal(bytesToFree(1000, 150, policy), 50, '85%: free down to 80% (200 available)');
});
