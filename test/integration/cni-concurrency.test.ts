// 100 ADDs at once into 100 namespaces (all racing to create the same bridge and to allocate
// from the same store) give 100 distinct addresses; 100 DELs at once leave nothing.
import t from 'tap';
import { bridgeConf, cniWorld } from '../fixtures/cni/world.js';

const N = 100;

t.test(`${N} concurrent ADDs get ${N} distinct addresses; ${N} concurrent DELs release them`, async (t) => {
  const w = await cniWorld(t);
  const conf = bridgeConf(w, {}, { ranges: [[{ subnet: '10.244.8.0/24' }]] });
  const paths: string[] = [];
  for (let i = 0; i < N; i++) paths.push(await w.pod(`c${i}`));

  let t0 = Date.now();
  const adds = await Promise.all(
    paths.map((p, i) =>
      w.exec('kubenode-bridge', 'ADD', conf, { containerId: `${w.prefix}-c${i}`, netns: p, timeoutMs: 150_000 }),
    ),
  );
  t.comment(`${N} concurrent ADDs took ${Date.now() - t0} ms`);
  const failed = adds.filter((r) => r.code !== 0);
  t.equal(failed.length, 0, `every ADD succeeded${failed.length ? `: ${failed[0]!.stdout}` : ''}`);
  const ips = adds.map((r) => (r.json?.ips as { address: string }[] | undefined)?.[0]?.address);
  t.equal(new Set(ips).size, N, `${N} distinct addresses`);
  t.equal(w.allocations().length, N, `${N} allocation files`);
  const links = await w.nodeLinks();
  t.equal(links.filter((l) => l.startsWith('veth')).length, N, `${N} veths on the node`);
  t.equal(links.filter((l) => l === w.bridge).length, 1, 'exactly one bridge');

  t0 = Date.now();
  const dels = await Promise.all(
    paths.map((p, i) =>
      w.exec('kubenode-bridge', 'DEL', conf, { containerId: `${w.prefix}-c${i}`, netns: p, timeoutMs: 150_000 }),
    ),
  );
  t.comment(`${N} concurrent DELs took ${Date.now() - t0} ms`);
  const delFailed = dels.filter((r) => r.code !== 0);
  t.equal(
    delFailed.length,
    0,
    `every DEL succeeded${delFailed.length ? `: ${delFailed[0]!.stdout}${delFailed[0]!.stderr}` : ''}`,
  );
  t.same(w.allocations(), [], 'the store is empty');
  t.same(await w.nodeLinks(), [w.bridge], 'no veth left');
});
