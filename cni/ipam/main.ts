// kubenode-ipam: a CNI IPAM plugin in host-local's format (see cni/ipam/config.ts), also able to
// take its subnet from the node's podCIDR file. Bundled to dist/cni/kubenode-ipam.cjs.
import { processIO, runPlugin, type CommandContext } from '../skel/skel.js';

// Loaded on first use only: VERSION never pays for the store code.
const load = () => import('./commands.js');

runPlugin(
  'kubenode-ipam',
  {
    add: async () => async (ctx: CommandContext) => (await load()).ipamAdd(ctx).result,
    del: async () => async (ctx: CommandContext) => {
      (await load()).ipamDel(ctx);
    },
    check: async () => async (ctx: CommandContext) => {
      (await load()).ipamCheck(ctx);
    },
    status: async () => async (ctx: CommandContext) => {
      (await load()).ipamStatus(ctx);
    },
    gc: async () => async (ctx: CommandContext) => {
      (await load()).ipamGc(ctx);
    },
  },
  processIO,
  "assigns pod addresses from the node's pod CIDR (host-local's configuration format)",
).then((code) => {
  process.exitCode = code;
});
