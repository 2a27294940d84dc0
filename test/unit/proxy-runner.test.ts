// The sync runner's timing contract and the --services-dir source against a real directory.
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../lib/log.js';
import { SyncRunner, type SyncKind } from '../../proxy/runner.js';
import { DirectorySource, MAX_MANIFEST_BYTES } from '../../proxy/sources/directory.js';

const quiet = createLogger('test', { sink: () => {} });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

t.test('runner: full sync first, bursts coalesce, min period honoured, periodic full resync', async (t) => {
  const runs: Array<{ kind: SyncKind; at: number }> = [];
  const t0 = Date.now();
  const r = new SyncRunner({
    minIntervalMs: 200,
    maxIntervalMs: 1000,
    log: quiet,
    run: async (kind) => void runs.push({ kind, at: Date.now() - t0 }),
  });
  t.teardown(() => r.stop());
  r.start();
  await sleep(50);
  t.same(
    runs.map((x) => x.kind),
    ['full'],
    'starts with a full sync at once',
  );
  for (let i = 0; i < 20; i++) r.request();
  await sleep(300);
  t.equal(runs.length, 2, 'twenty requests in a burst: one sync');
  t.equal(runs[1]!.kind, 'partial');
  t.ok(runs[1]!.at >= 195, `not sooner than min-sync-period after the last (${runs[1]!.at} ms)`);
  await sleep(900);
  t.ok(
    runs.some((x) => x.kind === 'periodic'),
    'a periodic resync within the sync period',
  );
  const fulls = runs.filter((x) => x.kind !== 'partial').map((x) => x.at);
  t.ok(fulls[1]! - fulls[0]! >= 990 && fulls[1]! - fulls[0]! < 1300, `full resync period ${fulls[1]! - fulls[0]!} ms`);
});

t.test('runner: a failed sync is retried as a full sync', async (t) => {
  const kinds: SyncKind[] = [];
  let fail = true;
  const r = new SyncRunner({
    minIntervalMs: 50,
    maxIntervalMs: 60_000,
    retryMs: 100,
    log: quiet,
    run: async (kind) => {
      kinds.push(kind);
      if (fail && kinds.length === 2) throw new Error('iptables-restore failed');
    },
  });
  t.teardown(() => r.stop());
  r.start();
  await sleep(60);
  r.request();
  await sleep(400);
  fail = false;
  t.same(kinds.slice(0, 3), ['full', 'partial', 'full']);
});

t.test('runner: stop waits for the sync in progress and nothing runs after', async (t) => {
  let running = 0;
  let after = 0;
  let stopped = false;
  const r = new SyncRunner({
    minIntervalMs: 10,
    maxIntervalMs: 50,
    log: quiet,
    run: async () => {
      if (stopped) after++;
      running++;
      await sleep(100);
      running--;
    },
  });
  r.start();
  await sleep(20);
  r.request();
  await r.stop();
  stopped = true;
  t.equal(running, 0);
  await sleep(150);
  t.equal(after, 0);
});

t.test('services dir: initial listing, add, change, delete, a bad file keeps its objects', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-proxy-unit-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const svc = (name: string, ip: string) =>
    `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec: {clusterIP: ${ip}, ports: [{port: 80}]}\n`;
  writeFileSync(join(dir, 'a.yaml'), svc('a', '10.96.0.1') + '---\n' + svc('b', '10.96.0.2'));
  writeFileSync(join(dir, 'notes.txt'), 'not a manifest');
  const events: string[] = [];
  let synced = false;
  const errors: string[] = [];
  const log = createLogger('test', {
    sink: (l) => {
      const j = JSON.parse(l);
      if (j.level === 'error' || j.level === 'warn') errors.push(String(j.reason ?? j.msg));
    },
  });
  const src = new DirectorySource(dir, log, 60_000);
  t.teardown(() => src.stop());
  await src.start({
    serviceUpdated: (o) => events.push(`update ${o.metadata!.name} ${o.spec!.clusterIP}`),
    serviceDeleted: (o) => events.push(`delete ${o.metadata!.name}`),
    endpointSliceUpdated: (o) => events.push(`update slice ${o.metadata!.name}`),
    endpointSliceDeleted: (o) => events.push(`delete slice ${o.metadata!.name}`),
    synced: () => (synced = true),
  });
  t.ok(synced);
  t.same(events.splice(0), ['update a 10.96.0.1', 'update b 10.96.0.2']);

  const until = async (pred: () => boolean) => {
    for (let i = 0; i < 50 && !pred(); i++) await sleep(50);
  };
  writeFileSync(join(dir, 'a.yaml'), svc('a', '10.96.0.9'));
  await until(() => events.length >= 2);
  t.same(events.splice(0).sort(), ['delete b', 'update a 10.96.0.9'], 'b removed from the file, a changed');

  writeFileSync(join(dir, 'a.yaml'), '{{{ half-saved');
  await until(() => errors.length > 0);
  await sleep(200);
  t.same(events.splice(0), [], 'a file that is not YAML deletes nothing');
  t.ok(
    errors.some((e) => /a\.yaml.*not YAML/.test(e)),
    'and the reason is logged with the file',
  );

  writeFileSync(join(dir, 'c.yaml'), svc('a', '10.96.0.5'));
  await until(() => errors.some((e) => e.includes('already defined')));
  t.ok(errors.some((e) => e.includes('c.yaml: Service default/a is already defined in a.yaml')));

  // Larger than the apiserver would take: not read, named once with its size (not at every rescan).
  writeFileSync(join(dir, 'big.yaml'), svc('d', '10.96.0.7') + '#' + 'x'.repeat(MAX_MANIFEST_BYTES) + '\n');
  await until(() => errors.some((e) => e.startsWith('big.yaml: ')));
  await sleep(300);
  t.same(events.splice(0), [], 'a file over the size limit is not read');
  t.equal(
    errors.filter((e) => e.startsWith('big.yaml: ') && e.includes('bytes is more than')).length,
    1,
    'it is named once, with its size',
  );
  writeFileSync(join(dir, 'big.yaml'), svc('d', '10.96.0.7'));
  await until(() => events.length >= 1);
  t.same(events.splice(0), ['update d 10.96.0.7'], 'back under the limit: read');

  unlinkSync(join(dir, 'a.yaml'));
  await until(() => events.length >= 1);
  t.same(events.splice(0), ['delete a'], 'file removed: its objects are deleted');
});

t.test('healthz: unhealthy before the first sync and when the last one is too old', async (t) => {
  const { ProxyHealth } = await import('../../proxy/server/healthz.js');
  let now = new Date('2026-01-01T00:00:00Z');
  const h = new ProxyHealth(60_000, () => now);
  t.notOk(h.healthy(), 'no sync yet');
  h.synced();
  t.ok(h.healthy());
  now = new Date(now.getTime() + 59_000);
  t.ok(h.healthy(), 'within twice the sync period');
  now = new Date(now.getTime() + 2_000);
  t.notOk(h.healthy(), 'syncs stopped succeeding');
});
