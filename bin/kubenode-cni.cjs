#!/usr/bin/env node
// The launcher of both CNI plugins, kubenode-bridge and kubenode-ipam: the name it is run
// under picks the plugin. Loads the plugin's one-file bundle that `npm run build` makes
// (scripts/bundle-cni.mjs) through a V8 code cache: a CNI plugin is a new process per call, so
// compiling the bundle on every ADD is latency; with the cache V8 skips parsing and compiling
// what earlier runs already compiled (node 20 has no module.enableCompileCache()).
// scripts/install-cni.sh copies this file once per plugin, with its name and the bundle directory
// made absolute.
'use strict';
const dir = __dirname + '/../dist/cni'; // kubenode:bundle-dir
const name = require('path').basename(process.argv[1] || '').replace(/\.cjs$/, ''); // kubenode:plugin-name
if (name === 'kubenode-cni') {
  // Run under its own name, the launcher is no plugin: say how it is meant to be used.
  const help = process.argv.includes('--help') || process.argv.includes('-h');
  (help ? process.stdout : process.stderr).write('Usage: kubenode-bridge | kubenode-ipam  (this launcher, installed under a plugin\'s name)\n' +
    'scripts/install-cni.sh installs it as /opt/cni/bin/kubenode-bridge and kubenode-ipam; each answers --help.\n');
  process.exit(help ? 0 : 2);
}
const fs = require('fs');
const vm = require('vm');
const Module = require('module');
const file = dir + '/' + name + '.cjs';
// One cache per command: each holds the functions that command compiles.
const command = /^(ADD|DEL|CHECK|VERSION|STATUS|GC)$/.test(process.env.CNI_COMMAND || '') ? process.env.CNI_COMMAND : 'OTHER';
const cacheFile = dir + '/v8cache/' + name + '-' + command + '-' + process.version + '.bin';
let src = fs.readFileSync(file, 'utf8');
if (src.startsWith('#!')) src = '//' + src.slice(2);
let cachedData;
try { cachedData = fs.readFileSync(cacheFile); } catch { /* first run: compile, then save */ }
const script = new vm.Script(Module.wrap(src), { filename: file, cachedData });
if (cachedData === undefined || script.cachedDataRejected) {
  // Written at exit, so the functions this run compiled lazily are in the cache too; and only
  // after a successful call, whose code path is the one worth caching.
  process.on('exit', (code) => {
    if (code !== 0) return;
    try {
      fs.mkdirSync(dir + '/v8cache', { recursive: true });
      const tmp = cacheFile + '.' + process.pid;
      fs.writeFileSync(tmp, script.createCachedData());
      fs.renameSync(tmp, cacheFile);
    } catch { /* read-only install: run without a cache */ }
  });
}
const m = { exports: {} };
script.runInThisContext().call(m.exports, m.exports, Module.createRequire(file), m, file, dir);
