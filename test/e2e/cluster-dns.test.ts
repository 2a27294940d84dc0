// Cluster DNS on emulated nodes: `cluster.sh up` applies the CoreDNS add-on (built from its Go
// module) as Service kube-system/kube-dns, and every agent gives its pods kubelet's resolv.conf
// and /etc/hosts. From a pod: kubernetes.default, a Service by short name and by FQDN, a headless
// Service to its pods, a pod's <hostname>.<subdomain> record; dnsPolicy None gets exactly its
// dnsConfig; host-network pods get the node's resolver unless ClusterFirstWithHostNet.
import t from 'tap';
import { newCluster, type EmulatedCluster } from '../harness/cluster.js';
import { IMAGES, requireDocker, requireImage } from '../harness/docker.js';
import { clusterLeftovers } from '../harness/leftovers.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { SCRIPTS } from '../harness/control-plane.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const COREDNS_IMAGE = `kubenode/coredns:${/^COREDNS_VERSION=(\S+)$/m.exec(readFileSync(join(SCRIPTS, 'versions.sh'), 'utf8'))![1]}`;
const DNS_IP = '10.96.0.10';

type Obj = Record<string, any>;

function pod(name: string, spec: Obj, image: string = IMAGES.busybox): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, labels: { test: 'dns' } },
    spec: {
      terminationGracePeriodSeconds: 1,
      containers: [
        {
          name: 'main',
          image,
          imagePullPolicy: 'Never',
          ...(image === IMAGES.busybox ? { command: ['sleep', '3600'] } : {}),
        },
      ],
      ...spec,
    },
  };
}

async function runningIP(c: EmulatedCluster, ns: string, name: string): Promise<string> {
  for (let k = 0; k < 240; k++) {
    const [phase, ip] = (
      await c.kubectl(['-n', ns, 'get', 'pod', name, '-o', 'jsonpath={.status.phase} {.status.podIP}'])
    ).stdout
      .trim()
      .split(' ');
    if (phase === 'Running' && ip) return ip;
    await sleep(500);
  }
  throw new Error(
    `pod ${ns}/${name} not Running after 120s: ${(await c.kubectl(['-n', ns, 'describe', 'pod', name], { allowFailure: true })).stdout}`,
  );
}

const exec = async (c: EmulatedCluster, ns: string, name: string, cmd: string[]) =>
  c.kubectl(['-n', ns, 'exec', name, '--', ...cmd], { allowFailure: true });

/**
 * busybox nslookup NAME from a pod: the answer's addresses, sorted (none on failure). Retried
 * for a while: the kubernetes plugin learns Services and EndpointSlices through its watch.
 */
async function lookup(
  c: EmulatedCluster,
  ns: string,
  from: string,
  name: string,
  want: (a: string[]) => boolean,
): Promise<{ addrs: string[]; out: string }> {
  let last = { addrs: [] as string[], out: '' };
  for (let k = 0; k < 40; k++) {
    const r = await exec(c, ns, from, ['nslookup', '-type=a', name]);
    // The server's own lines come first ("Address:\t10.96.0.10:53"); the answer's after "Name:".
    const answer = r.stdout
      .split(/^Name:/m)
      .slice(1)
      .join('\n');
    last = {
      addrs: [...answer.matchAll(/^Address:\s*([0-9.]+)\s*$/gm)].map((m) => m[1]!).sort(),
      out: r.stdout + r.stderr,
    };
    if (want(last.addrs)) return last;
    await sleep(1500);
  }
  return last;
}

/**
 * NAME as the pod's C library resolves it (busybox ping prints the address before it sends):
 * the search list and ndots of its resolv.conf at work, as in any application. busybox nslookup
 * tries the search list only for names without a dot, so it cannot show this for
 * `kubernetes.default`. Retried while the kubernetes plugin catches up.
 */
async function resolveWithLibc(
  c: EmulatedCluster,
  ns: string,
  from: string,
  name: string,
): Promise<{ addr?: string; out: string }> {
  let out = '';
  for (let k = 0; k < 40; k++) {
    const r = await exec(c, ns, from, ['ping', '-c', '1', '-W', '1', name]);
    out = r.stdout + r.stderr;
    const addr = /^PING \S+ \(([0-9.]+)\)/m.exec(r.stdout)?.[1];
    if (addr) return { addr, out };
    await sleep(1500);
  }
  return { out };
}

t.test('cluster DNS: CoreDNS answers pods for Services, headless Services and pod hostnames', async (t) => {
  const docker = await requireDocker();
  for (const i of [IMAGES.pause, IMAGES.demo, IMAGES.busybox]) await requireImage(docker, i);
  try {
    await docker.getImage(COREDNS_IMAGE).inspect();
  } catch {
    throw new Error(
      `image ${COREDNS_IMAGE} is missing: run 'sudo scripts/setup.sh' (scripts/build-coredns.sh builds CoreDNS and its image)`,
    );
  }
  const c = await newCluster(t);
  const up = await c.sh(['up', '--nodes', '2'], { timeoutMs: 600_000 });
  t.match(up.stdout, /coredns Ready/, 'up waits for CoreDNS to be Ready');

  const svc = JSON.parse((await c.kubectl(['-n', 'kube-system', 'get', 'service', 'kube-dns', '-o', 'json'])).stdout);
  t.equal(svc.spec.clusterIP, DNS_IP, 'kube-dns at the tenth address of the Service CIDR');
  t.same(
    svc.spec.ports.map((p: Obj) => `${p.port}/${p.protocol}`),
    ['53/UDP', '53/TCP', '9153/TCP'],
  );
  const corefile = JSON.parse(
    (await c.kubectl(['-n', 'kube-system', 'get', 'configmap', 'coredns', '-o', 'json'])).stdout,
  ).data.Corefile as string;
  t.match(corefile, /kubernetes cluster\.local in-addr\.arpa ip6\.arpa/);

  const ns = `${c.name}-dns`;
  await c.kubectl(['create', 'namespace', ns]);
  const objects: Obj[] = [
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'web' },
      spec: { selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }] },
    },
    {
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: 'hl' },
      spec: { clusterIP: 'None', selector: { app: 'web' }, ports: [{ port: 8080 }] },
    },
    {
      ...pod('h1', { hostname: 'h1', subdomain: 'hl', nodeName: c.nodeName(1) }, IMAGES.demo),
      metadata: { name: 'h1', labels: { app: 'web' } },
    },
    {
      ...pod('h2', { hostname: 'h2', subdomain: 'hl', setHostnameAsFQDN: true, nodeName: c.nodeName(2) }, IMAGES.demo),
      metadata: { name: 'h2', labels: { app: 'web' } },
    },
    pod('client', { nodeName: c.nodeName(2) }),
    pod('none', {
      nodeName: c.nodeName(1),
      dnsPolicy: 'None',
      dnsConfig: {
        nameservers: ['192.0.2.53'],
        searches: ['example.test'],
        options: [{ name: 'ndots', value: '2' }, { name: 'edns0' }],
      },
    }),
    pod('hostnet', {
      nodeName: c.nodeName(1),
      hostNetwork: true,
      hostAliases: [{ ip: '192.0.2.7', hostnames: ['alias.test'] }],
    }),
    pod('hostnet-cluster', { nodeName: c.nodeName(1), hostNetwork: true, dnsPolicy: 'ClusterFirstWithHostNet' }),
  ];
  await c.kubectl(['-n', ns, 'apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }),
  });
  const h1 = await runningIP(c, ns, 'h1');
  const h2 = await runningIP(c, ns, 'h2');
  for (const p of ['client', 'none', 'hostnet', 'hostnet-cluster']) await runningIP(c, ns, p);
  const webIP = JSON.parse((await c.kubectl(['-n', ns, 'get', 'service', 'web', '-o', 'json'])).stdout).spec
    .clusterIP as string;

  // kubelet's files, as the conformance suite reads them.
  const resolv = (await exec(c, ns, 'client', ['cat', '/etc/resolv.conf'])).stdout;
  t.equal(
    resolv,
    `search ${ns}.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${DNS_IP}\noptions ndots:5\n`,
    'ClusterFirst: the cluster DNS, the cluster search list, ndots:5',
  );
  const hosts = (await exec(c, ns, 'h1', ['cat', '/etc/hosts'])).stdout;
  t.equal(hosts.split('\n')[0], '# Kubernetes-managed hosts file.', "kubelet's header line");
  t.match(hosts, `\n${h1}\th1.hl.${ns}.svc.cluster.local\th1\n`, 'the pod IP under its FQDN and hostname');
  t.equal((await exec(c, ns, 'h1', ['hostname'])).stdout.trim(), 'h1', 'spec.hostname is the hostname');
  t.equal(
    (await exec(c, ns, 'h2', ['hostname'])).stdout.trim(),
    `h2.hl.${ns}.svc.cluster.local`,
    'setHostnameAsFQDN: the FQDN',
  );

  // Lookups through CoreDNS.
  const k8s = await resolveWithLibc(c, ns, 'client', 'kubernetes.default');
  t.equal(k8s.addr, '10.96.0.1', `kubernetes.default through the search list\n${k8s.out}`);
  const short = await resolveWithLibc(c, ns, 'client', 'web');
  t.equal(short.addr, webIP, 'a Service by its short name', { output: short.out });
  const shortNs = await lookup(c, ns, 'client', 'web', (a) => a.length > 0);
  t.same(shortNs.addrs, [webIP], 'busybox nslookup of the short name: only <svc>.<ns>.svc.cluster.local answers', {
    output: shortNs.out,
  });
  const fqdn = await lookup(c, ns, 'client', `web.${ns}.svc.cluster.local`, (a) => a.length > 0);
  t.same(fqdn.addrs, [webIP], 'a Service by <svc>.<ns>.svc.cluster.local', { output: fqdn.out });
  const headless = await lookup(c, ns, 'client', `hl.${ns}.svc.cluster.local`, (a) => a.length === 2);
  t.same(headless.addrs, [h1, h2].sort(), "a headless Service: its pods' IPs", { output: headless.out });
  const podRecord = await lookup(c, ns, 'client', `h1.hl.${ns}.svc.cluster.local`, (a) => a.length > 0);
  t.same(podRecord.addrs, [h1], "a pod's <hostname>.<subdomain> record", { output: podRecord.out });
  const missing = await exec(c, ns, 'client', ['nslookup', '-type=a', `nope.${ns}.svc.cluster.local`]);
  t.notMatch(
    missing.stdout
      .split(/^Name:/m)
      .slice(1)
      .join(''),
    /Address/,
    'a Service that does not exist has no address',
  );

  // dnsPolicy None: exactly the pod's dnsConfig.
  t.equal(
    (await exec(c, ns, 'none', ['cat', '/etc/resolv.conf'])).stdout,
    'search example.test\nnameserver 192.0.2.53\noptions ndots:2 edns0\n',
  );

  // Host network: ClusterFirst means the node's resolver (the cluster's resolver file, comments
  // dropped as kubelet re-renders it); ClusterFirstWithHostNet the cluster DNS.
  t.equal(
    (await exec(c, ns, 'hostnet', ['cat', '/etc/resolv.conf'])).stdout,
    `nameserver ${c.hostIP}\n`,
    "a host-network pod gets the node's resolver",
  );
  t.equal(
    (await exec(c, ns, 'hostnet-cluster', ['cat', '/etc/resolv.conf'])).stdout,
    `search ${ns}.svc.cluster.local svc.cluster.local cluster.local\nnameserver ${DNS_IP}\noptions ndots:5\n`,
    'ClusterFirstWithHostNet: the cluster DNS',
  );
  const hostHosts = (await exec(c, ns, 'hostnet', ['cat', '/etc/hosts'])).stdout;
  t.equal(
    hostHosts.split('\n')[0],
    '# Kubernetes-managed hosts file (host network).',
    "the node's hosts file under kubelet's host-network header",
  );
  t.equal(
    hostHosts.slice(hostHosts.indexOf('\n') + 1, hostHosts.indexOf('\n# Entries added by HostAliases.')),
    readFileSync('/etc/hosts', 'utf8'),
    "then the node's own /etc/hosts",
  );
  t.match(hostHosts, /\n# Entries added by HostAliases\.\n192\.0\.2\.7\talias\.test\n$/, 'then the host aliases');

  await c.kubectl(['delete', 'namespace', ns, '--wait=false']);
  const down = await c.sh(['down']);
  t.match(down.stdout, /removed/);
  t.same(await clusterLeftovers(c), [], 'down leaves nothing behind');
});
