// The whole product on emulated nodes: `cluster.sh up --nodes 3` with the real control plane,
// agent, proxy, CNI plugins and host-gw routes; kubectl logs and exec through a node; a hostPort;
// the demo Deployment behind a NodePort.
import t, { type Test } from 'tap';
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { DEMO_NODE_PORT, demoPods, deployDemo, newCluster, type EmulatedCluster } from '../harness/cluster.js';
import { IMAGES, requireDocker, requireImage } from '../harness/docker.js';
import { SCRIPTS } from '../harness/control-plane.js';
import { clusterLeftovers } from '../harness/leftovers.js';
import { getOnce, parseAnswer } from '../harness/traffic.js';
import { until } from '../harness/until.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A pod pinned to a node (spec.nodeName: no scheduler involved), waited for until Running with an IP. */
async function pinnedPod(
  c: EmulatedCluster,
  name: string,
  node: string,
  image: string,
  command?: string[],
  ports?: { containerPort: number; hostPort?: number }[],
): Promise<{ ip: string }> {
  const pod = {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { test: 'pinned' } },
    spec: {
      nodeName: node,
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image,
          imagePullPolicy: 'Never',
          ...(command ? { command } : {}),
          ...(ports ? { ports } : {}),
          env: [
            { name: 'POD_NAME', value: name },
            { name: 'NODE_NAME', value: node },
          ],
        },
      ],
    },
  };
  await c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod) });
  for (let k = 0; k < 240; k++) {
    const r = await c.kubectl(['get', 'pod', name, '-o', 'jsonpath={.status.phase} {.status.podIP}']);
    const [phase, ip] = r.stdout.trim().split(' ');
    if (phase === 'Running' && ip) return { ip };
    await sleep(500);
  }
  throw new Error(
    `pod ${name} on ${node} not Running with an IP after 120s: ${(await c.kubectl(['describe', 'pod', name], { allowFailure: true })).stdout}`,
  );
}

/** Docker is shared with other clusters: the node's instance label tells ours apart. */
async function containerOf(pod: string, node: string): Promise<string> {
  const r = await run('docker', [
    'ps',
    '-q',
    '--filter',
    `label=io.kubernetes.pod.name=${pod}`,
    '--filter',
    `label=kubenode.io/instance=${node}`,
    '--filter',
    'label=io.kubernetes.container.name=main',
  ]);
  const id = r.stdout.trim().split('\n')[0];
  if (!id) throw new Error(`no running container for pod ${pod}`);
  return id;
}

/** What node 1's proxy programmed for the demo Service and what it logged: printed when a replica never answered. */
async function whyNotEveryReplica(c: EmulatedCluster): Promise<string> {
  const nat = (await c.exec(1, ['iptables-save', '-t', 'nat'], { allowFailure: true })).stdout
    .split('\n')
    .filter((l) => /demo/.test(l));
  const slices = (
    await c.kubectl(['get', 'endpointslices', '-l', 'kubernetes.io/service-name=demo', '-o', 'yaml'], {
      allowFailure: true,
    })
  ).stdout;
  const proxyLog = (await c.sh(['logs', '1', 'proxy'], { allowFailure: true })).stdout.split('\n').slice(-60);
  return [
    'node 1 nat rules for demo:',
    ...nat,
    'EndpointSlices:',
    slices,
    'node 1 proxy log (last 60 lines):',
    ...proxyLog,
  ].join('\n');
}

/** kubenode-trace on node 1 through cluster.sh: the NodePort rule explained, the answering pod named. */
async function traceNodePort(t: Test, c: EmulatedCluster, demo: string[]): Promise<void> {
  const traced = await c.sh(
    [
      'trace',
      '--node',
      '1',
      '--json',
      '--timeout',
      '30s',
      '--',
      'curl',
      '-s',
      '-m',
      '10',
      `http://${c.nodeIP(1)}:${DEMO_NODE_PORT}/`,
    ],
    { allowFailure: true, timeoutMs: 90_000 },
  );
  t.equal(traced.code, 0, `cluster.sh trace exits 0 (stderr: ${traced.stderr.trim()})`);
  const report = JSON.parse(traced.stdout || '{}') as {
    endpoint?: { pod?: { name: string; node?: string } };
    hops?: { steps: { chain: string; meaning?: string }[] }[];
  };
  const answeredBy = /pod=(\S+)/.exec(traced.stderr)?.[1];
  t.ok(answeredBy && demo.includes(answeredBy), `curl's answer came from a demo replica (${answeredBy})`);
  t.equal(report.endpoint?.pod?.name, answeredBy, 'kubenode-trace names the pod that answered');
  const steps = (report.hops ?? []).flatMap((h) => h.steps);
  t.ok(
    steps.some(
      (s) => s.chain === 'KUBE-NODEPORTS' && s.meaning === `Service default/demo port http: NodePort ${DEMO_NODE_PORT}`,
    ),
    'the NodePort rule, explained',
  );
}

t.test('cluster up --nodes 3: Ready nodes, pod-to-pod across nodes, NodePort on every node', async (t) => {
  const docker = await requireDocker();
  for (const i of [IMAGES.pause, IMAGES.demo, IMAGES.busybox]) await requireImage(docker, i);
  const c = await newCluster(t);
  await c.sh(['up', '--nodes', '3'], { timeoutMs: 600_000 });

  const nodes = JSON.parse((await c.kubectl(['get', 'nodes', '-o', 'json'])).stdout).items as any[];
  t.same(
    nodes.map((n) => n.metadata.name).sort(),
    [1, 2, 3].map((i) => c.nodeName(i)),
    'three Nodes registered',
  );
  for (const n of nodes) {
    const ready = n.status.conditions.find((x: any) => x.type === 'Ready');
    t.equal(ready?.status, 'True', `${n.metadata.name} is Ready`);
    t.ok(n.spec.podCIDR, `${n.metadata.name} has a podCIDR (${n.spec.podCIDR})`);
    t.ok(
      n.status.addresses.some(
        (a: any) => a.type === 'InternalIP' && a.address === c.nodeIP(Number(n.metadata.name.slice(-1))),
      ),
      `${n.metadata.name} reports its InternalIP`,
    );
  }
  // cluster.sh joins nodes by TLS bootstrap (KUBENODE_NODE_JOIN=token, the default): client
  // certificates from CSRs sent with the bootstrap token, serving certificates from CSRs the
  // nodes sent themselves, approved by the control plane's approver.
  const csrs = JSON.parse((await c.kubectl(['get', 'csr', '-o', 'json'])).stdout).items as any[];
  t.equal(
    csrs.filter(
      (x) =>
        x.spec.signerName === 'kubernetes.io/kube-apiserver-client-kubelet' &&
        x.spec.username.startsWith('system:bootstrap:') &&
        x.status?.certificate,
    ).length,
    3,
    'three client certificates issued to the bootstrap token',
  );
  for (const n of nodes) {
    t.ok(
      csrs.some(
        (x) =>
          x.spec.signerName === 'kubernetes.io/kubelet-serving' &&
          x.spec.username === `system:node:${n.metadata.name}` &&
          x.status?.certificate,
      ),
      `${n.metadata.name}'s serving certificate came from its own approved CSR`,
    );
  }

  // A pod on node 1 reaches a pod on node 3 by its IP (host-gw routes, no NAT between them).
  const server = await pinnedPod(c, 'server-on-3', c.nodeName(3), IMAGES.demo);
  await pinnedPod(c, 'client-on-1', c.nodeName(1), IMAGES.busybox, [
    'sh',
    '-c',
    'echo client-on-1 says hello; exec sleep 3600',
  ]);
  const client = await containerOf('client-on-1', c.nodeName(1));
  // kubectl logs: the apiserver dials node 1's HTTPS API at its InternalIP:10250, checks its
  // serving certificate against the cluster CA and authenticates with its kubelet client certificate.
  const logs = await c.kubectl(['logs', 'client-on-1'], { allowFailure: true });
  t.equal(logs.stdout, 'client-on-1 says hello\n', `kubectl logs through ${c.nodeName(1)}'s node API ${logs.stderr}`);
  const exec = await c.kubectl(['exec', 'client-on-1', '--', 'sh', '-c', 'echo "exec on $NODE_NAME"'], {
    allowFailure: true,
  });
  t.equal(exec.stdout, `exec on ${c.nodeName(1)}\n`, `kubectl exec through ${c.nodeName(1)}'s node API ${exec.stderr}`);
  let body = '';
  for (let k = 0; k < 20 && !body.startsWith('pod='); k++) {
    // busybox nc, not its wget (which crashes in these static images).
    body =
      (
        await run(
          'docker',
          ['exec', client, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${server.ip} 8080`],
          { allowFailure: true },
        )
      ).stdout
        .trim()
        .split('\n')
        .pop() ?? '';
    if (!body.startsWith('pod=')) await sleep(500);
  }
  t.match(
    body,
    new RegExp(`^pod=server-on-3 ip=${server.ip.replace(/\./g, '\\.')} node=${c.nodeName(3)}`),
    'pod on node1 reaches pod on node3 by IP',
  );

  // hostPort: the agent hands the pod's port mappings to the CNI chain (portmap), so the node's
  // own address answers on that port.
  const HOST_PORT = 18089;
  await pinnedPod(c, 'hostport-on-2', c.nodeName(2), IMAGES.demo, undefined, [
    { containerPort: 8080, hostPort: HOST_PORT },
  ]);
  let viaHostPort: ReturnType<typeof parseAnswer>;
  for (let k = 0; k < 20 && !viaHostPort; k++) {
    viaHostPort = parseAnswer(
      (await getOnce(`http://${c.nodeIP(2)}:${HOST_PORT}/`, 2000).catch(() => ({ body: '' }))).body,
    );
    if (!viaHostPort) await sleep(500);
  }
  t.equal(viaHostPort?.pod, 'hostport-on-2', `hostPort ${HOST_PORT} on ${c.nodeIP(2)} reaches the pod`);

  // The demo behind a NodePort answers on all three node addresses.
  const pods = await deployDemo(c);
  t.equal(
    pods.filter((p) => p.ready).length,
    3,
    `3 demo replicas Ready on ${[...new Set(pods.map((p) => p.node))].join(', ')}`,
  );
  // The startup probe holds liveness back until httpd listens: no replica restarts on its own.
  t.same(
    pods.map((p) => p.restarts),
    [0, 0, 0],
    'no demo replica was restarted while starting',
  );
  // Each replica's native sidecar runs beside the app and logs the readiness file it watches.
  const first = pods[0]!;
  const sidecar = JSON.parse(
    (await c.kubectl(['get', 'pod', first.name, '-o', 'jsonpath={.status.initContainerStatuses[0]}'])).stdout,
  );
  t.match(
    sidecar,
    { name: 'readiness-log', started: true, ready: true, state: { running: {} } },
    `${first.name}: the readiness-log sidecar runs beside the app`,
  );
  const sidecarLog = await until('the sidecar logged the replica ready', 30_000, async () => {
    const out = (await c.kubectl(['logs', first.name, '-c', 'readiness-log'], { allowFailure: true })).stdout;
    return / ready$/m.test(out) ? out : undefined;
  });
  t.match(sidecarLog, /^\d{4}-\d\d-\d\dT\S+Z ready$/m, `kubectl logs -c readiness-log: ${sidecarLog.trim()}`);

  // `eval "$(sudo scripts/cluster.sh env)"`, as npm start suggests, gives a shell the pinned
  // kubectl (ahead of any other on PATH; this machine may have /usr/bin/kubectl) and the admin kubeconfig.
  const envLines = (await c.sh(['env'])).stdout;
  t.match(
    envLines,
    /^export KUBECONFIG=\S+\nexport PATH=\S+:"\$PATH"\n$/,
    `env prints the two export lines: ${envLines}`,
  );
  const shell = await run(
    'bash',
    ['-c', 'eval "$1"; command -v kubectl; kubectl get nodes -o name', 'bash', envLines],
    { env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: c.dir }, allowFailure: true },
  );
  const [kubectlPath, ...nodeNames] = shell.stdout.trim().split('\n');
  t.match(kubectlPath, /\/k8s-v[\d.]+\/kubectl$/, `the pinned kubectl is the one found (${kubectlPath})`);
  t.same(
    nodeNames.sort(),
    [1, 2, 3].map((i) => `node/${c.nodeName(i)}`),
    `kubectl get nodes works in that shell (stderr: ${shell.stderr.trim()})`,
  );
  // Through sudo, the user gets a kubeconfig of their own (root's keys are root's only), with
  // the certificates inline.
  const asUser = await run('bash', [join(SCRIPTS, 'cluster.sh'), 'env'], {
    env: { ...c.env, SUDO_UID: '65534', SUDO_GID: '65534', SUDO_USER: 'nobody' },
  });
  const userKubeconfig = /^export KUBECONFIG=(\S+)$/m.exec(asUser.stdout)?.[1] ?? '';
  t.equal(statSync(userKubeconfig).uid, 65534, `the sudo user's kubeconfig (${userKubeconfig}) belongs to that user`);
  t.equal(statSync(userKubeconfig).mode & 0o777, 0o600, 'readable by that user only');
  t.match(
    readFileSync(userKubeconfig, 'utf8'),
    /client-key-data: /,
    'with the key inline, not a path into the root-only pki directory',
  );
  for (const i of [1, 2, 3]) {
    let answer: ReturnType<typeof parseAnswer>;
    for (let k = 0; k < 20 && !answer; k++) {
      answer = parseAnswer(
        (await getOnce(`http://${c.nodeIP(i)}:${DEMO_NODE_PORT}/`, 2000).catch(() => ({ body: '' }))).body,
      );
      if (!answer) await sleep(500);
    }
    t.ok(answer && pods.some((p) => p.name === answer!.pod), `NodePort answers on ${c.nodeIP(i)} (by ${answer?.pod})`);
  }

  // `cluster.sh trace` follows one request to the NodePort through node 1's rules with the
  // kernel's tracing (kubenode-trace), and names the pod that answered it.
  await traceNodePort(
    t,
    c,
    pods.map((p) => p.name),
  );

  // Through one node, every replica answers (once the EndpointSlice lists all three Ready and
  // the proxies had a sync period to follow). At least 100 requests, none may fail; if a replica
  // has not answered yet, up to 300 more: the demo's probes (1 s period, one failure is enough)
  // can take a replica out for a few seconds on a loaded machine, and it must come back.
  let readyInSlice: string[] = [];
  for (let k = 0; k < 60 && readyInSlice.length !== 3; k++) {
    if (k) await sleep(500);
    readyInSlice = (
      await c.kubectl([
        'get',
        'endpointslices',
        '-l',
        'kubernetes.io/service-name=demo',
        '-o',
        'jsonpath={range .items[*].endpoints[?(@.conditions.ready==true)]}{.targetRef.name} {end}',
      ])
    ).stdout
      .trim()
      .split(' ')
      .filter(Boolean);
  }
  t.equal(readyInSlice.length, 3, `the EndpointSlice lists 3 Ready endpoints (${readyInSlice.join(' ')})`);
  await sleep(2000);
  const seen = new Map<string, number>();
  let failed = 0;
  let sent = 0;
  for (; sent < 400 && (sent < 100 || seen.size < pods.length); sent++) {
    try {
      const a = parseAnswer((await getOnce(`http://${c.nodeIP(1)}:${DEMO_NODE_PORT}/`, 2000)).body);
      if (a) seen.set(a.pod, (seen.get(a.pod) ?? 0) + 1);
      else failed++;
    } catch {
      failed++;
    }
  }
  t.equal(failed, 0, `no request failed (of ${sent})`);
  const podsNow = await demoPods(c);
  const everyReplica = t.same(
    [...seen.keys()].sort(),
    pods.map((p) => p.name).sort(),
    `every replica answered within ${sent} requests: ${[...seen.entries()].map(([p, n]) => `${p}=${n}`).join(' ')} (pods now: ${podsNow.map((p) => `${p.name}@${p.node} ready=${p.ready} restarts=${p.restarts}`).join(' ')})`,
  );
  if (!everyReplica) t.comment(await whyNotEveryReplica(c));

  const status = (await c.sh(['status'])).stdout;
  t.match(status, /demo/, 'status lists the demo');
  await c.sh(['down']);
  t.same(
    await clusterLeftovers(c),
    [],
    'down leaves no namespace, veth, bridge, route, iptables chain or container behind',
  );
});
