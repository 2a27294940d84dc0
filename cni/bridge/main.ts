// kubenode-bridge: a CNI plugin wiring each pod's network namespace to a Linux bridge, in the
// manner of the reference bridge plugin (see cni/bridge/config.ts for the fields). Bundled to
// dist/cni/kubenode-bridge.cjs; each command's code is loaded only when that command runs.
import { processIO, runPlugin } from '../skel/skel.js';

runPlugin(
  'kubenode-bridge',
  {
    add: async () => (await import('./add.js')).cmdAdd,
    del: async () => (await import('./del.js')).cmdDel,
    check: async () => (await import('./check.js')).cmdCheck,
    status: async () => (await import('./status.js')).cmdStatus,
    gc: async () => (await import('./gc.js')).cmdGc,
  },
  processIO,
  'connects pods to a Linux bridge on the node (kubenode-ipam assigns their addresses)',
).then((code) => {
  process.exitCode = code;
});
