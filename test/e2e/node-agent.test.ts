// The NodeAgent against the real upstream control plane, authenticating as system:node:NAME
// under the Node authorizer and NodeRestriction: it registers, heartbeats through its Lease,
// gets a podCIDR from kube-controller-manager, is marked Unknown by the node controller when it
// stops, and comes back Ready when it starts again.
import t from 'tap';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CoordinationV1Api, CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { createLogger } from '../../lib/log.js';
import { quantityMilliValue, quantityValue } from '../../lib/quantity.js';
import { NodeAgent } from '../../agent/node/node-agent.js';
import { NodeOptionsError, type NodeAgentOptions } from '../../agent/node/node-options.js';
import { KUBELET_VERSION } from '../../agent/node/version.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { requireDocker } from '../harness/docker.js';
import { freePort } from '../harness/ports.js';
import { runPrefix } from '../harness/prefix.js';
import { sleep, until } from '../harness/until.js';

async function getJSON<T>(cp: ControlPlane, args: string[]): Promise<T> {
  return JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout) as T;
}

const condition = (n: V1Node, type: string) => n.status?.conditions?.find((c) => c.type === type);

t.test('a node registers, heartbeats, gets a podCIDR, goes Unknown when stopped and Ready when back', async (t) => {
  const docker = await requireDocker();
  // The node controller marks a silent node Unknown after this grace period (40 s by default).
  const cp = await startControlPlane(t, { env: { NODE_MONITOR_GRACE_PERIOD: '10s' } });
  const prefix = runPrefix();
  const name = `${prefix}-node`;
  const creds = await cp.nodeCredentials(name, ['127.0.0.1']);
  const work = mkdtempSync(join(tmpdir(), `${prefix}-`));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const podCIDRFile = join(work, 'net', 'pod-cidr');

  const lines: string[] = [];
  const logger = createLogger('node', { sink: (l) => lines.push(l), level: 'debug' });
  // The agent's log, shown when something failed (or always with KUBENODE_TEST_LOG=1).
  t.teardown(() => {
    if (!t.passing() || process.env.KUBENODE_TEST_LOG) process.stderr.write(lines.join('\n') + '\n');
  });
  let networkReady = true;
  const dockerVersion = `docker://${(await docker.version()).Version}`;
  const options: NodeAgentOptions = {
    kubeconfig: join(creds, 'kubeconfig'),
    nodeName: name,
    nodeIP: '127.0.0.1',
    registerWithTaints: [{ key: 'kubenode.io/test-run', value: prefix, effect: 'NoSchedule' }],
    labels: { 'node.kubernetes.io/kubenode-test': prefix },
    reserved: { cpu: '100m', memory: '256Mi' },
    podCIDRFile,
    rootDir: work,
    runtimeVersion: async () => `docker://${(await docker.version()).Version}`,
    readiness: async () => {
      await docker.ping();
      return networkReady
        ? { ready: true, reason: '', message: 'docker answers ping' }
        : { ready: false, reason: 'NetworkPluginNotReady', message: 'no CNI configuration (test)' };
    },
    logger,
  };
  const agent = new NodeAgent(options);
  t.teardown(() => agent.stop());
  const cidrs: string[] = [];
  agent.onPodCIDR((c) => cidrs.push(c));
  await agent.start();

  // --- registered as kubectl shows it ------------------------------------------------------------
  const node = await getJSON<V1Node>(cp, ['get', 'node', name]);
  const ready = condition(node, 'Ready');
  t.equal(ready?.status, 'True', 'Ready');
  t.equal(ready?.reason, 'KubeletReady');
  t.equal(ready?.message, 'docker answers ping', 'the readiness message is shown');
  for (const type of ['MemoryPressure', 'DiskPressure', 'PIDPressure'])
    t.equal(condition(node, type)?.status, 'False', `${type} False on this healthy machine`);
  t.same(node.status?.addresses, [
    { type: 'InternalIP', address: '127.0.0.1' },
    { type: 'Hostname', address: name },
  ]);
  const labels = node.metadata?.labels ?? {};
  t.equal(labels['kubernetes.io/hostname'], name);
  t.equal(labels['kubernetes.io/os'], 'linux');
  t.equal(labels['kubernetes.io/arch'], process.arch === 'x64' ? 'amd64' : process.arch);
  t.equal(labels['beta.kubernetes.io/os'], 'linux');
  t.equal(labels['node.kubernetes.io/kubenode-test'], prefix, 'extra labels NodeRestriction allows are applied');
  t.ok(
    node.spec?.taints?.some((x) => x.key === 'kubenode.io/test-run' && x.value === prefix && x.effect === 'NoSchedule'),
    'registered with the taint',
  );
  t.equal(node.status?.daemonEndpoints?.kubeletEndpoint?.Port, 10250);

  const cap = node.status!.capacity!;
  const alloc = node.status!.allocatable!;
  const cpus = readFileSync('/proc/cpuinfo', 'utf8').match(/^processor\s*:/gm)!.length;
  const memTotal = Number(/^MemTotal:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'))![1]) * 1024;
  t.equal(quantityValue(cap.cpu!), cpus, 'capacity.cpu is the logical CPU count');
  t.equal(quantityValue(cap.memory!), memTotal, 'capacity.memory is MemTotal');
  t.equal(cap.pods, '110');
  t.ok(quantityValue(cap['ephemeral-storage']!) > 0, 'capacity.ephemeral-storage is the root dir filesystem');
  t.equal(quantityMilliValue(alloc.cpu!), cpus * 1000 - 100, 'allocatable.cpu = capacity - reserved');
  t.equal(
    quantityValue(alloc.memory!),
    memTotal - 256 * 2 ** 20 - 100 * 2 ** 20,
    'allocatable.memory = capacity - reserved - memory.available<100Mi',
  );
  const eph = quantityValue(cap['ephemeral-storage']!);
  t.equal(
    quantityValue(alloc['ephemeral-storage']!),
    eph - Math.floor(eph * 0.1),
    'allocatable.ephemeral-storage keeps nodefs.available<10% back',
  );
  const info = node.status!.nodeInfo!;
  t.equal(info.kubeletVersion, KUBELET_VERSION);
  t.equal(info.containerRuntimeVersion, dockerVersion);
  t.equal(info.operatingSystem, 'linux');
  t.equal(info.kernelVersion, readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim());
  t.match(info.osImage, /\S/);
  const wide = (await cp.kubectl(['get', 'node', name, '--no-headers'])).stdout;
  t.match(
    wide,
    new RegExp(`^${name}\\s+Ready\\s+.*${KUBELET_VERSION.replace(/\./g, '\\.')}`),
    `kubectl get node: ${wide.trim()}`,
  );

  // --- the Lease ---------------------------------------------------------------------------------
  type Lease = {
    spec: { holderIdentity: string; leaseDurationSeconds: number; renewTime: string };
    metadata: { ownerReferences?: { kind: string; name: string; uid: string }[] };
  };
  const lease1 = await until('the Lease', 10_000, () =>
    getJSON<Lease>(cp, ['-n', 'kube-node-lease', 'get', 'lease', name]),
  );
  t.equal(lease1.spec.holderIdentity, name);
  t.equal(lease1.spec.leaseDurationSeconds, 40);
  t.same(
    lease1.metadata.ownerReferences?.map((o) => [o.kind, o.name, o.uid]),
    [['Node', name, node.metadata!.uid]],
    'owned by the Node',
  );
  const renewed = await until('a Lease renewal', 15_000, async () => {
    const l = await getJSON<Lease>(cp, ['-n', 'kube-node-lease', 'get', 'lease', name]);
    return Date.parse(l.spec.renewTime) > Date.parse(lease1.spec.renewTime) ? l : undefined;
  });
  const gap = Date.parse(renewed.spec.renewTime) - Date.parse(lease1.spec.renewTime);
  t.ok(gap >= 9_000 && gap <= 12_000, `renewed about 10 s later (${gap} ms)`);

  // --- podCIDR from kube-controller-manager, handed to the CNI IPAM through the file -------------
  const specCIDR = await until(
    'spec.podCIDR',
    20_000,
    async () => (await getJSON<V1Node>(cp, ['get', 'node', name])).spec?.podCIDR,
  );
  t.match(specCIDR, /^10\.244\.\d+\.0\/24$/);
  const fileCIDR = await until('the podCIDR file', 10_000, async () => readFileSync(podCIDRFile, 'utf8'));
  t.equal(fileCIDR, `${specCIDR}\n`, 'the file holds spec.podCIDR');
  t.equal(agent.podCIDR(), specCIDR);
  t.same(cidrs, [specCIDR], 'onPodCIDR fired once');

  // --- unchanged status is not rewritten every tick --------------------------------------------
  const writes = () => lines.filter((l) => /"msg":"wrote the (unchanged )?Node status/.test(l)).length;
  const before = writes();
  await sleep(11_000); // one status update period
  t.equal(writes(), before, 'an unchanged status is not written again within the report frequency');

  // --- a change is written at the next status update, not 5 minutes later -----------------------
  networkReady = false;
  const flipped = Date.now();
  const notReady = await until('Ready False', 15_000, async () => {
    const n = await getJSON<V1Node>(cp, ['get', 'node', name]);
    return condition(n, 'Ready')?.status === 'False' ? n : undefined;
  });
  t.ok(Date.now() - flipped < 12_000, `written within one status update period (${Date.now() - flipped} ms)`);
  t.equal(condition(notReady, 'Ready')?.reason, 'KubeletNotReady');
  t.equal(
    condition(notReady, 'Ready')?.message,
    'NetworkPluginNotReady: no CNI configuration (test)',
    'the readiness check says why',
  );
  networkReady = true;
  await until(
    'Ready True again',
    15_000,
    async () => condition(await getJSON<V1Node>(cp, ['get', 'node', name]), 'Ready')?.status === 'True',
  );

  // --- least privilege: the node's credentials reach only its own Node and Lease ---------------
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: `${prefix}-other` } }),
  });
  const kc = new KubeConfig();
  kc.loadFromFile(options.kubeconfig);
  const asNode = kc.makeApiClient(CoreV1Api);
  const other = await asNode
    .patchNode({ name: `${prefix}-other`, body: [{ op: 'add', path: '/metadata/labels', value: { x: 'y' } }] })
    .then(
      () => 'allowed',
      (e: { code?: number }) => e.code,
    );
  t.equal(other, 403, 'NodeRestriction: may not modify another Node');
  const otherLease = await kc
    .makeApiClient(CoordinationV1Api)
    .createNamespacedLease({
      namespace: 'kube-node-lease',
      body: { metadata: { name: `${prefix}-other` }, spec: { holderIdentity: name } },
    })
    .then(
      () => 'allowed',
      (e: { code?: number }) => e.code,
    );
  t.equal(otherLease, 403, "NodeRestriction: may not write another node's Lease");

  const troubles = lines.filter((l) => /"level":"(warn|error)"/.test(l));
  t.same(troubles, [], 'no warnings or errors while the apiserver was up');

  // --- stopped: the node controller notices the Lease expire ------------------------------------
  await agent.stop();
  const stoppedAt = Date.now();
  const gone = await until('the node controller to mark the node Unknown', 60_000, async () => {
    const n = await getJSON<V1Node>(cp, ['get', 'node', name]);
    return condition(n, 'Ready')?.status === 'Unknown' ? n : undefined;
  });
  t.pass(`Ready became Unknown ${Math.round((Date.now() - stoppedAt) / 1000)} s after stop()`);
  t.equal(condition(gone, 'Ready')?.reason, 'NodeStatusUnknown');
  t.match(
    (await cp.kubectl(['get', 'node', name, '--no-headers'])).stdout,
    new RegExp(`^${name}\\s+NotReady`),
    'kubectl shows NotReady',
  );

  // --- started again: adopts the existing Node, Ready again, taints untouched ------------------
  const again = new NodeAgent({ ...options, registerWithTaints: [] });
  t.teardown(() => again.stop());
  await again.start();
  const back = await until('Ready again', 15_000, async () => {
    const n = await getJSON<V1Node>(cp, ['get', 'node', name]);
    return condition(n, 'Ready')?.status === 'True' ? n : undefined;
  });
  t.equal(back.metadata?.uid, node.metadata?.uid, 'the same Node object');
  t.ok(
    back.spec?.taints?.some((x) => x.key === 'kubenode.io/test-run'),
    'the registration taint stays (taints are set at creation only)',
  );
  t.ok(
    Date.parse(String(condition(back, 'Ready')!.lastTransitionTime)) >= stoppedAt - 1000,
    'Ready has a new transition time',
  );
  t.equal(again.podCIDR(), specCIDR, 'the podCIDR is known again');
  await again.stop();
});

t.test('the apiserver away: registration retries with growing back-off, and stop() ends it', async (t) => {
  const prefix = runPrefix();
  const work = mkdtempSync(join(tmpdir(), `${prefix}-`));
  t.teardown(() => rmSync(work, { recursive: true, force: true }));
  const port = await freePort(); // nothing listens there
  const kubeconfig = join(work, 'kubeconfig');
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: 'v1',
      kind: 'Config',
      'current-context': 'c',
      clusters: [{ name: 'c', cluster: { server: `https://127.0.0.1:${port}`, 'insecure-skip-tls-verify': true } }],
      users: [{ name: 'u', user: { token: 'none' } }],
      contexts: [{ name: 'c', context: { cluster: 'c', user: 'u' } }],
    }),
  );
  const lines: string[] = [];
  const agent = new NodeAgent({
    kubeconfig,
    nodeName: `${prefix}-away`,
    nodeIP: '127.0.0.1',
    rootDir: work,
    runtimeVersion: async () => 'docker://0',
    readiness: async () => ({ ready: true, reason: '', message: '' }),
    logger: createLogger('node', { sink: (l) => lines.push(l) }),
  });
  const started = agent.start();
  await sleep(2_500);
  const retries = lines
    .map((l) => JSON.parse(l) as { msg: string; ts: string; error: string })
    .filter((l) => l.msg === 'cannot register the Node; retrying');
  t.ok(retries.length >= 3 && retries.length <= 8, `retried ${retries.length} times in 2.5 s (100 ms doubling)`);
  t.match(retries[0]?.error, /ECONNREFUSED/, 'the log says why');
  const gaps = retries.slice(1).map((r, i) => Date.parse(r.ts) - Date.parse(retries[i]!.ts));
  t.ok(gaps.at(-1)! > gaps[0]!, `the delay grows (${gaps.join(', ')} ms)`);
  const t0 = Date.now();
  await agent.stop();
  await started;
  t.ok(Date.now() - t0 < 2_000, 'stop() returns promptly and start() settles');
});

t.test('bad options are refused before anything is sent, naming the field', async (t) => {
  const base = {
    kubeconfig: '/nonexistent',
    runtimeVersion: async () => '',
    readiness: async () => ({ ready: true, reason: '', message: '' }),
    logger: createLogger('node', { sink: () => {} }),
  };
  const cases: [Partial<NodeAgentOptions>, RegExp][] = [
    [{ nodeName: 'Bad_Name' }, /nodeName: "Bad_Name" is not a DNS subdomain/],
    [{ nodeName: 'n', nodeIP: '10.0.0.300' }, /nodeIP: "10\.0\.0\.300" is not an IP address/],
    [
      { nodeName: 'n', registerWithTaints: [{ key: 'a', effect: 'Sometimes' }] },
      /registerWithTaints\[0\]\.effect: must be one of NoSchedule, PreferNoSchedule, NoExecute/,
    ],
    [{ nodeName: 'n', reserved: { memory: '1x' } }, /reserved\.memory: invalid quantity "1x"/],
    [{ nodeName: 'n', labels: { 'node-restriction.kubernetes.io/pool': 'a' } }, /may not set it on itself/],
    [{ nodeName: 'n', maxPods: 0 }, /maxPods: must be a positive integer/],
  ];
  for (const [o, re] of cases)
    t.throws(() => new NodeAgent({ ...base, nodeName: 'n', ...o } as NodeAgentOptions), {
      name: NodeOptionsError.name,
      message: re,
    });
  t.throws(
    () => new NodeAgent({ ...base, nodeName: 'n' }),
    /kubeconfig \/nonexistent/,
    'a missing kubeconfig names the file',
  );
});
