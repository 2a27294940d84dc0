// Hostile input, the process tier: 50 of the mutated CNI invocations the unit tier
// runs in-process (test/unit/fuzz-cni.test.ts) run as real kubenode-bridge processes in a node
// namespace, against a real pod namespace. Each answers the spec error JSON with the expected
// code and a non-zero exit, and afterwards nothing is left: no link in the node or the pod
// namespace, no address in the IPAM store, no NAT chain.
import t from 'tap';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { runPlugin } from '../../cni/skel/skel.js';
import { cniWorld } from '../fixtures/cni/world.js';
import { cniFuzzCase, REACHED, validateOnly } from '../fixtures/fuzz/cni.js';
import { Rng } from '../fixtures/fuzz/mutator.js';

t.test('50 mutated invocations of the real plugin: the spec error, nothing left behind', async (t) => {
  const w = await cniWorld(t);
  const netns = await w.pod('f');
  const podNs = `${w.prefix}-f`;
  const snapshot = async () => ({
    node: (await w.nodeLinks()).sort(),
    pod: (await w.sh(podNs, 'ip', ['-o', 'link', 'show']))
      .split('\n')
      .filter(Boolean)
      .map((l) => l.split(':')[1]!.trim()),
    allocations: w.allocations(),
    chains: (await w.natRules()).split('\n').filter((l) => l.includes('KUBENODE-BR-')),
  });
  const before = await snapshot();
  const rng = new Rng(0xc42);
  const wrong: string[] = [];
  let ran = 0;
  for (let i = 0; ran < 50 && i < 500; i++) {
    const c = cniFuzzCase(rng, {
      netns,
      dataDir: w.dataDir,
      cniPath: w.binDir,
      name: w.network,
      containerId: `${w.prefix}-f${i}`,
      bridge: w.bridge,
    });
    // Only the invocations the checks refuse: a mutation that leaves the input valid (an unknown
    // field, say) would rightly make a real attachment, which is not what this test is about.
    const out: string[] = [];
    await runPlugin('kubenode-bridge', validateOnly, {
      env: c.env,
      stdin: () => c.stdin,
      stdout: (s) => out.push(s),
      stderr: () => {},
    });
    if (out.join('').includes(REACHED)) continue;
    ran++;
    const r = await run('nsenter', [`--net=/run/netns/${w.node}`, '--', join(w.binDir, 'kubenode-bridge')], {
      input: c.stdin,
      env: { PATH: process.env.PATH, ...c.env },
      allowFailure: true,
      timeoutMs: 30_000,
    });
    let j: { cniVersion?: unknown; code?: unknown; msg?: unknown } | undefined;
    try {
      j = JSON.parse(r.stdout);
    } catch {
      j = undefined;
    }
    if (
      r.code === 0 ||
      !j ||
      typeof j.cniVersion !== 'string' ||
      typeof j.msg !== 'string' ||
      !c.codes.includes(j.code as number)
    ) {
      wrong.push(
        `case ${i} (${c.what}): exit ${r.code}, expected ${c.codes.join('/')}: ${r.stdout.slice(0, 300)} ${r.stderr.slice(0, 200)}`,
      );
    }
  }
  t.equal(ran, 50, '50 hostile invocations ran as processes');
  t.same(wrong, [], 'each answered the spec error JSON with the expected code and a non-zero exit');
  t.same(await snapshot(), before, 'no link, address or NAT chain left behind');
});
