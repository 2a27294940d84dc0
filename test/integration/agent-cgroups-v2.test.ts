// The agent's pod cgroups on cgroup v2. This machine mounts cgroup v1, so the scenarios run in
// the test VM (Debian's kernel, the unified hierarchy mounted there): see
// test/vm/cgroup-v2-scenarios.ts. Their TAP comes back as a subtest of this file.
import t from 'tap';
import { spawnScenariosInVm } from '../vm/vm.js';

t.test('cgroup v2 inside the VM: kubepods tree, limits, OOM kill, CPU quota, removal', async (t) => {
  spawnScenariosInVm(t, 'dist/test/vm/cgroup-v2-scenarios.js', 300);
});
