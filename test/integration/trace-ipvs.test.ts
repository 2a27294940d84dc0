// kubenode-trace against kubenode-proxy's IPVS mode: this machine's kernel has no IPVS, so the
// scenarios run inside the test VM (scripts/vm.sh), their TAP coming back as a subtest.
import t from 'tap';
import { spawnScenariosInVm } from '../vm/vm.js';

t.test('inside the VM: a ClusterIP traced through IPVS', async (t) => {
  spawnScenariosInVm(t, 'dist/test/vm/trace-ipvs-scenarios.js', 240);
});
