// Container environment details found by upstream's conformance suite: resourceFieldRef divisors
// (a zero divisor is 1), relaxed variable names, service environment variables, subPathExpr.
import t from 'tap';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { resolveContainerEnv, resourceValue } from '../../agent/pods/env.js';
import { projectDownwardAPI } from '../../agent/volumes/payload.js';

const node = { nodeCpuMilli: 2000, nodeMemoryBytes: 2 ** 33 };

t.test('resourceFieldRef: a zero or unset divisor is 1; CPU rounds up to cores, memory in bytes', async (t) => {
  const c: V1Container = { name: 'c', image: 'i', resources: { requests: { cpu: '250m', memory: '32Mi' }, limits: { cpu: '1250m', memory: '64Mi' } } };
  t.equal(resourceValue(c, 'limits.cpu', '0', node), '2', 'divisor "0" (the API default): 1250m rounds up to 2 cores');
  t.equal(resourceValue(c, 'limits.cpu', 0, node), '2', 'a numeric zero too');
  t.equal(resourceValue(c, 'requests.cpu', undefined, node), '1', 'unset divisor: 250m rounds up to 1');
  t.equal(resourceValue(c, 'limits.memory', '0', node), String(64 * 2 ** 20), 'memory in bytes');
  t.equal(resourceValue(c, 'requests.memory', '1Mi', node), '32');
  t.equal(resourceValue(c, 'limits.cpu', '1m', node), '1250');
  t.equal(resourceValue(c, 'limits.memory', '1k', node), String(Math.ceil(64 * 2 ** 20 / 1000)), 'rounded up');
  const bare: V1Container = { name: 'b', image: 'i' };
  t.equal(resourceValue(bare, 'limits.cpu', '0', node), '2', 'no limit: node allocatable CPU (2000m = 2)');
  t.equal(resourceValue(bare, 'limits.memory', '0', node), String(2 ** 33), 'no limit: node allocatable memory');
  t.equal(resourceValue(bare, 'requests.cpu', '0', node), '0', 'no request: 0');

  const pod: V1Pod = { metadata: { name: 'p', namespace: 'ns', uid: 'u' }, spec: { containers: [{ ...c, env: [
    { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '0' } } },
    { name: 'MEMORY_REQUEST', valueFrom: { resourceFieldRef: { resource: 'requests.memory', divisor: '0' } } },
  ] }] } };
  const env = resolveContainerEnv(pod.spec!.containers[0]!, { pod, podIPs: [], hostIPs: [], ...node }, 'spec.containers[0]').env;
  t.same(env.filter((e) => e.name.includes('_')), [{ name: 'CPU_LIMIT', value: '2' }, { name: 'MEMORY_REQUEST', value: String(32 * 2 ** 20) }], 'env');
  const files = projectDownwardAPI([{ path: 'cpu_limit', resourceFieldRef: { containerName: 'c', resource: 'limits.cpu', divisor: '0' } }], 0o644, { pod, ...node });
  t.equal(files.get('cpu_limit')!.data.toString(), '2', 'downwardAPI volume items');
});
