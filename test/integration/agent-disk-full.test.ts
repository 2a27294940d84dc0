// Issue 20, fault 6: the disk under --root-dir fills up. The agent's --root-dir is a small tmpfs
// of the test's own; two pods run, then a file takes every free byte and a new pod is written
// whose volumes (an emptyDir, a downwardAPI file) need that directory. The agent must keep running
// (same process: no crash loop), say which path failed and why (ENOSPC), leave the running pods
// alone (same containers) and start the new pod once the file is removed. Prints the time from
// freeing the space to the new pod Running.
import t from 'tap';
import { mkdir, open, rm, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../../lib/exec.js';
import { createWorld, testPod, findPod, allRunning, IMAGES } from '../fixtures/agent/world.js';
import type { V1Pod } from '@kubernetes/client-node';

/** Write zeros to `file` until the filesystem has no byte left (ENOSPC ends it). */
async function fillUp(file: string): Promise<void> {
  const fh = await open(file, 'w');
  const chunk = Buffer.alloc(64 * 1024);
  try {
    for (;;) await fh.write(chunk);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  }
  // The last partial block: byte by byte is cheap, tmpfs has page-sized blocks.
  try {
    for (;;) await fh.write(Buffer.alloc(1));
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOSPC') throw e;
  } finally {
    await fh.close();
  }
}

function sleeper(
  w: Parameters<typeof testPod>[0],
  name: string,
  extra: Partial<NonNullable<V1Pod['spec']>> = {},
  mounts: { name: string; mountPath: string }[] = [],
): V1Pod {
  return testPod(
    w,
    name,
    [
      {
        name: 'app',
        image: IMAGES.busybox,
        command: ['sh', '-c', 'trap "exit 0" TERM; while :; do sleep 0.2; done'],
        volumeMounts: mounts,
      },
    ],
    { terminationGracePeriodSeconds: 2, ...extra },
  );
}

t.test('disk full under --root-dir: clear errors, no crash, running pods kept, recovery', async (t) => {
  const w = await createWorld(t);
  // The world's teardown unmounts everything under its directory (this tmpfs too) and removes it.
  await mkdir(w.rootDir, { recursive: true });
  await run('mount', ['-t', 'tmpfs', '-o', 'size=8m', `${w.prefix}-root`, w.rootDir]);
  t.teardown(() => run('umount', ['-l', w.rootDir], { allowFailure: true }));

  // Hard eviction off in effect (one threshold that never trips replaces kubelet's defaults, as
  // upstream's --eviction-hard does): with the defaults, nodefs.available<10% would see the full
  // --root-dir and evict pods, which is right for a node but is not what this test is about (the
  // error handling of the writes that fail).
  const agent = await w.startAgent(['--eviction-hard=memory.available<1Ki']);
  await w.writeManifest('running.yaml', [sleeper(w, 'one'), sleeper(w, 'two')]);
  const before = await agent.waitFor(
    'two pods running',
    (ps) => {
      const p = ['one', 'two'].map((n) => findPod(ps, w, n));
      return p.every(allRunning) && p;
    },
    60_000,
  );
  const ids = (p: (V1Pod | undefined)[]) =>
    p.map((x) => x!.status!.containerStatuses!.map((c) => c.containerID).join(','));
  const idsBefore = ids(before);

  const filler = join(w.rootDir, 'filler');
  await fillUp(filler);
  const df = (await run('df', ['-B1', '--output=avail', w.rootDir])).stdout.trim().split('\n').pop()!.trim();
  t.equal(df, '0', 'the root dir has no byte left');

  await w.writeManifest(
    'new.yaml',
    sleeper(
      w,
      'new',
      {
        volumes: [
          { name: 'scratch', emptyDir: {} },
          { name: 'info', downwardAPI: { items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] } },
        ],
      },
      [
        { name: 'scratch', mountPath: '/scratch' },
        { name: 'info', mountPath: '/info' },
      ],
    ),
  );

  // Let it try (and fail) for a while: several pod worker syncs and housekeeping rounds.
  const failing = await agent.waitFor(
    'the new pod reports a failure',
    (ps) => {
      const p = findPod(ps, w, 'new');
      return p && !allRunning(p) && agent.logs.some((l) => l.includes('ENOSPC')) && p;
    },
    30_000,
  );
  await new Promise((r) => setTimeout(r, 8000));
  t.ok(agent.running, 'the agent is still running');
  const pidNow = (await run('pgrep', ['-f', '--', `--instance=${w.prefix}`])).stdout.trim().split('\n');
  t.same(pidNow, [String(agent.pid)], 'one agent process, the same one: no crash loop');
  const errLines = agent.logs.filter((l) => l.includes('ENOSPC'));
  t.ok(errLines.length > 0, `the agent logged ENOSPC (${errLines.length} lines)`);
  const unnamed = errLines.filter((l) => !l.includes(w.rootDir + '/'));
  t.same(unnamed, [], 'every ENOSPC line names the file under --root-dir');
  const volumeMessage = failing.status?.containerStatuses?.[0]?.state?.waiting?.message ?? '';
  t.match(volumeMessage, /ENOSPC/, `the pod status says ENOSPC: ${volumeMessage}`);
  t.ok(volumeMessage.includes(w.rootDir + '/'), 'and names the file under --root-dir');
  const now = await agent.pods();
  t.notOk(allRunning(findPod(now, w, 'new')), 'the new pod does not run without its volumes');
  t.same(
    ids(['one', 'two'].map((n) => findPod(now, w, n))),
    idsBefore,
    'the running pods keep running: same container IDs',
  );
  t.ok(
    ['one', 'two'].every((n) => allRunning(findPod(now, w, n))),
    'and are still Running',
  );
  t.comment(
    `new pod while full: ${JSON.stringify(failing.status?.containerStatuses?.[0]?.state ?? failing.status?.conditions)}`,
  );

  await rm(filler);
  const freedAt = Date.now();
  const started = await agent.waitFor(
    'the new pod running after space returns',
    (ps) => allRunning(findPod(ps, w, 'new')) && findPod(ps, w, 'new'),
    60_000,
  );
  const seconds = (Date.now() - freedAt) / 1000;
  t.comment(`disk full: the new pod Running ${seconds.toFixed(1)} s after space returned`);
  t.ok(started, 'the new pod starts once there is space');
  const uid = started.metadata!.uid!;
  const podName = await readFile(
    join(w.rootDir, 'pods', uid, 'volumes', 'kubernetes.io~downward-api', 'info', 'name'),
    'utf8',
  ).catch((e) => String(e));
  t.equal(podName, started.metadata!.name, 'its downwardAPI volume holds the pod name');
  const after = await agent.pods();
  t.same(ids(['one', 'two'].map((n) => findPod(after, w, n))), idsBefore, 'the first pods were never restarted');
});
