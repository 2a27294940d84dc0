// hostNetwork pods on emulated nodes live in their node's network namespace, as on a real node
// (cluster.sh makes each node's namespace from a holder container; the agent's sandboxes join it
// with --host-network-container): a hostNetwork pod on node 1 has node 1's address and hostname,
// serves on node 1's address to another node, and, as upstream's HostPort conformance spec does
// from its host-exec pod, reaches a hostPort pod through `--interface <node IP>`. `down` removes
// the holders with the namespaces.
import t from 'tap';
import { newCluster, type EmulatedCluster } from '../harness/cluster.js';
import { IMAGES, requireDocker, requireImage } from '../harness/docker.js';
import { clusterLeftovers } from '../harness/leftovers.js';
import { requireProgram } from '../harness/require.js';
import { until } from '../harness/until.js';

async function runningPod(c: EmulatedCluster, pod: Record<string, unknown>): Promise<void> {
  const name = (pod.metadata as { name: string }).name;
  await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  await until(
    `pod ${name} Running`,
    120_000,
    async () => (await c.kubectl(['get', 'pod', name, '-o', 'jsonpath={.status.phase}'])).stdout === 'Running',
    500,
  );
}

t.test("hostNetwork pods share their emulated node's network namespace", async (t) => {
  requireProgram('curl');
  const docker = await requireDocker();
  for (const i of [IMAGES.pause, IMAGES.demo, IMAGES.busybox]) await requireImage(docker, i);
  const c = await newCluster(t);
  await c.sh(['up', '--nodes', '2'], { timeoutMs: 600_000 });

  // The namespace `ip netns` names is the holder container's.
  const holder = `${c.nodeName(1)}-netns`;
  const pid = (await docker.getContainer(holder).inspect()).State.Pid;
  t.equal(
    (await c.sh(['exec', '1', '--', 'ip', 'netns', 'identify', String(pid)])).stdout.trim(),
    c.nodeName(1),
    `node 1's namespace is held by container ${holder}`,
  );
  // A joined agent's read-only port is off by default (kubelet's); cluster.sh turns it on for its nodes.
  const readOnly = await fetch(`http://${c.nodeIP(1)}:10255/healthz`, { signal: AbortSignal.timeout(5000) }).then(
    (r) => r.status,
    (e: Error) => e.message,
  );
  t.equal(readOnly, 200, "an emulated node's read-only port answers (KUBENODE_READ_ONLY_PORT=10255 from cluster.sh)");

  const hostNet = (name: string, node: number, command: string) => ({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name },
    spec: {
      nodeName: c.nodeName(node),
      hostNetwork: true,
      terminationGracePeriodSeconds: 1,
      containers: [{ name: 'main', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sh', '-c', command] }],
    },
  });
  const HOSTNET_PORT = 18092;
  await runningPod(
    c,
    hostNet(
      'hostnet',
      1,
      `mkdir -p /www && echo hostnet on node1 > /www/index.html && exec httpd -f -p ${HOSTNET_PORT} -h /www`,
    ),
  );
  const addrs = (await c.kubectl(['exec', 'hostnet', '--', 'ip', '-4', 'addr', 'show'])).stdout;
  t.match(
    addrs,
    new RegExp(`inet ${c.nodeIP(1).replace(/\./g, '\\.')}/24`),
    `the pod's interfaces carry node 1's address ${c.nodeIP(1)}`,
  );
  t.notMatch(
    addrs,
    new RegExp(`inet ${c.hostIP.replace(/\./g, '\\.')}/`),
    "not the machine's root namespace (where the bridge has the host's address)",
  );
  t.equal(
    (await c.kubectl(['exec', 'hostnet', '--', 'hostname'])).stdout.trim(),
    c.nodeName(1),
    "its hostname is the node's",
  );
  t.equal(
    (await c.kubectl(['get', 'pod', 'hostnet', '-o', 'jsonpath={.status.podIP}'])).stdout,
    c.nodeIP(1),
    'status.podIP is the node IP',
  );
  const fromNode2 = await c.exec(2, ['curl', '-sS', '--max-time', '5', `http://${c.nodeIP(1)}:${HOSTNET_PORT}/`], {
    allowFailure: true,
  });
  t.equal(
    fromNode2.stdout,
    'hostnet on node1\n',
    `node 2 reaches the hostNetwork pod's server on ${c.nodeIP(1)}:${HOSTNET_PORT} (${fromNode2.stderr})`,
  );

  // The HostPort conformance spec's shape: a hostPort pod, reached from a hostNetwork pod on the
  // same node with the node's address as source (curl --interface), and from another node.
  const HOST_PORT = 18093;
  await runningPod(c, {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'hostport' },
    spec: {
      nodeName: c.nodeName(1),
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image: IMAGES.demo,
          imagePullPolicy: 'Never',
          ports: [{ containerPort: 8080, hostPort: HOST_PORT, hostIP: c.nodeIP(1) }],
          env: [{ name: 'POD_NAME', value: 'hostport' }],
        },
      ],
    },
  });
  const viaInterface = await until(
    'the hostPort pod to answer from the hostNetwork pod',
    30_000,
    async () => {
      const r = await c.kubectl(
        ['exec', 'hostnet', '--', 'timeout', '5', 'wget', '-qO-', `http://${c.nodeIP(1)}:${HOST_PORT}/`],
        { allowFailure: true },
      );
      return r.code === 0 ? r.stdout : undefined;
    },
    500,
  );
  t.match(
    viaInterface,
    /pod=hostport/,
    `from the hostNetwork pod on node 1: ${c.nodeIP(1)}:${HOST_PORT} is the hostPort pod`,
  );
  const bound = await c.exec(
    2,
    ['curl', '-sS', '--max-time', '5', '--interface', c.nodeIP(2), `http://${c.nodeIP(1)}:${HOST_PORT}/`],
    { allowFailure: true },
  );
  t.match(bound.stdout, /pod=hostport/, `from node 2 with --interface ${c.nodeIP(2)} (${bound.stderr})`);

  const down = await c.down();
  t.equal(down.code, 0, `cluster.sh down: ${down.stderr}`);
  t.same(await clusterLeftovers(c), [], 'down removed the namespaces and their holder containers');
});
