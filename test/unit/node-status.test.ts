import t from 'tap';
import type { V1NodeStatus } from '@kubernetes/client-node';
import { DEFAULT_EVICTION_HARD } from '../../agent/node/eviction.js';
import {
  desiredNodeStatus,
  nodeAddresses,
  statusChanges,
  statusWriteDue,
  type StatusInputs,
} from '../../agent/node/node-status.js';
import { KUBELET_VERSION } from '../../agent/node/version.js';

const Mi = 2 ** 20;
const inputs: StatusInputs = {
  readings: {
    cpuCores: 2,
    memoryTotalBytes: 4096 * Mi,
    memoryAvailableBytes: 3000 * Mi,
    nodefs: { capacityBytes: 10_240 * Mi, availableBytes: 5000 * Mi, inodes: 100, inodesFree: 90 },
    pids: { max: 4096, inUse: 100 },
  },
  readiness: { ready: true, reason: '', message: 'runtime and network ready' },
  facts: {
    machineID: 'm',
    systemUUID: 'u',
    bootID: 'b',
    kernelVersion: '6.1.0',
    osImage: 'Debian GNU/Linux 12 (bookworm)',
    operatingSystem: 'linux',
    architecture: 'amd64',
  },
  runtimeVersion: 'docker://28.2.2',
  nodeIP: '192.0.2.7',
  hostname: 'node-a',
  maxPods: 110,
  reserved: {},
  evictionHard: DEFAULT_EVICTION_HARD,
  kubeletPort: 10250,
};
const t0 = new Date('2025-01-01T00:00:00Z');
const t1 = new Date('2025-01-01T00:00:10Z');
// What the apiserver hands back: the same status through JSON (dates become strings).
const roundTrip = (s: V1NodeStatus): V1NodeStatus => JSON.parse(JSON.stringify(s));

t.test('the status carries addresses, nodeInfo, endpoints, resources and four conditions', async (t) => {
  const s = desiredNodeStatus(inputs, undefined, t0);
  t.same(s.addresses, [
    { type: 'InternalIP', address: '192.0.2.7' },
    { type: 'Hostname', address: 'node-a' },
  ]);
  t.same(nodeAddresses(undefined, 'h'), [{ type: 'Hostname', address: 'h' }], 'no node IP: only the hostname');
  t.equal(s.nodeInfo?.kubeletVersion, KUBELET_VERSION);
  t.equal(s.nodeInfo?.containerRuntimeVersion, 'docker://28.2.2');
  t.equal(s.nodeInfo?.kubeProxyVersion, '', 'deprecated: not claimed');
  t.equal(s.daemonEndpoints?.kubeletEndpoint?.Port, 10250);
  t.same(
    s.conditions?.map((c) => c.type),
    ['MemoryPressure', 'DiskPressure', 'PIDPressure', 'Ready'],
  );
  t.same(s.capacity, { cpu: '2', 'ephemeral-storage': '10Gi', memory: '4Gi', pods: '110' });
});

t.test('a heartbeat alone or noisy readings are not a change', async (t) => {
  const written = roundTrip(desiredNodeStatus(inputs, undefined, t0));
  const next = desiredNodeStatus(
    { ...inputs, readings: { ...inputs.readings, memoryAvailableBytes: 2500 * Mi } },
    written,
    t1,
  );
  t.same(statusChanges(written, next), []);
});

t.test('each kind of change is named', async (t) => {
  const written = roundTrip(desiredNodeStatus(inputs, undefined, t0));
  const change = (over: Partial<StatusInputs>) =>
    statusChanges(written, desiredNodeStatus({ ...inputs, ...over }, written, t1));
  t.same(change({ readiness: { ready: false, reason: 'NetworkPluginNotReady', message: 'no CNI config' } }), [
    'condition Ready',
  ]);
  t.same(
    change({ readiness: { ready: true, reason: '', message: 'another message' } }),
    ['condition Ready'],
    'a new message is a change',
  );
  t.same(change({ readings: { ...inputs.readings, memoryAvailableBytes: 50 * Mi } }), ['condition MemoryPressure']);
  t.same(change({ runtimeVersion: 'docker://29.0.0' }), ['nodeInfo.containerRuntimeVersion']);
  t.same(change({ nodeIP: '192.0.2.8' }), ['addresses']);
  t.same(change({ reserved: { cpu: '500m' } }), ['allocatable']);
  t.same(change({ maxPods: 50 }), ['capacity', 'allocatable']);
  t.same(change({ kubeletPort: 10251 }), ['daemonEndpoints']);
  t.same(statusChanges(undefined, written), ['no status yet']);
});

t.test("the node controller's Unknown is a change to write over", async (t) => {
  const written = roundTrip(desiredNodeStatus(inputs, undefined, t0));
  const marked = {
    ...written,
    conditions: written.conditions!.map((c) => ({
      ...c,
      status: 'Unknown',
      reason: 'NodeStatusUnknown',
      message: 'Kubelet stopped posting node status.',
    })),
  };
  const next = desiredNodeStatus(inputs, marked, t1);
  t.same(statusChanges(marked, next), [
    'condition MemoryPressure',
    'condition DiskPressure',
    'condition PIDPressure',
    'condition Ready',
  ]);
  t.same(
    next.conditions!.map((c) => c.lastTransitionTime),
    [t1, t1, t1, t1],
    'every condition transitions now',
  );
});

t.test('conditions other components own are not ours to compare', async (t) => {
  const written = roundTrip(desiredNodeStatus(inputs, undefined, t0));
  const withForeign = {
    ...written,
    conditions: [...written.conditions!, { type: 'NetworkUnavailable', status: 'False' }],
  };
  t.same(statusChanges(withForeign, desiredNodeStatus(inputs, withForeign, t1)), []);
});

t.test('a status is written when changed, never written, or 5 minutes old', async (t) => {
  const every = 5 * 60_000;
  t.ok(statusWriteDue({ changed: true, lastWriteMs: 1000, nowMs: 2000, reportFrequencyMs: every }));
  t.ok(statusWriteDue({ changed: false, lastWriteMs: undefined, nowMs: 2000, reportFrequencyMs: every }));
  t.notOk(statusWriteDue({ changed: false, lastWriteMs: 0, nowMs: every - 1, reportFrequencyMs: every }));
  t.ok(statusWriteDue({ changed: false, lastWriteMs: 0, nowMs: every, reportFrequencyMs: every }));
});
