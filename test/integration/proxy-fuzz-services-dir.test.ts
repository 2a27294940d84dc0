// Hostile input against a running kubenode-proxy: 1,000 mutated Service and
// EndpointSlice files (the fuzz generator of test/fixtures/fuzz with the unit test's fixed seed,
// so case N is the same mutant in both) are written into the --services-dir of a real proxy
// process, in its own network namespace, beside good Services with real backends. Checked: the
// process never dies (same pid throughout), every bad object is named in its log with field and
// reason (or, for a file that is not YAML, the file and the reason), a client loop through a good
// ClusterIP sees no failed connection while the mutants arrive, the good Services still answer
// (TCP, UDP, NodePort), and their rules are the same as before the mutants came.
// test/unit/fuzz-proxy-objects.test.ts checks the same mutants in-process, rule plan by rule plan.
import t, { type Test } from 'tap';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1EndpointSlice, V1Service } from '@kubernetes/client-node';
import { stringify } from 'yaml';
import { parseEndpointSlice } from '../../proxy/model/endpoint-slice.js';
import { parseService } from '../../proxy/model/service.js';
import { MAX_MANIFEST_BYTES, tooLarge } from '../../proxy/sources/directory.js';
import { parseManifest } from '../../proxy/sources/manifest.js';
import { mutate, Rng } from '../fixtures/fuzz/mutator.js';
import { VALID_SERVICES, VALID_SLICES } from '../fixtures/fuzz/services.js';
import { clientLoop, normalizeSave } from '../fixtures/proxy/observe.js';
import {
  createWorld,
  endpointSlice,
  eventually,
  NODE_IP,
  service,
  startProxy,
  tally,
  type World,
} from '../fixtures/proxy/world.js';

const MUTANTS = 1000;
const BATCHES = 5;
// Away from the fuzz fixture's 10.96.0.1x and NodePorts 30443/31443: there is no ClusterIP
// allocator in front of --services-dir, and a mutant that stays valid keeps its ClusterIP.
const WEB_IP = '10.96.100.10';
const DNS_IP = '10.96.100.11';
const NP_IP = '10.96.100.12';
const NODE_PORT = 30080;

interface Mutant {
  file: string;
  text: string;
}

/** The mutants, one object per file, as the unit test makes them (same seed, same draws). */
function mutants(): Mutant[] {
  const rng = new Rng(0x20_1000);
  const out: Mutant[] = [];
  for (let i = 0; i < MUTANTS; i++) {
    const isService = i % 2 === 0;
    const base = structuredClone(isService ? rng.pick(VALID_SERVICES) : rng.pick(VALID_SLICES)) as V1Service &
      V1EndpointSlice;
    // Their own namespace and names: a mutant that happens to be valid is a new object, not an
    // update of a good one; a slice belongs to the Service mutant before it.
    base.metadata!.namespace = 'fuzz';
    base.metadata!.name = isService ? `m${i}` : `m${i - 1}-abcde`;
    if (!isService) base.metadata!.labels = { 'kubernetes.io/service-name': `m${i - 1}` };
    const { value } = mutate(base, rng);
    const yaml = i % 3 === 0;
    let text = yaml ? stringify(value, { aliasDuplicateObjects: false }) : JSON.stringify(value);
    // Every tenth file is cut in the middle, as a half-written file would be.
    if (i % 10 === 9) text = text.slice(0, Math.floor(text.length / 2));
    out.push({ file: `fuzz-${String(i).padStart(4, '0')}.${yaml ? 'yaml' : 'json'}`, text });
  }
  return out;
}

/** What the proxy must say about a file: its manifest errors, and each refused object with its errors. */
function expectations(m: Mutant) {
  const bytes = Buffer.byteLength(m.text);
  if (bytes > MAX_MANIFEST_BYTES)
    return { file: m.file, manifestErrors: [tooLarge(m.file, bytes)], refused: [], accepted: 0 };
  const parsed = parseManifest(m.file, m.text);
  const refused = parsed.objects.flatMap((o) => {
    const p = o.kind === 'Service' ? parseService(o.obj) : parseEndpointSlice(o.obj as V1EndpointSlice);
    return p.errors.length
      ? [{ object: `${o.kind} ${p.key ?? '(unnamed)'}`, errors: p.errors.map((e) => `${e.field}: ${e.reason}`) }]
      : [];
  });
  return { file: m.file, manifestErrors: parsed.errors, refused, accepted: parsed.objects.length - refused.length };
}

/** The good Services' lines of an iptables-save: rules naming them, and every rule of their own chains. */
function goodRules(save: string): string {
  const lines = normalizeSave(save).split('\n');
  const chains = new Set<string>();
  for (const l of lines)
    if (l.startsWith('-A') && l.includes('default/good-'))
      for (const m of l.matchAll(/KUBE-[A-Z]+-[A-Z0-9]{16}/g)) chains.add(m[0]);
  return lines
    .filter(
      (l) =>
        l.includes('default/good-') ||
        (l.startsWith('-A ') && chains.has(l.split(' ')[1]!)) ||
        (l.startsWith(':') && chains.has(l.slice(1).split(' ')[0]!)),
    )
    .join('\n');
}

type Log = Record<string, unknown>;

/** Bad objects and manifest errors the log does not account for (empty when each is named). */
function unnamed(logs: Log[], expected: ReturnType<typeof expectations>[]): string[] {
  const rejections = new Map<string, number>();
  const skipped = new Set<string>();
  for (const l of logs) {
    if (l.msg === 'Service rejected' || l.msg === 'EndpointSlice rejected') {
      const k = `${String(l.object)} ${JSON.stringify(l.errors)}`;
      rejections.set(k, (rejections.get(k) ?? 0) + 1);
    } else if (l.msg === 'bad manifest skipped') skipped.add(String(l.reason));
  }
  const missing: string[] = [];
  for (const e of expected) {
    for (const err of e.manifestErrors)
      if (!skipped.has(err)) missing.push(`${e.file}: manifest error not logged: ${err.slice(0, 200)}`);
    // The first file to define an object owns it; a later one with the same name (a mutated
    // name can collide) is named with its file instead of reaching validation.
    const collided = [...skipped].some((r) => r.startsWith(`${e.file}: `) && r.includes(' is already defined in '));
    for (const r of e.refused) {
      if (collided) continue;
      const k = `${r.object} ${JSON.stringify(r.errors)}`;
      const n = rejections.get(k) ?? 0;
      if (n > 0) rejections.set(k, n - 1);
      else missing.push(`${e.file}: ${r.object} refused for ${r.errors.join('; ').slice(0, 200)} but not logged so`);
    }
  }
  return missing;
}

function writeGood(dir: string, w: World) {
  const a = w.pod('a').ip;
  const b = w.pod('b').ip;
  const docs = [
    service({ name: 'good-web', clusterIP: WEB_IP }),
    endpointSlice('good-web', [{ ip: a }, { ip: b }]),
    service({ name: 'good-dns', clusterIP: DNS_IP, ports: [{ name: 'dns', port: 53, protocol: 'UDP' }] }),
    endpointSlice('good-dns', [{ ip: a }], [{ name: 'dns', port: 8081, protocol: 'UDP' }]),
    service({
      name: 'good-np',
      clusterIP: NP_IP,
      type: 'NodePort',
      ports: [{ name: 'http', port: 80, nodePort: NODE_PORT }],
    }),
    endpointSlice('good-np', [{ ip: b }]),
  ];
  writeFileSync(join(dir, 'good.yaml'), docs.map((d) => stringify(d)).join('---\n'));
}

/** The good Services answer: web from both backends, dns (UDP) from a, the NodePort from b. */
async function checkTraffic(t: Test, w: World, when: string) {
  const cli = w.pod('cli').netns;
  const web = tally(await w.http(cli, WEB_IP, 80, 20));
  t.same(
    [...web.keys()].sort(),
    ['a', 'b'],
    `${when}: good-web answers from a and b only (${JSON.stringify([...web])})`,
  );
  const dns = await w.udp(cli, DNS_IP, 53, 3);
  t.ok(
    dns.every((r) => r.ok && r.body!.startsWith('a ')),
    `${when}: good-dns (UDP) answers from a`,
  );
  const np = await w.http(w.ext, NODE_IP, NODE_PORT, 3);
  t.ok(
    np.every((r) => r.ok && r.body!.startsWith('b ')),
    `${when}: good-np answers on NodePort ${NODE_PORT} from outside, from b`,
  );
}

t.test(
  `${MUTANTS} mutated files in --services-dir of a running proxy: same process, each bad object named, good Services served`,
  async (t) => {
    const world = await createWorld(t, ['a', 'b', 'cli']);
    await world.startBackends(['a', 'b']);
    const proxy = await startProxy(t, world);
    const pid = proxy.child.pid!;
    const synced = proxy.nextSync();
    writeGood(proxy.dir, world);
    await synced;
    await checkTraffic(t, world, 'before');
    const reference = goodRules(await world.iptablesSave());
    t.ok(
      /^-A KUBE-SEP-/m.test(reference) && reference.includes('default/good-np'),
      'the good Services have endpoint and NodePort rules to compare with',
    );

    const loop = clientLoop(t, world.pod('cli').netns, WEB_IP);
    await eventually('the client loop reaches good-web', async () => loop.seen.ok >= 5, 20_000);

    const all = mutants();
    const expected = all.map(expectations);
    const t0 = Date.now();
    const per = MUTANTS / BATCHES;
    for (let b = 0; b < BATCHES; b++) {
      for (const m of all.slice(b * per, (b + 1) * per)) writeFileSync(join(proxy.dir, m.file), m.text);
      await new Promise((r) => setTimeout(r, 300));
    }
    // A last valid file, sorted after the mutants: once its rule is in the kernel, the proxy has
    // read every mutant before it and synced.
    proxy.write('zz-marker.yaml', [service({ name: 'marker', clusterIP: '10.96.100.99' })]);
    await eventually(
      'the marker Service in the rules',
      async () => (await world.iptablesSave()).includes('default/marker'),
      60_000,
      250,
    );
    const missing = await eventually(
      'every bad object named in the log',
      async () => {
        const m = unnamed(proxy.logs, expected);
        return m.length === 0 ? m : false;
      },
      30_000,
      500,
    ).catch(() => unnamed(proxy.logs, expected));
    const seconds = (Date.now() - t0) / 1000;
    t.same(missing.slice(0, 10), [], `every bad object and unreadable file is named (${missing.length} not)`);

    t.equal(proxy.child.exitCode, null, 'the proxy process is still running');
    t.equal(proxy.child.signalCode, null, 'and was not killed');
    t.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /kubenode-proxy/, `the same process (pid ${pid})`);
    t.same(
      proxy.logs.filter((l) => l.msg === 'sync failed; retrying' || l.msg === 'kubenode-proxy failed'),
      [],
      'no failed sync',
    );
    const rejectLines = proxy.logs.filter((l) => /rejected$/.test(String(l.msg)));
    t.ok(
      rejectLines.every(
        (l) =>
          typeof l.object === 'string' &&
          Array.isArray(l.errors) &&
          (l.errors as string[]).length > 0 &&
          (l.errors as string[]).every((e) => /^\S.*: \S/.test(e)),
      ),
      'each rejection names the object and gives field: reason',
    );
    t.equal(
      goodRules(await world.iptablesSave()),
      reference,
      "the good Services' rules are exactly what they were before the mutants",
    );
    await checkTraffic(t, world, 'after');

    await new Promise((r) => setTimeout(r, 300));
    loop.stop();
    t.equal(
      loop.seen.failed,
      0,
      `no failed connection to good-web while the mutants arrived (${loop.seen.ok} ok; errors: ${loop.seen.errors.slice(0, 5).join(', ')})`,
    );
    const refused = expected.reduce((n, e) => n + e.refused.length, 0);
    const unreadable = expected.filter((e) => e.manifestErrors.length > 0).length;
    const accepted = expected.reduce((n, e) => n + e.accepted, 0);
    // A loose bound, far above the ~120 MiB seen: before --services-dir refused files over 3 MiB,
    // one 18 MB mutant took the proxy to about 900 MiB.
    const rss = Math.max(...proxy.logs.filter((l) => l.msg === 'synced proxy rules').map((l) => Number(l.rssMiB)));
    t.ok(rss < 400, `the proxy's RSS stayed under 400 MiB (at most ${rss} MiB at a sync)`);
    t.comment(
      `figures: ${MUTANTS} mutant files: ${refused} objects refused, ${unreadable} files not read (not YAML, or too large), ${accepted} accepted; all named ${seconds.toFixed(1)} s after the first write; ${loop.seen.failed} failed connections of ${loop.seen.ok + loop.seen.failed}; proxy RSS at most ${rss} MiB`,
    );
  },
);
