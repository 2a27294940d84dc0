import t from 'tap';
import { allocatableOf, capacityOf, resourceList, sameResources } from '../../agent/node/capacity.js';
import { DEFAULT_EVICTION_HARD } from '../../agent/node/eviction.js';
import type { MachineReadings } from '../../agent/node/readings.js';

const Mi = 2 ** 20;
const Gi = 2 ** 30;
const machine: MachineReadings = {
  cpuCores: 4,
  memoryTotalBytes: 8 * Gi,
  memoryAvailableBytes: 6 * Gi,
  nodefs: { capacityBytes: 100 * Gi, availableBytes: 50 * Gi, inodes: 1000, inodesFree: 900 },
  pids: { max: 32768, inUse: 300 },
};

t.test('capacity is what the machine has', async (t) => {
  t.same(resourceList(capacityOf(machine, 110)), {
    cpu: '4',
    'ephemeral-storage': '100Gi',
    memory: '8Gi',
    pods: '110',
  });
});

t.test('allocatable = capacity - reserved - hard eviction thresholds', async (t) => {
  const cap = capacityOf(machine, 110);
  const a = allocatableOf(cap, { cpu: '250m', memory: '512Mi' }, DEFAULT_EVICTION_HARD);
  t.equal(a.cpuMilli, 3750);
  t.equal(a.memoryBytes, 8 * Gi - 512 * Mi - 100 * Mi, 'memory.available<100Mi is kept back too');
  t.equal(a.ephemeralStorageBytes, 100 * Gi - Math.floor(100 * Gi * 0.1), 'nodefs.available<10% is kept back');
  t.equal(a.pods, 110);
  t.same(resourceList(a), { cpu: '3750m', 'ephemeral-storage': '90Gi', memory: '7580Mi', pods: '110' });
  const none = allocatableOf(cap, {}, DEFAULT_EVICTION_HARD);
  t.equal(none.cpuMilli, 4000, 'nothing reserved: all CPUs');
});

t.test('allocatable never goes below zero', async (t) => {
  const a = allocatableOf(capacityOf(machine, 10), { cpu: '64', memory: '1Ti' }, DEFAULT_EVICTION_HARD);
  t.equal(a.cpuMilli, 0);
  t.equal(a.memoryBytes, 0);
});

t.test('resource lists are compared by value, as the apiserver canonicalises quantities', async (t) => {
  t.ok(sameResources({ cpu: '2', memory: '1024Mi' }, { cpu: '2000m', memory: '1Gi' }));
  t.ok(sameResources({ storage: '5000' }, { storage: '5k' }));
  t.notOk(sameResources({ cpu: '2' }, { cpu: '1900m' }));
  t.notOk(sameResources({ cpu: '2' }, { cpu: '2', pods: '110' }), 'a new resource is a change');
  t.ok(sameResources(undefined, {}));
});
