// The foundation's end-to-end checks: the upstream control plane built by setup.sh comes up,
// answers /readyz, allocates node CIDRs, and fails cleanly on bad input.
import t from 'tap';
import { createServer } from 'node:net';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { startControlPlane, SCRIPTS } from '../harness/control-plane.js';
import { freePorts } from '../harness/ports.js';

t.test('the control plane answers readyz and serves the pinned release', async (t) => {
  const cp = await startControlPlane(t);
  const readyz = await cp.kubectl(['get', '--raw', '/readyz']);
  t.equal(readyz.stdout.trim(), 'ok');
  const version = JSON.parse((await cp.kubectl(['version', '-o', 'json'])).stdout);
  const pinned = /KUBERNETES_VERSION=(\S+)/.exec((await run('cat', [join(SCRIPTS, 'versions.sh')])).stdout)![1];
  t.equal(version.serverVersion.gitVersion, pinned, 'apiserver is the pinned upstream release');
  t.equal(version.clientVersion.gitVersion, pinned, 'kubectl is the same release');

  // kube-controller-manager runs with --allocate-node-cidrs: a Node gets a podCIDR.
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({ apiVersion: 'v1', kind: 'Node', metadata: { name: 'cidr-probe' } }),
  });
  let cidr = '';
  for (let i = 0; i < 100 && !cidr; i++) {
    cidr = (await cp.kubectl(['get', 'node', 'cidr-probe', '-o', 'jsonpath={.spec.podCIDR}'])).stdout.trim();
    if (!cidr) await new Promise((r) => setTimeout(r, 200));
  }
  t.match(cidr, /^10\.244\.\d+\.0\/24$/, 'node got a podCIDR from the controller-manager');

  // The scheduler is running: a pod gets bound to a schedulable node.
  const status = (await cp.script(['status'])).stdout;
  for (const c of ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'])
    t.match(status, new RegExp(`${c}\\s+running`));
});

t.test('node credentials carry the identity the Node authorizer expects', async (t) => {
  const cp = await startControlPlane(t);
  const nd = await cp.nodeCredentials('node-a', ['192.0.2.10']);
  const subject = (await run('openssl', ['x509', '-in', join(nd, 'node-node-a.crt'), '-noout', '-subject'])).stdout;
  t.match(subject, /O\s*=\s*system:nodes/);
  t.match(subject, /CN\s*=\s*system:node:node-a/);
  // As that node: allowed to read its own Node object's absence, forbidden to list secrets.
  const kc = join(nd, 'kubeconfig');
  const kubectl = (args: string[]) =>
    run('bash', [join(SCRIPTS, 'control-plane.sh'), 'kubectl', '--kubeconfig', kc, ...args], {
      env: cp.env,
      allowFailure: true,
    });
  const who = await kubectl(['auth', 'whoami', '-o', 'jsonpath={.status.userInfo.username}']);
  t.equal(who.stdout.trim(), 'system:node:node-a');
  const secrets = await kubectl(['get', 'secrets', '-A']);
  t.not(secrets.code, 0, 'a node may not list all secrets');
  t.match(secrets.stderr, /forbidden/i);
});

t.test('bad input: unknown subcommand and a taken port fail clearly and start nothing', async (t) => {
  const unknown = await run('bash', [join(SCRIPTS, 'control-plane.sh'), 'frobnicate'], { allowFailure: true });
  t.equal(unknown.code, 2);
  t.match(unknown.stderr, /unknown subcommand 'frobnicate'/);

  // Hold a port, then ask for the apiserver on it.
  const [port, etcdClient, etcdPeer] = await freePorts(3);
  const blocker = createServer().listen(port, '0.0.0.0');
  t.teardown(() => blocker.close());
  await new Promise((r) => blocker.once('listening', r));
  const dir = join('/tmp', `kubenode-cp-taken-${process.pid}`);
  t.teardown(() => run('rm', ['-rf', dir]));
  const env = {
    ...process.env,
    KUBENODE_CONTROL_PLANE_DIR: dir,
    APISERVER_PORT: String(port),
    ETCD_CLIENT_PORT: String(etcdClient),
    ETCD_PEER_PORT: String(etcdPeer),
    CONTROLLER_MANAGER_PORT: '0',
    SCHEDULER_PORT: '0',
  };
  const taken = await run('bash', [join(SCRIPTS, 'control-plane.sh'), 'up'], { env, allowFailure: true });
  t.equal(taken.code, 1);
  t.match(taken.stderr, new RegExp(`port ${port} already in use`));
  const runDir = join(dir, 'run');
  t.notOk(existsSync(runDir) && readdirSync(runDir).length > 0, 'no component was started');
  const etcdListening = await run('ss', ['-Hltn', `sport = :${etcdClient}`]);
  t.equal(etcdListening.stdout.trim(), '', 'etcd is not listening');
});
