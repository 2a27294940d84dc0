// setup.sh is idempotent: a second run on a set-up machine rebuilds nothing. (How long it
// takes is printed, not asserted: wall-clock numbers belong in benchmarks.)
import t from 'tap';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { PROJECT_ROOT } from '../harness/control-plane.js';
import { requireRoot } from '../harness/require.js';

t.test('a second scripts/setup.sh rebuilds nothing', async (t) => {
  requireRoot();
  const t0 = Date.now();
  const res = await run('bash', [join(PROJECT_ROOT, 'scripts/setup.sh')], { timeoutMs: 600_000, allowFailure: true });
  t.comment(`second setup.sh took ${((Date.now() - t0) / 1000).toFixed(1)} s`);
  t.equal(res.code, 0, `setup.sh succeeded:\n${res.stderr.slice(-2000)}`);
  const out = res.stdout;
  t.match(out, /Debian packages already installed/);
  t.match(out, /dockerd is running/);
  t.match(out, /node_modules matches package-lock.json/);
  t.match(out, /already built/, 'control plane not rebuilt');
  t.match(out, /kube-proxy v\d+\.\d+\.\d+ already built/, 'upstream kube-proxy (for the benchmarks) not rebuilt');
  t.notMatch(out, /^building /m, 'nothing was built');
  t.notMatch(out, /^built kubenode\//m, 'no image was rebuilt');
  for (const image of ['busybox', 'pause', 'demo']) t.match(out, new RegExp(`kubenode/${image}:latest is up to date`));
});
