// From a Kubernetes container to Docker create options: command/args semantics, env with the
// downward API and $(VAR) expansion, securityContext, cgroup values, names and labels.
import t from 'tap';
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import { buildContainerConfig, buildSandboxConfig } from '../../agent/runtime/container-spec.js';
import { expand, resolveEnv } from '../../agent/podspec/env.js';
import { parseContainerName } from '../../agent/runtime/naming.js';

const pod = (c: V1Container, spec: Partial<NonNullable<V1Pod['spec']>> = {}): V1Pod => ({
  metadata: { name: 'web-n1', namespace: 'shop', uid: 'uid-1', labels: { app: 'web' } },
  spec: { containers: [c], nodeName: 'n1', terminationGracePeriodSeconds: 7, ...spec },
});
const envCtx = (p: V1Pod) => ({
  pod: p,
  podIPs: ['10.1.0.5'],
  hostIPs: ['192.168.56.10'],
  nodeCpuMilli: 2000,
  nodeMemoryBytes: 4 * 2 ** 30,
});
const config = (c: V1Container, spec: Partial<NonNullable<V1Pod['spec']>> = {}) => {
  const p = pod(c, spec);
  return buildContainerConfig({
    pod: p,
    container: c,
    isInit: false,
    attempt: 2,
    hash: 'h1',
    sandboxId: 'sbx',
    cgroupParent: '/kubepods/burstable/poduid-1',
    qos: 'Burstable',
    memoryCapacityBytes: 2 ** 30,
    instance: 'test',
    image: c.image!,
    env: resolveEnv(c, envCtx(p), 'spec.containers[0]'),
    mounts: [{ hostPath: '/h', containerPath: '/c', readOnly: true }],
  });
};

t.test('command replaces ENTRYPOINT, args replace CMD', async (t) => {
  const both = config({ name: 'a', image: 'i', command: ['/bin/sh', '-c'], args: ['echo hi'] });
  t.same([both.Entrypoint, both.Cmd], [['/bin/sh', '-c'], ['echo hi']]);
  const cmdOnly = config({ name: 'a', image: 'i', command: ['/app'] });
  t.same(
    [cmdOnly.Entrypoint, cmdOnly.Cmd],
    [['/app'], undefined],
    "the image's CMD is dropped by Docker when ENTRYPOINT is given",
  );
  const argsOnly = config({ name: 'a', image: 'i', args: ['--port', '80'] });
  t.same([argsOnly.Entrypoint, argsOnly.Cmd], [undefined, ['--port', '80']], "the image's ENTRYPOINT stays");
  const neither = config({ name: 'a', image: 'i', command: [] });
  t.same([neither.Entrypoint, neither.Cmd], [undefined, undefined]);
  const expanded = config({
    name: 'a',
    image: 'i',
    env: [{ name: 'PORT', value: '8080' }],
    command: ['serve', '--port=$(PORT)', '$$(PORT)', '$(MISSING)'],
  });
  t.same(expanded.Entrypoint, ['serve', '--port=8080', '$(PORT)', '$(MISSING)']);
});

t.test('env: values, $(VAR) references, downward API', async (t) => {
  const c: V1Container = {
    name: 'a',
    image: 'i',
    resources: { limits: { cpu: '250m', memory: '64Mi' } },
    env: [
      { name: 'A', value: 'x' },
      { name: 'B', value: '$(A)-y' },
      { name: 'NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'NS', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
      { name: 'UID', valueFrom: { fieldRef: { fieldPath: 'metadata.uid' } } },
      { name: 'IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
      { name: 'HOST', valueFrom: { fieldRef: { fieldPath: 'status.hostIP' } } },
      { name: 'NODE', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
      { name: 'APP', valueFrom: { fieldRef: { fieldPath: "metadata.labels['app']" } } },
      { name: 'CPU_M', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '1m' } } },
      { name: 'CPU', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
      { name: 'MEM_MI', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
      { name: 'A', value: 'last wins' },
    ],
  };
  const env = Object.fromEntries(resolveEnv(c, envCtx(pod(c)), 'spec.containers[0]').map((e) => [e.name, e.value]));
  t.same(env, {
    A: 'last wins',
    B: 'x-y',
    NAME: 'web-n1',
    NS: 'shop',
    UID: 'uid-1',
    IP: '10.1.0.5',
    HOST: '192.168.56.10',
    NODE: 'n1',
    APP: 'web',
    CPU_M: '250',
    CPU: '1',
    MEM_MI: '64',
  });
  t.throws(
    () =>
      resolveEnv(
        { name: 'a', image: 'i', env: [{ name: 'S', valueFrom: { secretKeyRef: { name: 'db', key: 'pw' } } }] },
        envCtx(pod(c)),
        'spec.containers[0]',
      ),
    { name: 'ContainerConfigError', field: 'spec.containers[0].env[0].valueFrom', message: /secret "db" not found/ },
    'secrets need the apiserver',
  );
  t.equal(expand('$(A)$(A) $$ $x', new Map([['A', '1']])), '11 $ $x');
});

t.test('securityContext, resources, namespaces, labels', async (t) => {
  const o = config(
    {
      name: 'app',
      image: 'img:1',
      workingDir: '/srv',
      resources: { requests: { cpu: '100m' }, limits: { cpu: '200m', memory: '32Mi' } },
      securityContext: {
        runAsUser: 1000,
        runAsGroup: 3000,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
        capabilities: { add: ['NET_ADMIN'], drop: ['ALL'] },
      },
      lifecycle: { preStop: { exec: { command: ['sleep', '1'] } } },
    },
    { securityContext: { supplementalGroups: [5], runAsUser: 1 } },
  );
  t.equal(o.name, 'k8s_app_web-n1_shop_uid-1_2');
  t.same(parseContainerName(o.name!), { container: 'app', pod: 'web-n1', namespace: 'shop', uid: 'uid-1', attempt: 2 });
  t.equal(o.User, '1000:3000', 'the container value wins over the pod value');
  t.equal(o.WorkingDir, '/srv');
  const h = o.HostConfig!;
  t.equal(h.NetworkMode, 'container:sbx');
  t.equal(h.IpcMode, 'container:sbx');
  t.equal(h.CgroupParent, '/kubepods/burstable/poduid-1');
  t.equal(h.CpuShares, 102);
  t.equal(h.CpuQuota, 20000);
  t.equal(h.CpuPeriod, 100000);
  t.equal(h.Memory, 32 * 2 ** 20);
  t.equal(h.MemorySwap, 32 * 2 ** 20);
  t.equal(h.ReadonlyRootfs, true);
  t.same(h.CapAdd, ['CAP_NET_ADMIN']);
  t.same(h.CapDrop, ['ALL']);
  t.same(h.SecurityOpt, ['no-new-privileges']);
  t.same(h.GroupAdd, ['5']);
  t.same(h.Binds, ['/h:/c:ro']);
  t.equal(h.OomScoreAdj, 969, 'Burstable: 1000 - 1000 * 32Mi / 1Gi');
  const l = o.Labels!;
  t.equal(l['io.kubernetes.pod.uid'], 'uid-1');
  t.equal(l['io.kubernetes.container.name'], 'app');
  t.equal(l['io.kubernetes.container.restartCount'], '2');
  t.equal(l['io.kubernetes.container.hash'], 'h1');
  t.equal(l['io.kubernetes.pod.terminationGracePeriod'], '7');
  t.equal(l['kubenode.io/instance'], 'test');
  t.same(JSON.parse(l['io.kubernetes.container.preStopHandler']!), { exec: { command: ['sleep', '1'] } });
  t.same(config({ name: 'a', image: 'i' }, { shareProcessNamespace: true }).HostConfig!.PidMode, 'container:sbx');
});

t.test('the sandbox: no network, shareable IPC, pod cgroup, hostname', async (t) => {
  const p = pod({ name: 'a', image: 'i' });
  const s = buildSandboxConfig({
    pod: p,
    attempt: 0,
    cgroupParent: '/kubepods/podu',
    instance: 'test',
    image: 'kubenode/pause:latest',
    minOomScoreAdj: 0,
    hostname: 'web-n1',
  });
  t.equal(s.name, 'k8s_POD_web-n1_shop_uid-1_0');
  t.equal(s.Hostname, 'web-n1', 'the hostname pods/pod-dns.ts planned');
  t.equal(s.HostConfig!.NetworkMode, 'none', 'the CNI plugin wires it');
  t.equal(s.HostConfig!.IpcMode, 'shareable');
  t.equal(s.HostConfig!.CgroupParent, '/kubepods/podu');
  t.equal(s.HostConfig!.OomScoreAdj, 0, 'clamped where a negative score is not allowed');
  t.equal(s.Labels!['io.kubernetes.docker.type'], 'podsandbox');
  const hn = buildSandboxConfig({
    pod: pod({ name: 'a', image: 'i' }, { hostNetwork: true }),
    attempt: 1,
    cgroupParent: '/x',
    instance: 't',
    image: 'p',
    hostname: 'ignored',
  });
  t.equal(hn.HostConfig!.NetworkMode, 'host');
  t.equal(hn.Hostname, undefined, "a host-network pod keeps the node's hostname");
  t.equal(hn.HostConfig!.OomScoreAdj, -998);
  const emulated = buildSandboxConfig({
    pod: pod({ name: 'a', image: 'i' }, { hostNetwork: true }),
    attempt: 0,
    cgroupParent: '/x',
    instance: 't',
    image: 'p',
    hostNetworkMode: 'container:holder-id',
  });
  t.equal(
    emulated.HostConfig!.NetworkMode,
    'container:holder-id',
    "on an emulated node: the holder of the node's namespace",
  );
  t.equal(
    emulated.Hostname,
    undefined,
    'Docker refuses a hostname with a container network mode; the holder carries the node name',
  );
  const podNet = buildSandboxConfig({
    pod: pod({ name: 'a', image: 'i' }),
    attempt: 0,
    cgroupParent: '/x',
    instance: 't',
    image: 'p',
    hostNetworkMode: 'container:holder-id',
  });
  t.equal(podNet.HostConfig!.NetworkMode, 'none', 'a pod-network pod is not affected');
});

t.test("an ephemeral container: the sandbox's network and IPC, its target's PID namespace, labelled", async (t) => {
  const c: V1Container = { name: 'debugger', image: 'busybox' };
  const p = pod({ name: 'app', image: 'i' }, { shareProcessNamespace: true });
  const base = {
    pod: p,
    container: c,
    isInit: false,
    attempt: 0,
    hash: 'h',
    sandboxId: 'sbx',
    cgroupParent: '/kubepods/poduid-1',
    qos: 'BestEffort' as const,
    memoryCapacityBytes: 2 ** 30,
    instance: 'test',
    image: 'busybox',
    env: [],
    mounts: [],
  };
  const targeted = buildContainerConfig({ ...base, ephemeral: true, targetContainerId: 'app-id' });
  t.same(
    [targeted.HostConfig!.NetworkMode, targeted.HostConfig!.IpcMode, targeted.HostConfig!.PidMode],
    ['container:sbx', 'container:sbx', 'container:app-id'],
    'the target wins over the pod-wide PID namespace',
  );
  t.equal(targeted.Labels!['kubenode.io/ephemeral-container'], 'true');
  t.equal(
    buildContainerConfig({ ...base, ephemeral: true }).HostConfig!.PidMode,
    'container:sbx',
    "without a target: the pod's own sharing",
  );
});
