// The Vagrantfile: `vagrant validate` (Debian's vagrant package) accepts it for several worker
// counts and refuses a bad one clearly; every script its provisioners run exists. Vagrant's
// update check is off and its state goes to a temporary directory, so validation talks to no
// one and leaves nothing in the project.
import t from 'tap';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { PROJECT_ROOT } from '../harness/control-plane.js';
import { requireProgram } from '../harness/require.js';

t.test('vagrant validate accepts the Vagrantfile', async (t) => {
  requireProgram('vagrant'); // Debian package vagrant, installed by scripts/setup.sh
  const home = mkdtempSync(join(tmpdir(), 'kubenode-vagrant-'));
  t.teardown(() => run('rm', ['-rf', home]));
  const validate = (workers: string, more: Record<string, string> = {}) =>
    run('vagrant', ['validate', '--ignore-provider'], {
      cwd: PROJECT_ROOT,
      allowFailure: true,
      timeoutMs: 180_000,
      env: {
        ...process.env,
        VAGRANT_CHECKPOINT_DISABLE: '1',
        VAGRANT_HOME: join(home, 'home'),
        VAGRANT_DOTFILE_PATH: join(home, 'dot'),
        KUBENODE_WORKERS: workers,
        ...more,
      },
    });
  for (const n of ['1', '3']) {
    const r = await validate(n);
    t.equal(r.code, 0, `valid with ${n} workers${r.code ? `: ${r.stdout}${r.stderr}` : ''}`);
    t.match(r.stdout, /validated successfully/);
    t.match(r.stdout, new RegExp(`worker-${n}`), `defines worker-${n}`);
    t.notMatch(r.stdout, new RegExp(`worker-${Number(n) + 1}`));
  }
  const bad = await validate('0');
  t.not(bad.code, 0);
  t.match(bad.stdout + bad.stderr, /KUBENODE_WORKERS must be between 1 and 50, got 0/);
  // The control plane on the host: only workers are machines.
  const host = await validate('2', {
    KUBENODE_CONTROL_PLANE: 'host',
    KUBENODE_LIBVIRT_DRIVER: 'qemu',
    KUBENODE_PROXY_MODE: 'ipvs',
  });
  t.equal(host.code, 0, `valid with the control plane on the host${host.code ? `: ${host.stdout}${host.stderr}` : ''}`);
  t.notMatch(host.stdout, /control-plane/, 'no control-plane machine in host mode');
  t.match(host.stdout, /worker-2/);
  for (const [name, value, message] of [
    ['KUBENODE_CONTROL_PLANE', 'cloud', /KUBENODE_CONTROL_PLANE must be vm or host, got cloud/],
    ['KUBENODE_LIBVIRT_DRIVER', 'xen', /KUBENODE_LIBVIRT_DRIVER must be kvm or qemu, got xen/],
    ['KUBENODE_PROXY_MODE', 'nft', /KUBENODE_PROXY_MODE must be iptables, ipvs, nftables or userspace, got nft/],
  ] as const) {
    const r = await validate('1', { [name]: value });
    t.not(r.code, 0, `${name}=${value} is refused`);
    t.match(r.stdout + r.stderr, message);
  }
  t.notOk(existsSync(join(PROJECT_ROOT, '.vagrant-kubenode')), 'validation made no credentials');
});

t.test('the Vagrantfile provisions with node-setup.sh and the scripts the emulated cluster uses', async (t) => {
  const text = readFileSync(join(PROJECT_ROOT, 'Vagrantfile'), 'utf8');
  const used = [...new Set([...text.matchAll(/\/vagrant\/(scripts\/[\w.-]+)/g)].map((m) => m[1]!))].sort();
  t.same(used, ['scripts/control-plane.sh', 'scripts/node-rbac.yaml', 'scripts/node-setup.sh', 'scripts/node.sh']);
  for (const f of used) t.ok(existsSync(join(PROJECT_ROOT, f)), `${f} exists`);
  const cluster = readFileSync(join(PROJECT_ROOT, 'scripts/cluster.sh'), 'utf8');
  t.match(cluster, /node\.sh/, 'cluster.sh starts nodes with node.sh too');
  t.match(cluster, /node-rbac\.yaml/, 'and applies the same RBAC');
});
