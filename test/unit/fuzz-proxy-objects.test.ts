// Hostile input: 1,000 Services and EndpointSlices mutated from valid ones (fixed seed)
// through the proxy's manifest parsing, model validation and change tracker. Nothing may throw
// out; each refused object is named with field and reason and skipped; and the iptables rules
// planned for the good objects are the same, to the byte, as when the bad ones were never seen.
import t from 'tap';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { createLogger } from '../../lib/log.js';
import type { PlanConfig } from '../../proxy/iptables/types.js';
import { planService } from '../../proxy/iptables/service-rules.js';
import { parseEndpointSlice } from '../../proxy/model/endpoint-slice.js';
import { parseService } from '../../proxy/model/service.js';
import { parseManifest } from '../../proxy/sources/manifest.js';
import { ChangeTracker } from '../../proxy/tracker/change-tracker.js';
import { mutate, Rng } from '../fixtures/fuzz/mutator.js';
import { VALID_SERVICES, VALID_SLICES } from '../fixtures/fuzz/services.js';

const cfg: PlanConfig = {
  nodeName: 'node-1',
  clusterCIDR: '10.244.0.0/16',
  masqueradeAll: false,
  masqueradeMark: '0x4000',
  nodePortIPs: 'all',
  nodeIPs: ['192.168.1.2'],
  localhostNodePorts: true,
  largeCluster: false,
};

type Obj = { kind: 'Service'; obj: V1Service } | { kind: 'EndpointSlice'; obj: V1EndpointSlice };

function capture() {
  const lines: Array<Record<string, unknown>> = [];
  return { log: createLogger('fuzz', { sink: (l) => lines.push(JSON.parse(l)), level: 'debug' }), lines };
}

/** Every planned rule of every Service the tracker holds, in a stable order. */
function plannedRules(objects: Obj[]): string {
  const tr = new ChangeTracker(capture().log);
  for (const o of objects) o.kind === 'Service' ? tr.updateService(o.obj) : tr.updateEndpointSlice(o.obj);
  const state = tr.takeState();
  return [...state.services.keys()]
    .sort()
    .map((k) => JSON.stringify(planService(k, state.services.get(k)!, state.endpoints, cfg)))
    .join('\n');
}

t.test('1,000 mutated Services and EndpointSlices: named, skipped, good rules unchanged', async (t) => {
  const rng = new Rng(0x20_1000);
  const escaped: string[] = [];
  const bad: Obj[] = [];
  let accepted = 0;
  for (let i = 0; i < 1000; i++) {
    const isService = i % 2 === 0;
    const base = structuredClone(isService ? rng.pick(VALID_SERVICES) : rng.pick(VALID_SLICES)) as V1Service &
      V1EndpointSlice;
    // Mutants live in their own namespace, so a mutation that happens to be valid is a different
    // object rather than a legitimate update of a good one (that would rightly change its rules).
    base.metadata!.namespace = 'fuzz';
    const { value, steps } = mutate(base, rng);
    try {
      const text = i % 3 === 0 ? stringify(value, { aliasDuplicateObjects: false }) : JSON.stringify(value);
      const parsed = parseManifest(`/srv/services/fuzz-${i}.yaml`, text);
      for (const e of parsed.errors)
        if (!e.startsWith(`/srv/services/fuzz-${i}.yaml`))
          escaped.push(`case ${i}: manifest error without the file: ${e.slice(0, 200)}`);
      for (const o of parsed.objects) {
        const errors = o.kind === 'Service' ? parseService(o.obj).errors : parseEndpointSlice(o.obj).errors;
        if (errors.length === 0) {
          accepted++;
          continue;
        }
        for (const e of errors)
          if (!e.field || !e.reason) escaped.push(`case ${i}: error without field or reason: ${JSON.stringify(e)}`);
        bad.push(o);
      }
    } catch (e) {
      escaped.push(`case ${i} (${steps.join('; ')}): ${(e as Error).stack?.split('\n').slice(0, 2).join(' ')}`);
    }
  }
  t.same(escaped, [], 'nothing throws out of parsing or validation; every error is named');
  t.ok(bad.length > 600, `most mutants are refused (${bad.length} refused, ${accepted} accepted)`);

  const good: Obj[] = [
    ...VALID_SERVICES.map((obj) => ({ kind: 'Service' as const, obj })),
    ...VALID_SLICES.map((obj) => ({ kind: 'EndpointSlice' as const, obj })),
  ];
  // The bad objects arrive before, between and after the good ones.
  const mixed: Obj[] = [...bad.slice(0, 300)];
  good.forEach((g, i) => {
    mixed.push(g, ...bad.slice(300 + i * 50, 350 + i * 50));
  });
  mixed.push(...bad.slice(300 + good.length * 50));
  t.equal(mixed.length, good.length + bad.length);

  const { log, lines } = capture();
  const tr = new ChangeTracker(log);
  t.doesNotThrow(() => {
    for (const o of mixed) o.kind === 'Service' ? tr.updateService(o.obj) : tr.updateEndpointSlice(o.obj);
  }, 'the tracker takes every object');
  const rejected = lines.filter((l) => l.msg === 'Service rejected' || l.msg === 'EndpointSlice rejected');
  t.equal(rejected.length, bad.length, 'one rejection logged per bad object');
  t.ok(
    rejected.every(
      (l) =>
        typeof l.object === 'string' &&
        Array.isArray(l.errors) &&
        (l.errors as string[]).every((e) => /^\S.*: \S/.test(e)),
    ),
    'each rejection names the object and gives field: reason',
  );
  t.same(
    tr.counts(),
    { services: VALID_SERVICES.length, endpointSlices: VALID_SLICES.length },
    'only the good objects are kept',
  );

  const clean = plannedRules(good);
  t.ok(clean.includes('KUBE-SEP-'), 'the good objects plan endpoint rules');
  t.equal(plannedRules(mixed), clean, 'rules planned for the good objects are identical with the bad ones present');
});
