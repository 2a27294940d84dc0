// The plugins as scripts/install-cni.sh installs them (what a CNI runtime on a node executes):
// a copy of the bundles outside this checkout, run with both host-link backends. The netlink
// backend (KUBENODE_CNI_HOST_LINK=netlink) loads a native package the bundles leave out, so this
// is where a missing copy of it shows.
import t from 'tap';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { ROOT, bridgeConf, cniWorld } from '../fixtures/cni/world.js';

t.test('installed plugins: ADD and DEL with the iproute2 and the netlink host-link backends', async (t) => {
  const w = await cniWorld(t);
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-cni-install-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const bin = join(dir, 'bin');
  const lib = join(dir, 'lib');
  await run('bash', [join(ROOT, 'scripts/install-cni.sh')], {
    env: { ...process.env, CNI_BIN_DIR: bin, KUBENODE_CNI_LIB_DIR: lib },
  });
  t.ok(
    existsSync(join(lib, 'node_modules/netlink/package.json')),
    'the netlink package is installed beside the bundles',
  );
  const conf = bridgeConf(w, {});
  for (const backend of ['iproute2', 'netlink']) {
    const path = await w.pod(backend);
    const id = `${w.prefix}-${backend}`;
    const extra = backend === 'netlink' ? { KUBENODE_CNI_HOST_LINK: 'netlink' } : {};
    const add = await w.exec('kubenode-bridge', 'ADD', conf, { containerId: id, netns: path, path: bin, extra });
    t.equal(add.code, 0, `${backend}: ADD by the installed plugin succeeds (${add.stdout}${add.stderr})`);
    const hostIf = (add.json?.interfaces as { name: string }[] | undefined)?.[1]?.name ?? '';
    t.match(
      await w.sh(w.node, 'ip', ['-d', 'link', 'show', hostIf]),
      new RegExp(`master ${w.bridge}`),
      `${backend}: the host end ${hostIf} is on the bridge`,
    );
    const del = await w.exec('kubenode-bridge', 'DEL', conf, { containerId: id, netns: path, path: bin, extra });
    t.equal(del.code, 0, `${backend}: DEL succeeds (${del.stdout}${del.stderr})`);
    const gone = await run('ip', ['netns', 'exec', w.node, 'ip', 'link', 'show', hostIf], { allowFailure: true });
    t.not(gone.code, 0, `${backend}: the host end is gone after DEL`);
  }
  t.equal(w.allocations().length, 0, 'no address left allocated');
});
