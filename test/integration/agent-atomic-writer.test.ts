// The AtomicWriter scheme on a real directory: a timestamped data directory, `..data` swapped by
// rename, user-visible names as symlinks through it; unchanged payloads write nothing; removed
// keys disappear; a reader holding the old `..data` target keeps a consistent old view.
import t from 'tap';
import { lstat, mkdtemp, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { writeAtomically } from '../../agent/volumes/atomic-writer.js';
import type { Payload } from '../../agent/volumes/payload.js';
import { runPrefix } from '../harness/prefix.js';

const p = (entries: Record<string, [string, number]>): Payload =>
  new Map(Object.entries(entries).map(([k, [d, m]]) => [k, { data: Buffer.from(d), mode: m }]));

t.test('atomic writes into a volume directory', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), `${runPrefix()}-atomic-`));
  t.teardown(() => rm(dir, { recursive: true, force: true }));

  const first = await writeAtomically(dir, p({ 'app.conf': ['v1', 0o644], 'nested/key': ['n1', 0o400] }));
  t.same(first, { replaceData: true, addVisible: ['app.conf', 'nested'], removeVisible: [] });
  const data1 = await readlink(join(dir, '..data'));
  t.match(data1, /^\.\.\d{4}_\d\d_\d\d_\d\d_\d\d_\d\d\.[0-9a-f]{8}$/, `..data -> ${data1}`);
  t.equal(await readlink(join(dir, 'app.conf')), '..data/app.conf', 'user-visible names are symlinks through ..data');
  t.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'v1');
  t.equal(await readFile(join(dir, 'nested/key'), 'utf8'), 'n1');
  t.equal((await stat(join(dir, 'nested/key'))).mode & 0o777, 0o400, 'item mode applied (not masked by the umask)');

  const again = await writeAtomically(dir, p({ 'app.conf': ['v1', 0o644], 'nested/key': ['n1', 0o400] }));
  t.same(again, { replaceData: false, addVisible: [], removeVisible: [] }, 'unchanged: nothing written');
  t.equal(await readlink(join(dir, '..data')), data1, '..data untouched');

  // A reader that resolved ..data before the update (as an open directory in a container does).
  const oldView = join(dir, data1);
  const second = await writeAtomically(dir, p({ 'app.conf': ['v2', 0o644], extra: ['e', 0o644] }));
  t.same(second, { replaceData: true, addVisible: ['extra'], removeVisible: ['nested'] });
  const data2 = await readlink(join(dir, '..data'));
  t.not(data2, data1, 'a new data directory');
  t.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'v2', 'the same path shows the new contents');
  await t.rejects(lstat(join(dir, 'nested')), { code: 'ENOENT' }, 'a removed key is gone');
  await t.rejects(lstat(oldView), { code: 'ENOENT' }, 'the old data directory is removed after the swap');
  t.same(
    (await readdir(dir)).sort(),
    ['..data', data2, 'app.conf', 'extra'].sort(),
    'nothing else left: no ..data_tmp, no old directories',
  );

  await t.rejects(
    writeAtomically(dir, p({ '../escape': ['x', 0o644] })),
    /invalid path "..\/escape"/,
    'paths outside the volume are refused',
  );
  t.equal(await readFile(join(dir, 'app.conf'), 'utf8'), 'v2', 'a refused payload changes nothing');
});
