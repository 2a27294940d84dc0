// Hostile input, with a real agent: 100 refused mutated Pod manifests (the unit tier's
// generator, test/unit/fuzz-pod-manifests.test.ts, same kind of seed) written into the manifest
// directory beside two good pods. The agent keeps running, every bad file gets its errors on
// /manifestErrors (file, field, reason), and the good pods keep running, untouched.
import t from 'tap';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { readManifests } from '../../agent/sources/manifest.js';
import type { ManifestError } from '../../agent/sources/types.js';
import { allRunning, createWorld, findPod, IMAGES, podReady, testPod } from '../fixtures/agent/world.js';
import { mutate, Rng } from '../fixtures/fuzz/mutator.js';
import { VALID_PODS } from '../fixtures/fuzz/pods.js';

t.test('100 hostile manifests beside two good pods: no crash, each file its error, good pods untouched', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  const good = ['good-a', 'good-b'];
  for (const g of good)
    await w.writeManifest(
      `${g}.yaml`,
      testPod(w, g, [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]),
    );
  await agent.waitFor('the good pods running', (ps) => good.every((g) => allRunning(findPod(ps, w, g))));
  const ids = async () =>
    (await agent.pods())
      .filter((p) => good.some((g) => p === findPod([p], w, g)))
      .map((p) => p.status!.containerStatuses![0]!.containerID)
      .sort();
  const before = await ids();

  // Only manifests the validation refuses: one it admits would rightly start a pod.
  const rng = new Rng(20_2027);
  const files: string[] = [];
  for (let i = 0; files.length < 100 && i < 1000; i++) {
    const { value } = mutate(rng.pick(VALID_PODS), rng);
    const text = i % 2 === 0 ? JSON.stringify(value) : stringify(value, { aliasDuplicateObjects: false });
    if (readManifests(text, { source: 'file', origin: 'x', nodeName: w.nodeName }).errors.length === 0) continue;
    const file = `fuzz-${i}.${i % 2 === 0 ? 'json' : 'yaml'}`;
    await w.writeManifest(file, text);
    files.push(file);
  }
  t.equal(files.length, 100);

  const deadline = Date.now() + 30_000;
  let errors: ManifestError[] = [];
  for (;;) {
    errors = JSON.parse((await agent.get('/manifestErrors')).body).items as ManifestError[];
    const origins = new Set(errors.map((e) => e.origin));
    if (files.every((f) => origins.has(join(w.manifestDir, f))) || Date.now() > deadline) break;
    await new Promise((r) => setTimeout(r, 250));
  }
  const origins = new Set(errors.map((e) => e.origin));
  t.same(
    files.filter((f) => !origins.has(join(w.manifestDir, f))),
    [],
    'every bad file has its error on /manifestErrors',
  );
  t.same(
    errors.filter((e) => e.source !== 'file' || !e.field || !e.reason || !e.object),
    [],
    'each error names the object, the field and the reason',
  );
  t.ok(agent.running, 'the agent did not crash');
  t.equal((await agent.get('/healthz')).status, 200, 'the agent is healthy');
  const pods = await agent.pods();
  t.same(
    pods.map((p) => p.metadata!.name).sort(),
    good.map((g) => `${w.prefix}-${g}-${w.nodeName}`).sort(),
    'only the good pods are desired',
  );
  t.ok(
    good.every((g) => allRunning(findPod(pods, w, g)) && podReady(findPod(pods, w, g))),
    'the good pods are running and ready',
  );
  t.same(await ids(), before, 'the good pods were not touched (same containers)');
});
