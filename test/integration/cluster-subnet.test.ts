// `cluster.sh up` on a machine where 192.168.56.0/24 is taken (VirtualBox's host-only network,
// another cluster): without KUBENODE_CLUSTER_SUBNET it takes the next free /24 of its list, says
// which, and every later command uses it; a subnet the user chose that is taken still fails.
//
// "This machine" is a network namespace of the test's own, holding a veth pair (this kernel may
// have no dummy links) with the addresses that take the subnets: the test never adds an address
// or a route where other clusters (or a person's `npm start`) live. cluster.sh runs inside it
// with --network-only (bridge and node namespaces; no control plane needed), entered with
// `nsenter --net` only: `ip netns exec` would also give it a mount namespace of its own, where
// the node namespaces it makes stay invisible to the next command.
import t, { type Test } from 'tap';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { SCRIPTS } from '../harness/control-plane.js';
import { createNetns, deleteNetns } from '../harness/netns.js';
import { runPrefix } from '../harness/prefix.js';
import { requireProgram } from '../harness/require.js';

interface Host {
  name: string;
  dir: string;
  /** cluster.sh inside the test's namespace, with the cluster's name and directory of this run. */
  sh(args: string[], env?: Record<string, string>): ReturnType<typeof run>;
  /** The host's links and routes, to prove a refused `up` made nothing. */
  network(): Promise<string>;
}

/** A namespace whose link holds `addresses` (each taking its subnet), and a cluster name. */
async function hostWith(t: Test, addresses: string[]): Promise<Host> {
  requireProgram('ip', 'iptables-restore', 'bridge', 'nsenter', 'busybox');
  const name = runPrefix();
  const host = await createNetns(t, `${name}-host`);
  // The node namespaces cluster.sh makes are named after the cluster: removed even if down fails.
  t.teardown(async () => {
    for (const i of [1, 2]) await deleteNetns(`${name}-node${i}`);
  });
  const link = `${name}d0`;
  await run('ip', ['-n', host, 'link', 'add', link, 'type', 'veth', 'peer', 'name', `${name}d1`]);
  for (const a of addresses) await run('ip', ['-n', host, 'addr', 'add', a, 'dev', link]);
  for (const l of [link, `${name}d1`]) await run('ip', ['-n', host, 'link', 'set', l, 'up']);
  const dir = mkdtempSync(join(tmpdir(), `kubenode-subnet-${name}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const base: NodeJS.ProcessEnv = {
    ...process.env,
    KUBENODE_CLUSTER_NAME: name,
    KUBENODE_CLUSTER_DIR: join(dir, 'cluster'),
  };
  delete base.KUBENODE_CLUSTER_SUBNET;
  const sh: Host['sh'] = (args, env = {}) =>
    run('nsenter', [`--net=/run/netns/${host}`, '--', 'bash', join(SCRIPTS, 'cluster.sh'), ...args], {
      env: { ...base, ...env },
      allowFailure: true,
      timeoutMs: 120_000,
    });
  t.teardown(() => sh(['down']));
  const network = async () =>
    (await run('ip', ['-n', host, '-o', 'link', 'show'])).stdout.replace(/^\d+: /gm, '') +
    (await run('ip', ['-n', host, '-4', 'route', 'show', 'table', 'all'])).stdout;
  return { name, dir, sh, network };
}

t.test('192.168.56.0/24 and .57 taken: up takes 192.168.58.0/24, says so, and keeps it', async (t) => {
  const h = await hostWith(t, ['192.168.56.1/24', '192.168.57.200/24']);
  const up = await h.sh(['up', '--nodes', '2', '--network-only']);
  t.equal(up.code, 0, `up succeeds (stderr: ${up.stderr.trim()})`);
  t.match(
    up.stdout,
    /the node network 192\.168\.56\.0\/24 is already in use on this machine \(route: 192\.168\.56\.0\/24 dev kt[0-9a-f]{4}d0 [^)]*\): using 192\.168\.58\.0\/24 instead/,
    'up says which subnet it took and why',
  );
  t.match(up.stdout, new RegExp(`${h.name}-node2\\s+192\\.168\\.58\\.12`), 'the nodes get addresses in it');

  // Later commands read the saved settings, whatever the environment says now.
  t.match(
    readFileSync(join(h.dir, 'cluster', 'cluster.env'), 'utf8'),
    /^subnet=192\.168\.58\.0\/24$/m,
    'the subnet is saved with the settings',
  );
  const nodes = await h.sh(['nodes'], { KUBENODE_CLUSTER_SUBNET: '192.168.99.0/24' });
  t.same(
    nodes.stdout.trim().split('\n'),
    [1, 2].map((i) => `${h.name}-node${i} 192.168.58.${10 + i} ${h.name}-node${i}`),
    'nodes lists the chosen addresses',
  );
  t.match(
    (await h.sh(['status'])).stdout,
    new RegExp(`bridge ${h.name}-vnet0 192\\.168\\.58\\.1/24`),
    'status shows the bridge on the chosen subnet',
  );
  const ping = await h.sh(['exec', '2', '--', 'busybox', 'ping', '-c', '1', '-W', '2', '192.168.58.1']);
  t.equal(ping.code, 0, `node 2 reaches the host on the chosen subnet (${ping.stdout.trim().split('\n').pop()})`);
  // A second up (adding a node) keeps the subnet rather than choosing again.
  const again = await h.sh(['up', '--nodes', '2', '--network-only']);
  t.notMatch(again.stdout, /already in use/, 'a cluster that is up is not moved');

  const down = await h.sh(['down']);
  t.equal(down.code, 0, `down removes it (stderr: ${down.stderr.trim()})`);
  t.notOk(existsSync(join(h.dir, 'cluster', 'cluster.env')), 'and its saved settings');
});

t.test('a taken KUBENODE_CLUSTER_SUBNET the user chose fails clearly, and nothing is made', async (t) => {
  const h = await hostWith(t, ['192.168.56.1/24']);
  const before = await h.network();
  const up = await h.sh(['up', '--nodes', '1', '--network-only'], { KUBENODE_CLUSTER_SUBNET: '192.168.56.0/24' });
  t.not(up.code, 0, 'up fails');
  t.match(
    up.stderr,
    /the node network 192\.168\.56\.0\/24 is already in use on this machine \(route: .*\); pick another with KUBENODE_CLUSTER_SUBNET/,
  );
  t.equal(await h.network(), before, 'no link or route was added');
  t.notOk(existsSync(join(h.dir, 'cluster', 'cluster.env')), 'no settings were saved');
});

t.test('every candidate taken: up stops and asks for KUBENODE_CLUSTER_SUBNET', async (t) => {
  // One /16 covers 192.168.56.0/24 ... 192.168.63.0/24.
  const h = await hostWith(t, ['192.168.1.1/16']);
  const before = await h.network();
  const up = await h.sh(['up', '--nodes', '1', '--network-only']);
  t.not(up.code, 0, 'up fails');
  t.match(
    up.stderr,
    /the node network 192\.168\.56\.0\/24 is already in use on this machine \(route: 192\.168\.0\.0\/16 .*\), and so are 192\.168\.57\.0\/24 .* 192\.168\.63\.0\/24: choose a free one with KUBENODE_CLUSTER_SUBNET/,
  );
  t.equal(await h.network(), before, 'no link or route was added');
});
