// The data path of an emulated cluster with the real programs in every node namespace (agent,
// kubenode-bridge/kubenode-ipam, proxy, host-gw), independent of the agent's apiserver side:
// pods come from each node's static-pod directory, and a Service without selector gets an
// EndpointSlice naming them. Where the agent does not register its Node yet, the test creates
// the Node object and writes its podCIDR file itself (what registration does).
import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { newCluster, type EmulatedCluster } from '../harness/cluster.js';
import { IMAGES, requireDocker, requireImage } from '../harness/docker.js';
import { clusterLeftovers } from '../harness/leftovers.js';
import { getOnce, parseAnswer } from '../harness/traffic.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const NODE_PORT = 30081;

async function ensureNode(c: EmulatedCluster, i: number): Promise<string> {
  const name = c.nodeName(i);
  const exists = await c.kubectl(['get', 'node', name], { allowFailure: true });
  if (exists.code !== 0) {
    const r = await c.kubectl(['create', '-f', '-'], {
      allowFailure: true,
      input: JSON.stringify({
        apiVersion: 'v1',
        kind: 'Node',
        metadata: { name },
        status: { addresses: [{ type: 'InternalIP', address: c.nodeIP(i) }] },
      }),
    });
    // The agent may have registered it meanwhile.
    if (r.code !== 0 && !/AlreadyExists/.test(r.stderr)) throw new Error(`creating Node ${name}: ${r.stderr}`);
  }
  for (let k = 0; k < 100; k++) {
    const cidr = (await c.kubectl(['get', 'node', name, '-o', 'jsonpath={.spec.podCIDR}'])).stdout.trim();
    if (cidr) {
      const file = join(c.dir, 'nodes', name, 'podcidr');
      if (!existsSync(file)) writeFileSync(file, cidr + '\n');
      return cidr;
    }
    await sleep(200);
  }
  throw new Error(`${name} got no podCIDR`);
}

/** The running demo container of node i's static pod, and its pod IP (from inside it). */
async function staticPod(c: EmulatedCluster, i: number): Promise<{ id: string; ip: string }> {
  for (let k = 0; k < 240; k++) {
    const id = (
      await run('docker', [
        'ps',
        '-q',
        '--filter',
        `label=kubenode.io/instance=${c.nodeName(i)}`,
        '--filter',
        'label=io.kubernetes.container.name=demo',
      ])
    ).stdout
      .trim()
      .split('\n')[0];
    if (id) {
      const addr = (await run('docker', ['exec', id, 'ip', '-4', '-o', 'addr', 'show', 'eth0'], { allowFailure: true }))
        .stdout;
      const ip = /inet (\d+\.\d+\.\d+\.\d+)\//.exec(addr)?.[1];
      if (ip) return { id, ip };
    }
    await sleep(500);
  }
  throw new Error(
    `no static demo pod running on ${c.nodeName(i)}; agent log: ${(await c.sh(['logs', String(i), 'agent'], { allowFailure: true })).stdout.slice(-2000)}`,
  );
}

/** HTTP GET from inside a container with busybox nc (its wget is not usable in the images). */
async function getFrom(container: string, host: string, port: number): Promise<string> {
  const r = await run(
    'docker',
    ['exec', container, 'sh', '-c', `printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 2 ${host} ${port}`],
    { allowFailure: true },
  );
  return r.stdout.trim().split('\n').pop() ?? '';
}

// In nftables mode (`cluster.sh up --proxy-mode nftables`): the other cluster tests run the default
// iptables mode, so this one is where the nftables mode meets a real apiserver and real nodes.
t.test(
  'pods on two emulated nodes: pod to pod, host to pod, ClusterIP and NodePort (proxy in nftables mode)',
  async (t) => {
    const docker = await requireDocker();
    for (const i of [IMAGES.pause, IMAGES.demo]) await requireImage(docker, i);
    const c = await newCluster(t);
    await c.sh(['up', '--nodes', '2', '--no-wait', '--proxy-mode', 'nftables'], { timeoutMs: 600_000 });
    t.match(
      (await c.sh(['status'], { allowFailure: true })).stdout,
      /proxy mode nftables/,
      'status names the proxy mode',
    );
    const refused = await c.sh(['up', '--nodes', '2', '--proxy-mode', 'iptables'], { allowFailure: true });
    t.match(
      refused.stderr,
      /this cluster runs --proxy-mode nftables: 'down' it first/,
      'the mode of a running cluster is not changed behind its back',
    );
    const cidrs = [await ensureNode(c, 1), await ensureNode(c, 2)];
    t.not(cidrs[0], cidrs[1], `distinct podCIDRs ${cidrs.join(' ')}`);

    for (const i of [1, 2]) {
      const pod = {
        apiVersion: 'v1',
        kind: 'Pod',
        metadata: { name: 'static-demo', namespace: 'default' },
        spec: {
          containers: [
            {
              name: 'demo',
              image: IMAGES.demo,
              imagePullPolicy: 'Never',
              env: [
                { name: 'POD_NAME', value: `static-demo-${i}` },
                { name: 'NODE_NAME', value: c.nodeName(i) },
              ],
            },
          ],
        },
      };
      writeFileSync(join(c.dir, 'nodes', c.nodeName(i), 'manifests', 'demo.json'), JSON.stringify(pod));
    }
    const p1 = await staticPod(c, 1);
    const p2 = await staticPod(c, 2);
    t.ok(
      p1.ip.startsWith(cidrs[0]!.split('.').slice(0, 3).join('.') + '.'),
      `pod on node1 got ${p1.ip} from ${cidrs[0]}`,
    );
    t.ok(
      p2.ip.startsWith(cidrs[1]!.split('.').slice(0, 3).join('.') + '.'),
      `pod on node2 got ${p2.ip} from ${cidrs[1]}`,
    );

    let answer = '';
    for (let k = 0; k < 40 && !answer.startsWith('pod='); k++) {
      answer = await getFrom(p1.id, p2.ip, 8080);
      if (!answer.startsWith('pod=')) await sleep(500);
    }
    t.match(
      answer,
      new RegExp(`^pod=static-demo-2 ip=\\S* node=${c.nodeName(2)}`),
      'pod on node1 reaches pod on node2 by IP (host-gw)',
    );
    t.match((await getOnce(`http://${p2.ip}:8080/`, 2000)).body, /^pod=static-demo-2/, 'the host reaches a pod by IP');

    const svc = {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'sdemo' },
      spec: { type: 'NodePort', ports: [{ name: 'http', port: 80, targetPort: 8080, nodePort: NODE_PORT }] },
    };
    const slice = {
      apiVersion: 'discovery.k8s.io/v1',
      kind: 'EndpointSlice',
      metadata: { name: 'sdemo-1', labels: { 'kubernetes.io/service-name': 'sdemo' } },
      addressType: 'IPv4',
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
      endpoints: [
        { addresses: [p1.ip], conditions: { ready: true }, nodeName: c.nodeName(1) },
        { addresses: [p2.ip], conditions: { ready: true }, nodeName: c.nodeName(2) },
      ],
    };
    await c.kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [svc, slice] }),
    });
    const clusterIP = (await c.kubectl(['get', 'service', 'sdemo', '-o', 'jsonpath={.spec.clusterIP}'])).stdout.trim();

    for (const i of [1, 2]) {
      const seen = new Set<string>();
      let failed = 0;
      for (let k = 0; k < 60 && (seen.size < 2 || k < 20); k++) {
        const a = await getOnce(`http://${c.nodeIP(i)}:${NODE_PORT}/`, 2000).then(
          (r) => parseAnswer(r.body),
          () => undefined,
        );
        if (a) seen.add(a.pod);
        else {
          failed++;
          await sleep(250);
        }
      }
      t.same(
        [...seen].sort(),
        ['static-demo-1', 'static-demo-2'],
        `NodePort on ${c.nodeName(i)} reaches the pods of both nodes (${failed} early failures while the proxy synced)`,
      );
    }
    const viaClusterIP = new Set<string>();
    for (let k = 0; k < 20; k++) viaClusterIP.add(parseAnswer(await getFrom(p1.id, clusterIP, 80))?.pod ?? 'none');
    t.same(
      [...viaClusterIP].sort(),
      ['static-demo-1', 'static-demo-2'],
      `a pod reaches both endpoints through the ClusterIP ${clusterIP} (itself by hairpin)`,
    );
    for (const i of [1, 2]) {
      const table = await c.exec(i, ['nft', 'list', 'map', 'ip', 'kubenode', 'service-ips']);
      t.match(
        table.stdout,
        new RegExp(`${clusterIP.replace(/\./g, '\\.')} \\. tcp \\. 80 : goto service-`),
        `${c.nodeName(i)}: the ClusterIP is an element of the nftables mode's service-ips map`,
      );
      const nat = await c.exec(i, ['iptables-save', '-t', 'nat']);
      t.notMatch(nat.stdout, /KUBE-SERVICES/, `${c.nodeName(i)}: no iptables mode chain`);
    }

    await c.sh(['down']);
    t.same(await clusterLeftovers(c), [], 'down leaves no namespace, link, route, chain, container or state');
  },
);
