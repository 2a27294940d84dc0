// The agent's pod cgroups on cgroup v2. This machine mounts cgroup v1, so the scenarios run in
// the test VM (Debian's kernel, the unified hierarchy mounted there): see
// test/vm/cgroup-v2-scenarios.ts. Their TAP comes back as a subtest of this file.
import t from 'tap';
import { requireProgram, requireRoot } from '../harness/require.js';
import { projectRoot, vmScript } from '../vm/vm.js';

t.test('cgroup v2 inside the VM: kubepods tree, limits, OOM kill, CPU quota, removal', async (t) => {
  requireRoot();
  requireProgram('qemu-system-x86_64');
  t.spawn('bash', [vmScript, 'run', '--', 'node', 'dist/test/vm/cgroup-v2-scenarios.js'], {
    cwd: projectRoot,
    env: { ...process.env, KUBENODE_VM_TIMEOUT: '300' },
    timeout: 360_000,
  }, 'cgroup-v2-scenarios (in the VM)');
});
