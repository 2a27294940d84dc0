// `control-plane.sh status` and `cluster.sh status` say with their exit status whether things are
// up, as `systemctl status` does (0 running, 1 dead, 3 stopped), so scripts and people can write
// `scripts/control-plane.sh status || scripts/control-plane.sh up`. Here: the states that need
// no control plane (nothing started; a component that died; one that runs but is not the
// apiserver it claims to be). The running cases are in the e2e tests (control-plane, cluster-demo),
// which fail when status does not exit 0.
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run } from '../../lib/exec.js';
import { runPrefix } from '../harness/prefix.js';

const SCRIPTS = resolve(import.meta.dirname, '../../../scripts');
const COMPONENTS = ['etcd', 'kube-apiserver', 'kube-controller-manager', 'kube-scheduler'];

function stateDir(t: Test): string {
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-status-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const controlPlaneStatus = (dir: string) =>
  run('bash', [join(SCRIPTS, 'control-plane.sh'), 'status'], {
    env: { ...process.env, KUBENODE_CONTROL_PLANE_DIR: dir },
    allowFailure: true,
  });

t.test('control-plane.sh status: 3 when nothing was started', async (t) => {
  const r = await controlPlaneStatus(stateDir(t));
  t.equal(r.code, 3, 'exit 3: not running');
  for (const c of COMPONENTS) t.match(r.stdout, new RegExp(`^${c}\\s+stopped$`, 'm'));
});

t.test('control-plane.sh status: 1 when a component died (its pid file is left behind)', async (t) => {
  const dir = stateDir(t);
  mkdirSync(join(dir, 'run'), { recursive: true });
  // The pid of a process that has exited: what a crashed etcd leaves.
  const gone = spawn('true');
  await new Promise((r) => gone.on('exit', r));
  writeFileSync(join(dir, 'run', 'etcd.pid'), `${gone.pid}\n`);
  const r = await controlPlaneStatus(dir);
  t.equal(r.code, 1, 'exit 1: dead');
  t.match(r.stdout, /^etcd\s+dead \(exited; see .*etcd\.log\)$/m);
});

t.test('control-plane.sh status: 1 when the apiserver process runs but is not ready', async (t) => {
  const dir = stateDir(t);
  mkdirSync(join(dir, 'run'), { recursive: true });
  // Live processes under every pid file; none of them answers /readyz.
  for (const c of COMPONENTS) {
    const p = spawn('sleep', ['300'], { stdio: 'ignore' });
    t.teardown(() => {
      p.kill('SIGKILL');
    });
    writeFileSync(join(dir, 'run', `${c}.pid`), `${p.pid}\n`);
  }
  const r = await controlPlaneStatus(dir);
  for (const c of COMPONENTS) t.match(r.stdout, new RegExp(`^${c}\\s+running \\(pid \\d+\\)$`, 'm'));
  t.match(r.stdout, /^apiserver \/readyz\s+\S/m, 'the readiness answer (an error) is shown');
  t.equal(r.code, 1, 'exit 1: running is not enough, the apiserver must answer ready');
});

t.test('cluster.sh status: 3 when the cluster is not up', async (t) => {
  const r = await run('bash', [join(SCRIPTS, 'cluster.sh'), 'status'], {
    env: { ...process.env, KUBENODE_CLUSTER_NAME: runPrefix(), KUBENODE_CLUSTER_DIR: join(stateDir(t), 'cluster') },
    allowFailure: true,
  });
  t.equal(r.code, 3, 'exit 3: not up');
  t.match(r.stdout, /no nodes/);
});
