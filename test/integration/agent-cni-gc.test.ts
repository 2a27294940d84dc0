// CNI GC from the agent (CNI spec 1.1 GC verb, "cni.dev/valid-attachments"): at start-up, after its
// first relist, the agent gives GC the sandboxes that still exist, so an address reserved for a
// sandbox that is gone (an agent killed after ADD, a node reboot: sandbox and records lost) returns
// to the IPAM store, while the addresses of live pods stay. The network is kubenode-bridge +
// kubenode-ipam at CNI 1.1.0 (GC is a 1.1 verb); the "ghost" attachments are made by a real CNI ADD,
// through the agent's own CNI runtime, into a namespace whose sandbox never was a container.
import t from 'tap';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLogger } from '../../lib/log.js';
import { CniNetwork } from '../../agent/network/cni.js';
import { createWorld, testPod, findPod, IMAGES, allRunning } from '../fixtures/agent/world.js';
import { ROOT } from '../fixtures/cni/world.js';
import { createNetns } from '../harness/netns.js';
import { until } from '../harness/until.js';

t.test('the agent GCs the addresses of sandboxes that are gone, at start-up', async (t) => {
  const w = await createWorld(t, { cni: false });
  const bin = join(w.dir, 'cni-bin');
  const ipamDir = join(w.dir, 'ipam');
  const network = `${w.prefix}-net`;
  const cacheDir = join(w.rootDir, 'cni-cache');
  mkdirSync(bin);
  for (const p of ['kubenode-bridge', 'kubenode-ipam']) symlinkSync(join(ROOT, 'bin/kubenode-cni.cjs'), join(bin, p));
  writeFileSync(
    join(w.cniConfDir, '10-gc.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: network,
      plugins: [
        {
          type: 'kubenode-bridge',
          bridge: w.bridge,
          isGateway: true,
          isDefaultGateway: true,
          ipMasq: false,
          ipam: { type: 'kubenode-ipam', ranges: [[{ subnet: w.subnet }]], dataDir: ipamDir },
        },
      ],
    }),
  );
  /** The IPAM store: address -> containerID. */
  const allocations = () => {
    const dir = join(ipamDir, network);
    if (!existsSync(dir)) return new Map<string, string>();
    return new Map(
      readdirSync(dir)
        .filter((f) => /^\d+\.\d+\.\d+\.\d+$/.test(f))
        .map((f) => [f, readFileSync(join(dir, f), 'utf8').split(/\r?\n/)[0]!]),
    );
  };
  const cni = new CniNetwork({
    confDir: w.cniConfDir,
    binDirs: [bin],
    cacheDir,
    logger: createLogger('test', { sink: () => {} }),
  });
  /** An ADD for a sandbox that does not exist, as an agent killed right after ADD leaves it (its record lost too). */
  const ghost = async (name: string) => {
    const netnsPath = `/run/netns/${await createNetns(t, `${w.prefix}-${name}`)}`;
    const r = await cni.setUpPod({
      containerId: `${w.prefix}-${name}-sandbox`,
      netnsPath,
      podName: name,
      podNamespace: w.prefix,
      podUid: `uid-${name}`,
    });
    return r.ips[0]!;
  };
  const agentArgs = [`--cni-bin-dir=${bin}`];

  const ghost1 = await ghost('ghost1');
  t.equal(
    allocations().get(ghost1),
    `${w.prefix}-ghost1-sandbox`,
    `the leftover reservation ${ghost1} is in the IPAM store`,
  );
  await w.writeManifest(
    'live.yaml',
    testPod(w, 'live', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]),
  );
  const a1 = await w.startAgent(agentArgs);
  const live = await a1.waitFor(
    'live Running with an IP',
    (ps) => {
      const p = findPod(ps, w, 'live');
      return allRunning(p) && p?.status?.podIP ? p : undefined;
    },
    60_000,
  );
  const liveIP = live.status!.podIP!;
  await until(`${ghost1} released`, 30_000, async () => !allocations().has(ghost1));
  t.pass(`start-up GC released ${ghost1} (no sandbox has it)`);
  t.ok(
    a1.logs.some((l) => l.includes('"msg":"CNI GC done"') && l.includes('"when":"start-up"')),
    'the agent logged its start-up GC',
  );

  // The agent dies; meanwhile another sandbox-less reservation appears. A new agent, at start-up,
  // must free it and keep the live pod's address (its sandbox still exists).
  await a1.kill9();
  const ghost2 = await ghost('ghost2');
  const liveSandbox = allocations().get(liveIP);
  t.ok(liveSandbox, `the live pod's address ${liveIP} is reserved (by sandbox ${liveSandbox?.slice(0, 12)})`);
  const liveContainers = (await w.containers()).map((c) => c.Id).sort();
  const a2 = await w.startAgent(agentArgs);
  await until(`${ghost2} released by the second agent`, 30_000, async () => !allocations().has(ghost2));
  await until("the second agent's GC logged", 30_000, async () =>
    a2.logs.some((l) => l.includes('"msg":"CNI GC done"')),
  );
  t.same(
    [...allocations().entries()],
    [[liveIP, liveSandbox]],
    `only the live pod's address is left: ${[...allocations().keys()].join(' ')}`,
  );
  const cached = readdirSync(join(cacheDir, 'results'));
  t.notOk(
    cached.some((f) => f.includes('ghost')),
    `the ghosts' cached results are gone (left: ${cached.join(' ')})`,
  );
  const again = await a2.waitFor('live still Running', (ps) => {
    const p = findPod(ps, w, 'live');
    return allRunning(p) ? p : undefined;
  });
  t.equal(again.status?.podIP, liveIP, 'the live pod keeps its address');
  t.same((await w.containers()).map((c) => c.Id).sort(), liveContainers, 'and its containers (nothing recreated)');
  await w.removeManifest('live.yaml');
  await until('the live pod gone', 60_000, async () => (await w.containers()).length === 0);
  await until('its address released by DEL', 30_000, async () => allocations().size === 0);
  await a2.stop();
});
