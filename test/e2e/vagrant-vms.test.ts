// Vagrant VMs as cluster nodes, for real: the box from scripts/vagrant-box.sh, two worker VMs
// under vagrant-libvirt with qemu's software emulation (no KVM is assumed), the control plane
// on this machine (KUBENODE_CONTROL_PLANE=host: `vagrant up` starts it, `vagrant destroy` stops
// it). Both Nodes become Ready, the demo answers through its NodePort on both VM addresses from
// every replica, failover scenario (a) holds against the VMs, and nothing of libvirt's is left.
//
// Slow: measured here (2 cores shared with other work), `vagrant up` of the two workers takes
// about 10 minutes and the whole test about 12-15 (a first build of the box 3-5 more; then it is
// cached in /var/cache/kubenode/vagrant-box, and scripts/setup.sh builds it beforehand anyway).
// Names (libvirt domains, volumes, networks) carry a per-run prefix; the private network and
// libvirt's management network are /24s nothing on this machine routes yet, isolated (no NAT):
// the VMs reach only this machine and each other.
import t, { type Test } from 'tap';
import { appendFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from '../../lib/exec.js';
import { demoManifests } from '../harness/cluster.js';
import { PROJECT_ROOT, SCRIPTS } from '../harness/control-plane.js';
import { runScenario } from '../harness/failover.js';
import { freePorts } from '../harness/ports.js';
import { runPrefix } from '../harness/prefix.js';
import { requireProgram, requireRoot } from '../harness/require.js';
import { formatPods, getOnce, parseAnswer } from '../harness/traffic.js';
import { until } from '../harness/until.js';

const MINUTE = 60_000;
// Far above tap's 10 minutes per file (package.json): VMs under emulation take their time.
t.setTimeout(80 * MINUTE);
const WORKERS = 2;
const DEMO_NODE_PORT = 30080;
const DEMO_REPLICAS = 3;
// Requests per second of the failover loop: a fifth of the emulated cluster's 20, for VMs whose
// every instruction is emulated (each request is a new connection through the entry node).
const RATE = 4;

/**
 * The demo with probe timings for emulated CPUs: its 1 s liveness timeout with one allowed
 * failure restarts healthy replicas when a software-emulated guest answers a probe late (seen
 * here: "the previous probe is still running 1.9s after it started"), which would measure the
 * emulator, not kubenode. Readiness is relaxed likewise; the Service and NodePort are unchanged.
 */
function demoForEmulatedVMs(): Record<string, any>[] {
  const docs = demoManifests({ replicas: DEMO_REPLICAS, nodePort: DEMO_NODE_PORT });
  for (const d of docs) {
    if (d.kind !== 'Deployment') continue;
    for (const c of d.spec.template.spec.containers as Record<string, any>[]) {
      if (c.livenessProbe) Object.assign(c.livenessProbe, { periodSeconds: 5, timeoutSeconds: 5, failureThreshold: 3 });
      if (c.readinessProbe)
        Object.assign(c.readinessProbe, { periodSeconds: 2, timeoutSeconds: 2, failureThreshold: 2 });
    }
  }
  return docs;
}

/**
 * Asks `url` until every pod of `wanted` has answered or `deadlineMs` passed: the proxy picks an
 * endpoint at random, so whether one pod answered a handful of requests says little; asking
 * until it answers does, and how long that took is the figure worth printing.
 */
async function askUntilAnswered(
  url: string,
  wanted: readonly string[],
  deadlineMs: number,
): Promise<{ seen: Record<string, number>; firstSeconds: Record<string, number>; requests: number }> {
  const began = Date.now();
  const seen: Record<string, number> = {};
  const firstSeconds: Record<string, number> = {};
  let requests = 0;
  while (wanted.some((p) => !seen[p]) && Date.now() - began < deadlineMs) {
    requests++;
    const r = await getOnce(url, 3000).catch(() => undefined);
    const pod = r?.status === 200 ? parseAnswer(r.body)?.pod : undefined;
    if (!pod) continue;
    if (!seen[pod]) firstSeconds[pod] = (Date.now() - began) / 1000;
    seen[pod] = (seen[pod] ?? 0) + 1;
  }
  return { seen, firstSeconds, requests };
}

const formatSeconds = (s: Record<string, number>) =>
  Object.entries(s)
    .map(([pod, sec]) => `${pod} ${sec.toFixed(1)} s`)
    .join(', ');

/** Two /24s (third octet) in 192.168.0.0/16 that nothing here routes, never 56 (npm start's). */
async function freeSubnets(n: number): Promise<string[]> {
  const used =
    (await run('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout +
    (await run('ip', ['-4', 'addr', 'show'])).stdout;
  const out: string[] = [];
  for (let c = 130; c < 250 && out.length < n; c++) if (!used.includes(`192.168.${c}.`)) out.push(`192.168.${c}`);
  if (out.length < n) throw new Error('no free 192.168.x.0/24 for the VMs');
  return out;
}

t.test('two worker VMs under emulation, control plane on the host', async (t) => {
  requireRoot();
  // Debian packages: vagrant vagrant-libvirt libvirt-daemon libvirt-daemon-driver-qemu
  // libvirt-clients dnsmasq-base qemu-system-x86 qemu-utils mmdebstrap grub-pc-bin fdisk
  // (sudo scripts/setup.sh --vagrant installs them).
  requireProgram(
    'vagrant',
    'virsh',
    'libvirtd',
    'virtlogd',
    'dnsmasq',
    'qemu-system-x86_64',
    'qemu-img',
    'mmdebstrap',
    'grub-mkimage',
    'sfdisk',
    'docker',
  );
  const began = Date.now();
  const elapsed = () => `${((Date.now() - began) / MINUTE).toFixed(1)} min`;
  const prefix = `${runPrefix()}-`;
  const state = mkdtempSync(join(tmpdir(), 'kubenode-vagrant-'));
  const log = join(state, 'vagrant.log');
  t.comment(`vagrant's output: ${log}`);
  const [subnet, mgmt] = await freeSubnets(2);
  const [api, etcdClient, etcdPeer] = await freePorts(3);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    VAGRANT_CHECKPOINT_DISABLE: '1',
    VAGRANT_DEFAULT_PROVIDER: 'libvirt',
    VAGRANT_DOTFILE_PATH: join(state, 'dot'),
    KUBENODE_CONTROL_PLANE: 'host',
    KUBENODE_BOX: 'kubenode/bookworm',
    KUBENODE_LIBVIRT_DRIVER: 'qemu',
    KUBENODE_LIBVIRT_ISOLATED: '1',
    KUBENODE_LIBVIRT_MGMT_SUBNET: mgmt,
    KUBENODE_SUBNET: subnet,
    KUBENODE_VM_PREFIX: prefix,
    KUBENODE_WORKERS: String(WORKERS),
    // qemu costs about 1.5x a VM's memory on the host; one vCPU each, for 2 host cores.
    KUBENODE_VM_MEMORY: '1280',
    KUBENODE_VM_CPUS: '1',
    KUBENODE_CONTROL_PLANE_DIR: join(state, 'control-plane'),
    APISERVER_PORT: String(api),
    ETCD_CLIENT_PORT: String(etcdClient),
    ETCD_PEER_PORT: String(etcdPeer),
    CONTROLLER_MANAGER_PORT: '0',
    SCHEDULER_PORT: '0',
  };
  const workerIP = (i: number) => `${subnet}.${10 + i}`;
  const vagrant = async (args: string[], timeoutMs: number, allowFailure = false): Promise<RunResult> => {
    appendFileSync(log, `\n$ vagrant ${args.join(' ')}   (${elapsed()})\n`);
    const r = await run('vagrant', args, { cwd: PROJECT_ROOT, env, timeoutMs, allowFailure: true });
    appendFileSync(log, r.stdout + r.stderr + `\n(exit ${r.code}, ${elapsed()})\n`);
    if (r.code !== 0 && !allowFailure)
      throw new Error(
        `vagrant ${args.join(' ')} failed (exit ${r.code}); the end of its output:\n${(r.stdout + r.stderr).slice(-4000)}`,
      );
    return r;
  };
  const kubectl = (args: string[], o: { input?: string; allowFailure?: boolean } = {}) =>
    run('bash', [join(SCRIPTS, 'control-plane.sh'), 'kubectl', ...args], {
      env,
      input: o.input,
      allowFailure: o.allowFailure,
      timeoutMs: 2 * MINUTE,
    });

  /** What a reader needs when traffic does not reach a pod: the pods and EndpointSlices, each
   * worker's routes, and the last lines of its proxy's and hostgw's logs (node.sh keeps them). */
  const diagnose = async (t: Test, why: string) => {
    t.comment(`diagnostics (${why}):`);
    t.comment((await kubectl(['get', 'pods,endpointslices', '-o', 'wide'], { allowFailure: true })).stdout);
    for (let i = 1; i <= WORKERS; i++) {
      const script = [
        'ip -4 route',
        'tail -n 25 /var/lib/kubenode/node/logs/proxy.log',
        'tail -n 10 /var/lib/kubenode/node/logs/hostgw.log',
      ].join('; echo ---; ');
      const r = await vagrant(['ssh', `worker-${i}`, '-c', `sudo sh -c '${script}'`], 2 * MINUTE, true);
      t.comment(`worker-${i}:\n${r.stdout.replace(/\r/g, '')}`);
    }
  };

  // Clean-up, even after a failure: vagrant destroy (its trigger stops the control plane), then
  // whatever libvirt still holds under our prefix is removed, and reported.
  t.teardown(async () => {
    await vagrant(['destroy', '-f'], 15 * MINUTE, true);
    await run('bash', [join(SCRIPTS, 'control-plane.sh'), 'down', '--purge'], {
      env,
      allowFailure: true,
      timeoutMs: 3 * MINUTE,
    });
    const left = await libvirtLeftovers(prefix, [subnet!, mgmt!]);
    for (const d of left.domains)
      await run('virsh', ['-c', 'qemu:///system', 'undefine', '--remove-all-storage', d], { allowFailure: true });
    for (const v of left.volumes)
      await run('virsh', ['-c', 'qemu:///system', 'vol-delete', '--pool', 'default', v], { allowFailure: true });
    for (const n of left.networks) {
      await run('virsh', ['-c', 'qemu:///system', 'net-destroy', n], { allowFailure: true });
      await run('virsh', ['-c', 'qemu:///system', 'net-undefine', n], { allowFailure: true });
    }
    await run('rm', ['-rf', state], { allowFailure: true });
  });

  await run('bash', [join(SCRIPTS, 'libvirtd.sh'), 'start'], { timeoutMs: 2 * MINUTE });
  const box = await run('bash', [join(SCRIPTS, 'vagrant-box.sh')], { timeoutMs: 40 * MINUTE });
  t.comment(`${box.stdout.trim().split('\n').pop()} (${elapsed()})`);

  await vagrant(['up', '--no-parallel', '--provider', 'libvirt'], 50 * MINUTE);
  t.comment(`vagrant up: ${elapsed()}`);

  await t.test('both worker Nodes become Ready', async (t) => {
    const ready = await until(
      `${WORKERS} Ready nodes`,
      5 * MINUTE,
      async () => {
        const out = (
          await kubectl(
            [
              'get',
              'nodes',
              '-o',
              'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}',
            ],
            { allowFailure: true },
          )
        ).stdout;
        const names = out
          .trim()
          .split(/\s+/)
          .filter((x) => x.endsWith('=True'))
          .map((x) => x.slice(0, -5))
          .sort();
        return names.length === WORKERS ? names : undefined;
      },
      3000,
    );
    t.same(ready, ['worker-1', 'worker-2']);
    const ips = (
      await kubectl([
        'get',
        'nodes',
        '-o',
        'jsonpath={range .items[*]}{.status.addresses[?(@.type=="InternalIP")].address} {end}',
      ])
    ).stdout
      .trim()
      .split(/\s+/)
      .sort();
    t.same(ips, [workerIP(1), workerIP(2)], 'each Node has its VM address');
  });

  await t.test('the demo answers on both VM addresses from every replica', async (t) => {
    await kubectl(['apply', '-f', '-'], {
      input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: demoForEmulatedVMs() }),
    });
    const pods = await until(
      `${DEMO_REPLICAS} Ready demo pods`,
      8 * MINUTE,
      async () => {
        const out = (
          await kubectl(
            [
              'get',
              'pods',
              '-l',
              'app=demo',
              '-o',
              'jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}',
            ],
            { allowFailure: true },
          )
        ).stdout;
        const ready = out
          .trim()
          .split(/\s+/)
          .filter((x) => x.endsWith('=True'))
          .map((x) => x.slice(0, -5));
        return ready.length === DEMO_REPLICAS ? ready.sort() : undefined;
      },
      3000,
    );
    for (let i = 1; i <= WORKERS; i++) {
      const url = `http://${workerIP(i)}:${DEMO_NODE_PORT}/`;
      // Ready in the apiserver is not yet an endpoint in every node's rules: the EndpointSlice
      // still has to reach each proxy and be synced, which under software emulation has taken
      // longer than 60 quick requests (one CI run saw a worker answer from 2 of 3 replicas only).
      // So ask until every replica has answered or 2 minutes have passed, as upstream's e2e
      // reachability checks poll; a replica that never answers still fails.
      const a = await askUntilAnswered(url, pods, 2 * MINUTE);
      t.comment(`${url}: ${a.requests} requests; first answers after ${formatSeconds(a.firstSeconds)}`);
      const ok = t.same(Object.keys(a.seen).sort(), pods, `every replica answers at ${url} (${formatPods(a.seen)})`);
      if (!ok) await diagnose(t, `not every replica answered at ${url}`);
    }
  });

  await t.test('(a) traffic recovers after a killed container restarts, on the VMs', async (t) => {
    const r = await runScenario(
      {
        kubectl,
        nodeName: (i) => `worker-${i}`,
        nodeIP: workerIP,
        sh: () => Promise.reject(new Error('scenario (a) needs no cluster.sh')),
        // Each VM has its own Docker: reach it over vagrant ssh.
        docker: (node, args) =>
          vagrant(['ssh', node, '-c', ['sudo', 'docker', ...args].map(shellQuote).join(' ')], 3 * MINUTE).then((r) => ({
            ...r,
            stdout: r.stdout.replace(/\r/g, ''),
          })),
      },
      'a',
      {
        nodePort: DEMO_NODE_PORT,
        replicas: DEMO_REPLICAS,
        ratePerSecond: RATE,
        timeoutMs: 3000,
        log: (l) => t.comment(l),
      },
    );
    t.comment(
      `${r.title} (${r.target}): ${r.summary.failed} of ${r.summary.requests} failed, window ${r.summary.windowSeconds.toFixed(2)} s; errors: ${JSON.stringify(r.summary.errors)}; after: ${formatPods(r.summary.podsAfter)}`,
    );
    // The loop's 2 settled seconds are 8 requests at RATE; with 3 endpoints picked at random the
    // restarted one gets none of them 4% of the time (2/3)^8 even when every rule is in place (a
    // CI run failed so). When it got none, ask on until it answers, and say how long that took.
    let answered = r.facts.targetAnsweredAfter === true;
    if (!answered) {
      const a = await askUntilAnswered(`http://${workerIP(1)}:${DEMO_NODE_PORT}/`, [r.target], MINUTE);
      answered = Boolean(a.seen[r.target]);
      t.comment(
        `${r.target} answered none of the settled window's requests; asked on: ${a.requests} requests, ${answered ? `answered after ${formatSeconds(a.firstSeconds)}` : 'no answer in a minute'}`,
      );
    }
    if (!t.ok(answered, `${r.target} answers again after its restart`))
      await diagnose(t, `${r.target} does not answer after its restart`);
    // At least the 2 s before the kill and the 2 s after recovery, at RATE per second.
    t.ok(r.summary.requests >= 4 * RATE, `the loop ran (${r.summary.requests} requests)`);
    const last = r.samples[r.samples.length - 1]!.start;
    t.equal(r.samples.filter((s) => !s.ok && s.start >= last - 2000).length, 0, 'no failure once recovered');
  });

  await t.test('vagrant destroy leaves nothing of libvirt behind', async (t) => {
    await vagrant(['destroy', '-f'], 15 * MINUTE);
    const left = await libvirtLeftovers(prefix, [subnet!, mgmt!]);
    t.same(
      left,
      { domains: [], volumes: [], networks: [], iptables: [] },
      'no domain, volume, network or iptables rule of this run',
    );
    const cp = await run('bash', [join(SCRIPTS, 'control-plane.sh'), 'status'], { env, allowFailure: true });
    t.notMatch(cp.stdout, /running/, `the host's control plane is stopped: ${cp.stdout.trim()}`);
    t.comment(`whole test: ${elapsed()}`);
  });
});

const shellQuote = (s: string) => (/^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

async function libvirtLeftovers(prefix: string, subnets: string[]) {
  const virsh = async (args: string[]) =>
    (await run('virsh', ['-c', 'qemu:///system', ...args], { allowFailure: true })).stdout
      .split('\n')
      .map((l) => l.trim())
      .filter(Boolean);
  const domains = (await virsh(['list', '--all', '--name'])).filter((n) => n.startsWith(prefix));
  const volumes = (await virsh(['vol-list', '--pool', 'default']))
    .map((l) => l.split(/\s+/)[0]!)
    .filter((n) => n.startsWith(prefix));
  const networks = (await virsh(['net-list', '--all', '--name'])).filter((n) => n.startsWith(prefix));
  const rules = (await run('iptables-save', [], { allowFailure: true })).stdout.split('\n');
  const iptables = rules.filter((r) => subnets.some((s) => r.includes(`${s}.`)));
  return { domains, volumes, networks, iptables };
}
