// Hostile input: 1,000 Pod manifests mutated from valid ones (fixed seed) through the
// file source's parsing and the agent's validation. Nothing may throw out; every manifest is either
// admitted or refused with errors that each name the file, the field and the reason.
import t from 'tap';
import { stringify } from 'yaml';
import { readManifests } from '../../agent/sources/manifest.js';
import { mutate, Rng } from '../fixtures/fuzz/mutator.js';
import { VALID_PODS } from '../fixtures/fuzz/pods.js';

t.test('1,000 mutated Pod manifests: admitted, or refused naming file, field and reason', async (t) => {
  const rng = new Rng(20_2026);
  const escaped: string[] = [];
  const unclear: string[] = [];
  let admitted = 0;
  let refused = 0;
  for (let i = 0; i < 1000; i++) {
    const { value, steps } = mutate(rng.pick(VALID_PODS), rng);
    // Half as JSON, half as YAML, and now and then cut short: all three reach the parser.
    let text = i % 2 === 0 ? JSON.stringify(value) : stringify(value, { aliasDuplicateObjects: false });
    if (i % 17 === 0) text = text.slice(0, rng.int(text.length));
    const origin = `/etc/kubernetes/manifests/fuzz-${i}.yaml`;
    try {
      const r = readManifests(text, { source: 'file', origin, nodeName: 'node-1' });
      if (r.errors.length === 0) {
        admitted += r.pods.length;
        continue;
      }
      refused++;
      for (const e of r.errors) {
        if (e.origin !== origin || !e.field || !e.reason || !e.object)
          unclear.push(`case ${i} (${steps.join('; ')}): ${JSON.stringify(e).slice(0, 300)}`);
      }
    } catch (e) {
      escaped.push(`case ${i} (${steps.join('; ')}): ${(e as Error).stack?.split('\n').slice(0, 2).join(' ')}`);
    }
  }
  t.same(escaped, [], 'no exception escapes the parser or the validation');
  t.same(unclear, [], 'every error names the file, the object, the field and the reason');
  t.ok(refused > 700, `most mutations are refused (${refused} refused, ${admitted} admitted)`);
  t.ok(admitted > 0, 'harmless mutations (an unknown field) are still admitted');
});
