// Behaviours upstream's conformance suite found different from kubelet that need the apiserver:
// service environment variables (with and without enableServiceLinks), envFrom keys under 1.34's
// relaxed names, a failing subPathExpr fixed by updating the pod, and activeDeadlineSeconds
// lowered on a running pod. One agent as a node of the real upstream control plane.
import t from 'tap';
import { join } from 'node:path';
import type { V1Node, V1Pod, V1Service } from '@kubernetes/client-node';
import { quantityMilliValue, quantityValue } from '../../lib/quantity.js';
import { startControlPlane, type ControlPlane } from '../harness/control-plane.js';
import { createWorld, IMAGES, type AgentProcess } from '../fixtures/agent/world.js';
import { until } from '../harness/until.js';

async function getJSON<T>(cp: ControlPlane, args: string[]): Promise<T> {
  return JSON.parse((await cp.kubectl([...args, '-o', 'json'])).stdout) as T;
}

t.test(
  'apiserver pods: service env, relaxed envFrom names, subPathExpr fixed by an update, activeDeadlineSeconds lowered',
  async (t) => {
    const cp = await startControlPlane(t);
    const w = await createWorld(t);
    const ns = w.prefix;
    const creds = await cp.nodeCredentials(w.nodeName, ['127.0.0.1']);
    const agent: AgentProcess = await w.startAgent([`--kubeconfig=${join(creds, 'kubeconfig')}`], 90_000);
    t.teardown(() => {
      if (!t.passing()) process.stderr.write(`--- agent\n${agent.logs.slice(-60).join('\n')}\n`);
    });
    await until('the node Ready', 60_000, async () =>
      (
        await getJSON<{ status?: { conditions?: { type: string; status: string }[] } }>(cp, ['get', 'node', w.nodeName])
      ).status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True'),
    );
    await cp.createNamespace(ns);

    const apply = (o: object) => cp.kubectl(['apply', '-f', '-'], { input: JSON.stringify(o) });
    const pod = (name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) => ({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name, namespace: ns, ...metadata },
      spec: { nodeName: w.nodeName, terminationGracePeriodSeconds: 2, ...spec },
    });
    const get = (name: string) => getJSON<V1Pod>(cp, ['-n', ns, 'get', 'pod', name]);
    const logs = async (name: string) => (await agent.get(`/containerLogs/${ns}/${name}/main`)).body;

    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web-front', namespace: ns },
      spec: {
        ports: [
          { name: 'http', port: 80 },
          { name: 'metrics', port: 9100 },
        ],
      },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'headless', namespace: ns },
      spec: { clusterIP: 'None', ports: [{ port: 80 }] },
    });
    await apply({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'data', namespace: ns },
      data: { '1-data-1': 'value-1', 'data-2': 'value-2' },
    });
    const kubernetes = await getJSON<V1Service>(cp, ['-n', 'default', 'get', 'service', 'kubernetes']);
    const web = await getJSON<V1Service>(cp, ['-n', ns, 'get', 'service', 'web-front']);

    // --- service environment variables; envFrom keys that are not C identifiers ------------------------
    const printEnv = {
      name: 'main',
      image: IMAGES.busybox,
      imagePullPolicy: 'Never',
      command: ['env'],
      envFrom: [{ configMapRef: { name: 'data' }, prefix: '$_-' }],
      // No limits: the node's allocatable (as the conformance spec "Downward API should provide default limits.cpu/memory from node allocatable").
      env: [
        { name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu' } } },
        { name: 'MEMORY_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '0' } } },
      ],
    };
    await apply(pod('links', { restartPolicy: 'Never', containers: [printEnv] }));
    await apply(pod('no-links', { restartPolicy: 'Never', enableServiceLinks: false, containers: [printEnv] }));
    for (const name of ['links', 'no-links'])
      await until(`${name} Succeeded`, 90_000, async () => (await get(name)).status?.phase === 'Succeeded');
    const env = (text: string) =>
      new Map(
        text
          .trim()
          .split('\n')
          .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
      );
    const links = env(await logs('links'));
    t.equal(
      links.get('KUBERNETES_SERVICE_HOST'),
      kubernetes.spec!.clusterIP,
      'KUBERNETES_SERVICE_HOST is the kubernetes Service',
    );
    t.equal(links.get('KUBERNETES_SERVICE_PORT'), '443');
    t.equal(links.get('KUBERNETES_PORT_443_TCP'), `tcp://${kubernetes.spec!.clusterIP}:443`);
    t.equal(links.get('WEB_FRONT_SERVICE_HOST'), web.spec!.clusterIP, "a Service of the pod's namespace");
    t.equal(links.get('WEB_FRONT_SERVICE_PORT_METRICS'), '9100', 'its named ports');
    t.equal(links.get('WEB_FRONT_PORT'), `tcp://${web.spec!.clusterIP}:80`);
    t.notOk(
      [...links.keys()].some((k) => k.startsWith('HEADLESS_')),
      'no variables for a headless Service',
    );
    t.equal(links.get('$_-1-data-1'), 'value-1', 'an envFrom key with a relaxed name is kept');
    const node = await getJSON<V1Node>(cp, ['get', 'node', w.nodeName]);
    t.equal(
      links.get('MEMORY_LIMIT'),
      String(quantityValue(node.status!.allocatable!.memory!)),
      "an unset memory limit is the Node's allocatable memory, in bytes",
    );
    t.equal(
      links.get('CPU_LIMIT'),
      String(Math.ceil(quantityMilliValue(node.status!.allocatable!.cpu!) / 1000)),
      "an unset CPU limit is the Node's allocatable CPU, in cores",
    );
    const noLinks = env(await logs('no-links'));
    t.equal(
      noLinks.get('KUBERNETES_SERVICE_HOST'),
      kubernetes.spec!.clusterIP,
      'enableServiceLinks false: the master service still',
    );
    t.equal(noLinks.get('WEB_FRONT_SERVICE_HOST'), undefined, 'but not the namespace’s Services');

    // --- a failing subPathExpr, fixed while the pod exists (as the conformance spec) -------------------
    await apply(
      pod(
        'subpath',
        {
          containers: [
            {
              name: 'main',
              image: IMAGES.busybox,
              imagePullPolicy: 'Never',
              command: ['sleep', '3600'],
              env: [
                { name: 'POD_NAME', value: 'foo' },
                { name: 'ANNOTATION', valueFrom: { fieldRef: { fieldPath: "metadata.annotations['mysubpath']" } } },
              ],
              volumeMounts: [
                { name: 'work', mountPath: '/subpath_mount', subPathExpr: '$(ANNOTATION)/$(POD_NAME)' },
                { name: 'work', mountPath: '/volume_mount' },
              ],
            },
          ],
          volumes: [{ name: 'work', emptyDir: {} }],
        },
        { annotations: { notmysubpath: 'mypath' } },
      ),
    );
    const waiting = await until(
      'CreateContainerConfigError',
      60_000,
      async () =>
        (await get('subpath')).status?.containerStatuses?.[0]?.state?.waiting?.reason ===
          'CreateContainerConfigError' && (await get('subpath')),
    );
    t.equal(
      waiting.status!.containerStatuses![0]!.state!.waiting!.message,
      'missing value for ANNOTATION',
      "kubelet's message",
    );
    t.equal(waiting.status!.phase, 'Pending');
    await cp.kubectl(['-n', ns, 'annotate', 'pod', 'subpath', 'mysubpath=mypath']);
    await until(
      'subpath Running after the update',
      60_000,
      async () => (await get('subpath')).status?.containerStatuses?.[0]?.state?.running,
    );
    t.pass('the updated annotation let the container start');

    // --- activeDeadlineSeconds lowered on a running pod ------------------------------------------------
    await apply(
      pod('deadline', {
        activeDeadlineSeconds: 3600,
        containers: [{ name: 'main', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] }],
      }),
    );
    await until(
      'deadline Running',
      60_000,
      async () => (await get('deadline')).status?.containerStatuses?.[0]?.state?.running,
    );
    await cp.kubectl([
      '-n',
      ns,
      'patch',
      'pod',
      'deadline',
      '-p',
      JSON.stringify({ spec: { activeDeadlineSeconds: 5 } }),
    ]);
    const failed = await until('deadline Failed', 60_000, async () => {
      const p = await get('deadline');
      return p.status?.phase === 'Failed' && p;
    });
    t.match(failed.status, {
      reason: 'DeadlineExceeded',
      message: 'Pod was active on the node longer than the specified deadline',
    });

    await cp.kubectl(['delete', 'namespace', ns, '--wait=true', '--timeout=60s'], { allowFailure: true });
  },
);
