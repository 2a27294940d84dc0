// kubenode-proxy --proxy-mode ipvs. This machine's kernel has no IPVS: here the proxy must refuse
// to start with a way out; the traffic scenarios run inside the test VM (scripts/vm.sh boots
// Debian's kernel, which has IPVS), and their TAP comes back as a subtest of this file.
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { createNetns, type Teardownable } from '../harness/netns.js';
import { runPrefix } from '../harness/prefix.js';
import { requireProgram, requireRoot } from '../harness/require.js';
import { projectRoot, spawnScenariosInVm } from '../vm/vm.js';

const PROXY_BIN = join(projectRoot, 'bin/kubenode-proxy.js');

async function proxyInNetns(t: Teardownable, args: string[]) {
  const ns = await createNetns(t, `${runPrefix()}-ipvs`);
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-ipvs-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return run(
    'ip',
    [
      'netns',
      'exec',
      ns,
      process.execPath,
      PROXY_BIN,
      '--services-dir',
      dir,
      '--healthz-bind-address=',
      '--metrics-bind-address=',
      ...args,
    ],
    { timeoutMs: 60_000, allowFailure: true },
  );
}

t.test('without IPVS in the kernel, ipvs mode stops at once and points to iptables mode', async (t) => {
  requireRoot();
  requireProgram('ipvsadm', 'ipset', 'ip');
  const host = await run('ipvsadm', ['-Ln'], { allowFailure: true });
  t.not(host.code, 0, 'this machine has no IPVS (the premise of this test)');
  const r = await proxyInNetns(t, ['--proxy-mode', 'ipvs']);
  t.equal(r.code, 1, 'exit status 1');
  t.match(r.stderr, /IPVS is not available in this kernel/);
  t.match(r.stderr, /use --proxy-mode iptables/);
});

t.test('an unknown --ipvs-scheduler is refused with the choices', async (t) => {
  requireRoot();
  const r = await proxyInNetns(t, ['--proxy-mode', 'ipvs', '--ipvs-scheduler', 'fastest']);
  t.equal(r.code, 1);
  t.match(r.stderr, /--ipvs-scheduler: \\"fastest\\" is not an IPVS scheduler \(one of rr, wrr, lc/);
});

t.test('inside the VM: ClusterIP, NodePort, draining, affinity, refusal, cleanup', async (t) => {
  spawnScenariosInVm(t, 'dist/test/vm/proxy-ipvs-scenarios.js', 420);
});
