// The emulated cluster's network on its own (cluster.sh up --network-only): node namespaces on
// one bridge reach each other and the host; partition cuts a node off silently and heal brings
// it back; netem delays and drops packets arriving at a node; down leaves nothing behind.
import t from 'tap';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { newCluster } from '../harness/cluster.js';
import { SCRIPTS } from '../harness/control-plane.js';
import { clusterLeftovers } from '../harness/leftovers.js';
import { requireProgram } from '../harness/require.js';

/** busybox ping from a node: packets sent/received and the average round trip in ms. */
async function ping(
  c: Awaited<ReturnType<typeof newCluster>>,
  from: number,
  to: string,
  count = 3,
  interval = '0.05',
): Promise<{ received: number; avgMs: number }> {
  const r = await c.exec(from, ['busybox', 'ping', '-c', String(count), '-i', interval, '-W', '1', to], {
    allowFailure: true,
    timeoutMs: 60_000,
  });
  const received = Number(/(\d+) packets received/.exec(r.stdout)?.[1] ?? 0);
  const avgMs = Number(/= [\d.]+\/([\d.]+)\//.exec(r.stdout)?.[1] ?? NaN);
  return { received, avgMs };
}

t.test('network-only cluster: reachability, partition, heal, netem, down', async (t) => {
  requireProgram('busybox');
  const c = await newCluster(t);
  const up = await c.sh(['up', '--nodes', '3', '--network-only']);
  t.match(
    up.stdout,
    new RegExp(`${c.nodeName(3)}\\s+${c.nodeIP(3).replace(/\./g, '\\.')}`),
    'up lists node 3 and its address',
  );

  const nodes = (await c.sh(['nodes'])).stdout.trim().split('\n');
  t.same(
    nodes,
    [1, 2, 3].map((i) => `${c.nodeName(i)} ${c.nodeIP(i)} ${c.nodeName(i)}`),
  );
  for (const i of [1, 2, 3]) {
    const addr = (await c.exec(i, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'])).stdout;
    t.match(addr, `${c.nodeIP(i)}/24`, `node ${i} has its address on eth0`);
    t.equal((await c.exec(i, ['sysctl', '-n', 'net.ipv4.ip_forward'])).stdout.trim(), '1', `node ${i} forwards`);
  }
  t.equal((await ping(c, 1, c.nodeIP(3))).received, 3, 'node1 reaches node3');
  t.equal((await ping(c, 3, c.hostIP)).received, 3, 'node3 reaches the host (the apiserver address)');

  // A second `up` is idempotent and adds only what is missing.
  await c.sh(['up', '--nodes', '3', '--network-only']);
  t.equal((await c.sh(['nodes'])).stdout.trim().split('\n').length, 3);

  // partition: node2 reaches nobody and nobody reaches it; its link stays up (silent).
  await c.sh(['partition', 'node2']);
  t.equal((await ping(c, 1, c.nodeIP(2), 2)).received, 0, 'node1 cannot reach partitioned node2');
  t.equal((await ping(c, 2, c.hostIP, 2)).received, 0, 'partitioned node2 cannot reach the control plane address');
  t.equal((await ping(c, 1, c.nodeIP(3))).received, 3, 'the other nodes still reach each other');
  const eth0 = (await c.exec(2, ['ip', '-o', 'link', 'show', 'eth0'])).stdout;
  t.match(eth0, /LOWER_UP/, "the partitioned node's link is still up: nobody is told");
  // A network-only cluster has no control plane: status shows the nodes, and exits 3 (not up).
  const status = await c.sh(['status'], { allowFailure: true });
  t.match(status.stdout, new RegExp(`${c.nodeName(2)}\\s+\\S+\\s+PARTITIONED`));
  t.equal(status.code, 3, 'status exits 3 without a control plane, as systemctl status for a stopped unit');
  await c.sh(['heal', '2']);
  // node1's ARP entry for node2 failed during the partition; ARP retries once a second, so the
  // first answers may take up to a second (as on a real network).
  t.ok((await ping(c, 1, c.nodeIP(2), 6, '0.3')).received >= 3, 'heal restores node2');

  // netem --delay: a round trip to or from the node grows by the delay once.
  const base = await ping(c, 1, c.nodeIP(3), 5);
  await c.sh(['netem', '3', '--delay', '50ms']);
  const slow = await ping(c, 1, c.nodeIP(3), 5, '0.1');
  t.ok(slow.avgMs >= 45 && slow.avgMs < 250, `delay 50ms: RTT ${base.avgMs} ms -> ${slow.avgMs} ms`);
  t.match((await c.sh(['status'], { allowFailure: true })).stdout, /delay 50ms/, 'status shows the impairment');
  const back = await ping(c, 3, c.nodeIP(1), 5, '0.1');
  t.ok(back.avgMs >= 45, `from the delayed node too: ${back.avgMs} ms`);

  // netem --loss 50%: about half of 200 echo requests to the node are lost.
  await c.sh(['netem', '3', '--loss', '50%']);
  const lossy = await ping(c, 1, c.nodeIP(3), 200, '0.01');
  t.ok(lossy.received >= 50 && lossy.received <= 150, `loss 50%: ${lossy.received} of 200 answered`);
  t.ok((await ping(c, 3, c.nodeIP(1), 3)).received <= 3, 'pinging out of a lossy node does not error');
  await c.sh(['heal', '3']);
  const healed = await ping(c, 1, c.nodeIP(3), 20, '0.01');
  t.equal(healed.received, 20, 'heal clears netem');
  t.ok(healed.avgMs < 20, `and the delay: ${healed.avgMs} ms`);

  const down = await c.sh(['down']);
  t.match(down.stdout, /removed/);
  t.same(await clusterLeftovers(c), [], 'down leaves no namespace, link, route, chain, container or state');
});

t.test('bad input fails clearly and changes nothing', async (t) => {
  const c = await newCluster(t);
  const sh = (args: string[], env: Record<string, string> = {}) =>
    run('bash', [join(SCRIPTS, 'cluster.sh'), ...args], { env: { ...c.env, ...env }, allowFailure: true });
  let r = await sh(['frobnicate']);
  t.equal(r.code, 2);
  t.match(r.stderr, /unknown subcommand 'frobnicate'/);
  r = await sh(['up', '--nodes', '0']);
  t.not(r.code, 0);
  t.match(r.stderr, /--nodes must be a number from 1/);
  r = await sh(['up', '--nodes', 'x3']);
  t.match(r.stderr, /--nodes must be a number/);
  r = await sh(['up', '--nodes', '2'], { KUBENODE_CLUSTER_NAME: 'Bad_Name' });
  t.match(r.stderr, /KUBENODE_CLUSTER_NAME 'Bad_Name' must be 1-8 characters/);
  r = await sh(['up', '--nodes', '2'], { KUBENODE_CLUSTER_SUBNET: '192.168.1.0' });
  t.match(r.stderr, /KUBENODE_CLUSTER_SUBNET '192\.168\.1\.0' is not an IPv4 CIDR/);
  t.same(await clusterLeftovers(c), [], 'nothing was created by refused commands');

  await c.sh(['up', '--nodes', '1', '--network-only']);
  r = await sh(['netem', '1', '--loss', '150%']);
  t.match(r.stderr, /--loss '150%' is over 100%/);
  r = await sh(['netem', '1', '--delay', 'fast']);
  t.match(r.stderr, /--delay 'fast' is not a duration/);
  r = await sh(['partition', '7']);
  t.match(r.stderr, new RegExp(`node ${c.name}-node7 does not exist`));
  r = await sh(['exec', 'nodeX', '--', 'true']);
  t.match(r.stderr, /'nodeX' is not a node of cluster/);
  r = await sh(['logs', '1', 'kubelet']);
  t.match(r.stderr, /usage: .* logs NODE agent\|proxy\|hostgw/);
  // The subnet of a cluster that is up cannot be taken by another one.
  const other = await newCluster(t);
  r = await run('bash', [join(SCRIPTS, 'cluster.sh'), 'up', '--nodes', '1', '--network-only'], {
    env: { ...other.env, KUBENODE_CLUSTER_SUBNET: c.subnet },
    allowFailure: true,
  });
  t.match(r.stderr, new RegExp(`the node network ${c.subnet.replace(/\./g, '\\.')} is already in use`));
  t.same(await clusterLeftovers(other), [], 'the refused cluster made nothing');
  await c.sh(['down']);
  t.same(await clusterLeftovers(c), []);
});
