// Image garbage collection by a real agent on a real Docker Engine. The machine's Docker holds
// images other tests need, so this test starts a dockerd of its own (own --data-root on a small
// tmpfs, own socket, own exec root) and points the agent at it: every image there is this run's.
// Images are `docker import`ed from tiny tarballs; their last use is made by creating (and
// removing) containers of them while the agent watches. Then a ballast file pushes the tmpfs over
// --image-gc-high-threshold: the agent removes unused images, never-used and least recently used
// first, just until the low threshold is met; the image a container uses and the pinned sandbox
// image stay. The machine's Docker is checked to have every image it had before.
import t from 'tap';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import Docker from 'dockerode';
import { run } from '../../lib/exec.js';
import { createWorld } from '../fixtures/agent/world.js';
import { requireDocker } from '../harness/docker.js';
import { createNetns } from '../harness/netns.js';
import { requireProgram } from '../harness/require.js';
import { sleep, until } from '../harness/until.js';

const Mi = 1024 * 1024;

/** A one-layer image of `bytes` random bytes, by `docker import` of a tarball piped on stdin. */
async function importImage(host: string, dir: string, ref: string, bytes: number): Promise<void> {
  const src = await mkdtemp(join(dir, 'img-'));
  await writeFile(join(src, 'blob'), randomBytes(bytes));
  const tar = join(dir, `${ref.replace(/[/:]/g, '_')}.tar`);
  await run('tar', ['-C', src, '-cf', tar, 'blob']);
  await run('docker', ['-H', host, 'import', tar, ref]);
  await rm(src, { recursive: true, force: true });
  await rm(tar, { force: true });
}

t.test('image GC: unused images, least recently used first, down to the low threshold', async (t) => {
  requireProgram('dockerd', 'docker', 'tar', 'mount', 'nsenter');
  const main = await requireDocker();
  const before = new Set((await main.listImages()).map((i) => i.Id));
  const hostBridges = async () =>
    (await run('ip', ['-o', 'link', 'show', 'type', 'bridge'])).stdout
      .split('\n')
      .map((l) => l.split(': ')[1]?.split('@')[0])
      .filter(Boolean)
      .sort();
  const bridgesBefore = await hostBridges();
  const w = await createWorld(t);
  // Short paths: the socket's path must fit in sun_path.
  const d = await mkdtemp(`/tmp/${w.prefix}-dk-`);
  await run('mount', ['-t', 'tmpfs', '-o', 'size=64m', 'tmpfs', d]);
  const sock = join(d, 'docker.sock');
  const host = `unix://${sock}`;
  const work = await mkdtemp(join(w.dir, 'imgs-')); // tarballs: not on the measured tmpfs
  await mkdir(join(d, 'data'));
  // A network namespace of its own: a dockerd started with --bridge=none deletes any docker0 it
  // sees (moby removes the default bridge interface when the bridge is disabled), and the host's
  // docker0 belongs to the machine's Docker.
  const netns = await createNetns(t, `${w.prefix}-gcd`);
  // nsenter, not `ip netns exec`: the latter also remounts /sys, and dockerd then finds no cgroups.
  const dockerd = spawn(
    'nsenter',
    [
      `--net=/run/netns/${netns}`,
      '--',
      'dockerd',
      `--data-root=${join(d, 'data')}`,
      `--exec-root=${join(d, 'x')}`,
      `--pidfile=${join(d, 'pid')}`,
      `--host=${host}`,
      '--storage-driver=vfs',
      '--bridge=none',
      '--iptables=false',
      '--ip6tables=false',
      '--containerd-namespace=' + w.prefix,
    ],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const dockerdLog: string[] = [];
  dockerd.stderr!.on('data', (b: Buffer) => dockerdLog.push(b.toString()));
  const exited = new Promise((r) => dockerd.once('exit', r));
  t.teardown(async () => {
    dockerd.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
    if (dockerd.exitCode === null && dockerd.signalCode === null) dockerd.kill('SIGKILL');
    await run('umount', ['-l', d], { allowFailure: true });
    await rm(d, { recursive: true, force: true });
  });
  const docker = new Docker({ socketPath: sock });
  await until('the private dockerd answers', 60_000, async () => {
    if (dockerd.exitCode !== null) throw new Error(`dockerd exited: ${dockerdLog.join('').slice(-2000)}`);
    return docker.ping().then(
      () => true,
      () => false,
    );
  });

  const ref = (n: string) => `${w.prefix}/${n}:v1`;
  const pause = `${w.prefix}/pause:v1`;
  for (const [n, size] of [
    ['inuse', Mi],
    ['never', 4 * Mi],
    ['older', 4 * Mi],
    ['newer', 4 * Mi],
  ] as const)
    await importImage(host, work, ref(n), size);
  await importImage(host, work, pause, Mi);
  const inUse = await docker.createContainer({ Image: ref('inuse'), Cmd: ['/blob'], name: `${w.prefix}-inuse` });
  const agent = await w.startAgent([
    `--container-runtime-endpoint=${host}`,
    `--pod-infra-container-image=${pause}`,
    '--image-gc-high-threshold=75',
    '--image-gc-low-threshold=70',
    '--minimum-image-ttl-duration=0s',
    '--image-gc-period=1s',
    '--eviction-hard=memory.available<1Mi', // this test is about image GC, not about eviction's reclaim
  ]);
  // Uses, in this order: "older", then "newer" (a container exists while two detections pass).
  for (const n of ['older', 'newer']) {
    const c = await docker.createContainer({ Image: ref(n), Cmd: ['/blob'] });
    await sleep(3000);
    await c.remove();
    await sleep(1500);
  }
  const has = async () => new Set((await docker.listImages()).flatMap((i) => i.RepoTags ?? []));
  t.same(
    [...(await has())].sort(),
    [ref('inuse'), ref('never'), ref('newer'), ref('older'), pause].sort(),
    'below the high threshold nothing is removed',
  );

  // Ballast: usage to about 79% (>= the high threshold, 75%), so that the low threshold (70%) needs about 6 MiB back: "never"
  // (4 MiB) is not enough, "older" after it is; "newer" must then stay.
  const fs0 = await statfs(d);
  const cap = fs0.blocks * fs0.bsize;
  const ballast = fs0.bavail * fs0.bsize - (0.3 * cap - 6 * Mi);
  const usage = (avail: number) => 100 - Math.trunc((avail * 100) / cap); // kubelet's arithmetic
  t.ok(
    ballast > 0 && usage(fs0.bavail * fs0.bsize - ballast) >= 77,
    `the ballast (${Math.round(ballast / Mi)} MiB) takes usage over the high threshold`,
  );
  await writeFile(join(d, 'ballast'), Buffer.alloc(Math.round(ballast)));
  const left = await until('image GC removed images', 30_000, async () => {
    const tags = await has();
    return !tags.has(ref('older')) ? tags : undefined;
  });
  await sleep(3000); // more rounds: usage is below the high threshold now, nothing else goes
  const final = await has();
  t.notOk(final.has(ref('never')), 'the never-used image is removed');
  t.notOk(final.has(ref('older')), 'the least recently used image is removed next');
  t.ok(final.has(ref('newer')), 'the more recently used image stays: the low threshold was reached without it');
  t.ok(final.has(ref('inuse')), 'the image a container uses stays');
  t.ok(final.has(pause), 'the pinned sandbox image stays');
  t.same([...left].sort(), [...final].sort(), 'nothing more was removed in later rounds');
  const removals = agent.logs
    .filter((l) => l.includes('removing image to free bytes'))
    .map((l) => (JSON.parse(l) as { tags: string[] }).tags[0]);
  t.same(removals, [ref('never'), ref('older')], 'removed in eviction order: never used, then least recently used');
  const fs1 = await statfs(d);
  t.ok(
    usage(fs1.bavail * fs1.bsize) <= 70,
    `usage is at or below the low threshold (${usage(fs1.bavail * fs1.bsize)}%)`,
  );
  await inUse.remove();
  await agent.stop();
  const after = new Set((await main.listImages()).map((i) => i.Id));
  t.same(
    [...before].filter((id) => !after.has(id)),
    [],
    "every image of the machine's Docker is still there",
  );
  t.same(
    (await hostBridges()).filter((b) => !b.startsWith(w.prefix)),
    bridgesBefore.filter((b) => !b.startsWith(w.prefix)),
    "the host's bridges (docker0 among them) are untouched by the private dockerd",
  );
});
