import t from 'tap';
import { pressureConditions, readyCondition, withTimes } from '../../agent/node/conditions.js';
import { DEFAULT_EVICTION_HARD } from '../../agent/node/eviction.js';
import type { MachineReadings } from '../../agent/node/readings.js';

const Mi = 2 ** 20;
const healthy: MachineReadings = {
  cpuCores: 2,
  memoryTotalBytes: 4096 * Mi,
  memoryAvailableBytes: 2048 * Mi,
  nodefs: { capacityBytes: 1000 * Mi, availableBytes: 500 * Mi, inodes: 10_000, inodesFree: 9_000 },
  pids: { max: 32768, inUse: 400 },
};
const by = (r: MachineReadings) =>
  Object.fromEntries(pressureConditions(r, DEFAULT_EVICTION_HARD).map((c) => [c.type, c]));

t.test('a healthy machine has no pressure, with kubelet reasons', async (t) => {
  const c = by(healthy);
  t.same([c.MemoryPressure!.status, c.MemoryPressure!.reason], ['False', 'KubeletHasSufficientMemory']);
  t.same([c.DiskPressure!.status, c.DiskPressure!.reason], ['False', 'KubeletHasNoDiskPressure']);
  t.same([c.PIDPressure!.status, c.PIDPressure!.reason], ['False', 'KubeletHasSufficientPID']);
});

t.test('memory.available<100Mi', async (t) => {
  t.equal(
    by({ ...healthy, memoryAvailableBytes: 100 * Mi }).MemoryPressure!.status,
    'False',
    'exactly at the threshold is not below it',
  );
  const c = by({ ...healthy, memoryAvailableBytes: 99 * Mi }).MemoryPressure!;
  t.same([c.status, c.reason], ['True', 'KubeletHasInsufficientMemory']);
  t.match(c.message, /memory\.available<100Mi/);
});

t.test('nodefs.available<10% and nodefs.inodesFree<5%', async (t) => {
  const bytes = by({ ...healthy, nodefs: { ...healthy.nodefs, availableBytes: 99 * Mi } }).DiskPressure!;
  t.same([bytes.status, bytes.reason], ['True', 'KubeletHasDiskPressure']);
  t.match(bytes.message, /nodefs\.available<10%/);
  t.equal(by({ ...healthy, nodefs: { ...healthy.nodefs, availableBytes: 100 * Mi } }).DiskPressure!.status, 'False');
  const inodes = by({ ...healthy, nodefs: { ...healthy.nodefs, inodesFree: 499 } }).DiskPressure!;
  t.equal(inodes.status, 'True');
  t.match(inodes.message, /nodefs\.inodesFree<5%/);
  t.equal(
    by({ ...healthy, nodefs: { ...healthy.nodefs, inodes: 0, inodesFree: 0 } }).DiskPressure!.status,
    'False',
    'a filesystem without inode accounting (inodes 0) is no pressure',
  );
});

t.test('pid.available<10%', async (t) => {
  t.equal(by({ ...healthy, pids: { max: 1000, inUse: 901 } }).PIDPressure!.status, 'True');
  t.equal(by({ ...healthy, pids: { max: 1000, inUse: 900 } }).PIDPressure!.status, 'False');
});

t.test('messages do not carry readings, so noise is not a status change', async (t) => {
  t.same(by(healthy), by({ ...healthy, memoryAvailableBytes: 2000 * Mi, pids: { max: 32768, inUse: 512 } }));
});

t.test('Ready from the readiness check', async (t) => {
  t.same(readyCondition({ ready: true, reason: '', message: '' }), {
    type: 'Ready',
    status: 'True',
    reason: 'KubeletReady',
    message: 'kubenode is posting ready status',
  });
  t.same(
    readyCondition({ ready: false, reason: 'NetworkPluginNotReady', message: 'no CNI config in /etc/cni/net.d' }),
    {
      type: 'Ready',
      status: 'False',
      reason: 'KubeletNotReady',
      message: 'NetworkPluginNotReady: no CNI config in /etc/cni/net.d',
    },
  );
  t.equal(
    readyCondition({ ready: false, reason: 'KubeletNotReady', message: 'x' }).message,
    'x',
    'the generic reason is not repeated',
  );
});

t.test('lastTransitionTime moves only when the status does; the heartbeat always', async (t) => {
  const then = new Date('2025-01-01T00:00:00Z');
  const now = new Date('2025-01-01T00:10:00Z');
  const current = [
    { type: 'Ready', status: 'True', lastTransitionTime: then, lastHeartbeatTime: then },
    { type: 'MemoryPressure', status: 'False', lastTransitionTime: then },
  ];
  const out = withTimes(
    [
      readyCondition({ ready: true, reason: '', message: '' }),
      pressureConditions(healthy, DEFAULT_EVICTION_HARD)[0]!,
      pressureConditions(healthy, DEFAULT_EVICTION_HARD)[1]!,
    ],
    current,
    now,
  );
  t.same(out[0]!.lastTransitionTime, then, 'Ready stayed True');
  t.same(out[0]!.lastHeartbeatTime, now);
  t.same(out[1]!.lastTransitionTime, then);
  t.same(out[2]!.lastTransitionTime, now, 'a condition not there before starts now');
  const unknown = withTimes(
    [readyCondition({ ready: true, reason: '', message: '' })],
    [{ type: 'Ready', status: 'Unknown', lastTransitionTime: then }],
    now,
  );
  t.same(unknown[0]!.lastTransitionTime, now, "from the node controller's Unknown back to True is a transition");
  const fromWatch = withTimes(
    [readyCondition({ ready: true, reason: '', message: '' })],
    [{ type: 'Ready', status: 'True', lastTransitionTime: '2025-01-01T00:00:00Z' as unknown as Date }],
    now,
  );
  t.same(fromWatch[0]!.lastTransitionTime, then, 'times from a raw watch event (strings) are understood');
});

t.test("the eviction manager's decision wins over the readings where it decides", async (t) => {
  const low = { ...healthy, memoryAvailableBytes: 10 * Mi };
  const c = Object.fromEntries(
    pressureConditions(low, DEFAULT_EVICTION_HARD, { MemoryPressure: [], DiskPressure: ['imagefs.available<15%'] }).map(
      (x) => [x.type, x],
    ),
  );
  t.equal(c.MemoryPressure!.status, 'False', "not crossed in the manager's round: False, whatever this reading says");
  t.same(
    [c.DiskPressure!.status, c.DiskPressure!.message],
    ['True', 'the node filesystem is below the hard eviction threshold imagefs.available<15%'],
    'True, naming the threshold that was crossed',
  );
  t.equal(c.PIDPressure!.status, 'False', 'a condition the manager does not decide comes from the readings');
});
