// Bundle each CNI plugin into one CommonJS file. A CNI plugin is a new process for every
// ADD/DEL, so its start-up time is its latency: one file with no module resolution at start
// is the fastest way Node.js can load it (see bench/cni-latency).
import { build } from 'esbuild';
import { existsSync, mkdirSync } from 'node:fs';

const plugins = { 'kubenode-bridge': 'cni/bridge/main.ts', 'kubenode-ipam': 'cni/ipam/main.ts' };
mkdirSync('dist/cni', { recursive: true });
for (const [name, entry] of Object.entries(plugins)) {
  if (!existsSync(entry)) continue;
  await build({
    entryPoints: [entry],
    outfile: `dist/cni/${name}.cjs`,
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    minify: false,
    sourcemap: false,
    banner: { js: '#!/usr/bin/env node' },
    // The netlink package has a native addon; only the optional netlink backend loads it.
    external: ['netlink', 'netlink/*'],
    // import() of the external package becomes require(): the bundle runs inside a vm.Script
    // (bin/kubenode-*.cjs, for the code cache), where a real dynamic import has no loader.
    supported: { 'dynamic-import': false },
    logLevel: 'warning',
  });
}
