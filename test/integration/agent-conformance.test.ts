// Behaviours upstream's conformance suite found different from kubelet, checked with real
// containers: a non-root container writes a custom terminationMessagePath, completed init
// containers are ready, resourceFieldRef with divisor "0", subPathExpr (and the directories a
// subPath makes), activeDeadlineSeconds.
import t from 'tap';
import { chmod, mkdir, mkdtemp, rm, stat, symlink } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { dockerExec } from '../../agent/contracts.js';
import { prepareSubPath } from '../../agent/volumes/subpath-dir.js';
import { createWorld, testPod, findPod, IMAGES } from '../fixtures/agent/world.js';

t.test('a non-root container writes its termination message; a completed init container is ready', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  // As the conformance spec "Container Runtime ... should report termination message from file
  // when pod succeeds and TerminationMessagePolicy FallbackToLogsOnError is set".
  await w.writeManifest(
    'term.yaml',
    testPod(
      w,
      'term',
      [
        {
          name: 'main',
          image: IMAGES.busybox,
          command: ['sh', '-c', 'echo -n DONE > /dev/termination-custom-log'],
          terminationMessagePath: '/dev/termination-custom-log',
          terminationMessagePolicy: 'FallbackToLogsOnError',
          securityContext: { runAsUser: 1000 },
          env: [{ name: 'CPU_LIMIT', valueFrom: { resourceFieldRef: { resource: 'limits.cpu', divisor: '0' } } }],
        },
      ],
      {
        restartPolicy: 'Never',
        initContainers: [{ name: 'init', image: IMAGES.busybox, imagePullPolicy: 'IfNotPresent', command: ['true'] }],
      },
    ),
  );
  const pod = await agent.waitFor(
    'Succeeded',
    (ps) => {
      const p = findPod(ps, w, 'term');
      return p?.status?.phase === 'Succeeded' && p;
    },
    40_000,
  );
  t.match(
    pod.status!.containerStatuses![0]!.state!.terminated,
    { exitCode: 0, reason: 'Completed', message: 'DONE' },
    'user 1000 wrote the 0666 file',
  );
  t.match(
    pod.status!.initContainerStatuses![0]!,
    { ready: true, state: { terminated: { exitCode: 0 } } },
    'the completed init container is ready',
  );
});

t.test(
  'subPathExpr: expanded from the container env; an absolute expansion is CreateContainerConfigError',
  async (t) => {
    const w = await createWorld(t);
    const agent = await w.startAgent();
    const env = [
      { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
      { name: 'ABS', value: '/tmp' },
    ];
    await w.writeManifest('subpath.yaml', [
      testPod(
        w,
        'subpath',
        [
          {
            name: 'main',
            image: IMAGES.busybox,
            command: ['sh', '-c', 'echo hi > /logs/x; sleep 3600'],
            env,
            securityContext: { runAsUser: 1000 }, // the subdirectories made for the subPath are 0777, as the emptyDir
            volumeMounts: [
              { name: 'work', mountPath: '/logs', subPathExpr: 'logs/$(POD_NAME)' },
              { name: 'work', mountPath: '/whole' },
            ],
          },
        ],
        { volumes: [{ name: 'work', emptyDir: {} }] },
      ),
      testPod(
        w,
        'abs',
        [
          {
            name: 'main',
            image: IMAGES.busybox,
            command: ['sleep', '3600'],
            env,
            volumeMounts: [{ name: 'work', mountPath: '/logs', subPathExpr: '$(ABS)' }],
          },
        ],
        { volumes: [{ name: 'work', emptyDir: {} }] },
      ),
    ]);
    const pod = await agent.waitFor(
      'running',
      (ps) => {
        const p = findPod(ps, w, 'subpath');
        return p?.status?.containerStatuses?.[0]?.state?.running && p;
      },
      40_000,
    );
    const id = pod.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
    const out = (
      await dockerExec(w.docker, id, ['sh', '-c', `cat /whole/logs/${pod.metadata!.name}/x`], 10_000)
    ).output.trim();
    t.equal(out, 'hi', 'the file written at the expanded subpath is in the volume under logs/<pod name>');
    const abs = await agent.waitFor(
      'config error',
      (ps) => {
        const p = findPod(ps, w, 'abs');
        return p?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' && p;
      },
      30_000,
    );
    t.equal(
      abs.status!.containerStatuses![0]!.state!.waiting!.message,
      'error SubPath `/tmp` must not be an absolute path',
      "kubelet's message",
    );
    t.equal(abs.status!.phase, 'Pending');
  },
);

t.test('activeDeadlineSeconds: the pod is killed and Failed with DeadlineExceeded', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  await w.writeManifest(
    'deadline.yaml',
    testPod(w, 'deadline', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }], {
      activeDeadlineSeconds: 4,
    }),
  );
  const running = await agent.waitFor(
    'running',
    (ps) => {
      const p = findPod(ps, w, 'deadline');
      return p?.status?.containerStatuses?.[0]?.state?.running && p;
    },
    30_000,
  );
  const failed = await agent.waitFor(
    'Failed',
    (ps) => {
      const p = findPod(ps, w, 'deadline');
      return p?.status?.phase === 'Failed' && p;
    },
    30_000,
  );
  t.match(failed.status, {
    reason: 'DeadlineExceeded',
    message: 'Pod was active on the node longer than the specified deadline',
  });
  const elapsed =
    new Date(failed.status!.containerStatuses![0]!.state!.terminated!.finishedAt!).getTime() -
    new Date(running.status!.startTime!).getTime();
  t.ok(elapsed >= 4000, `killed after its deadline (${elapsed} ms after startTime)`);
  const ids = (await w.containers()).filter(
    (c) => c.State === 'running' && c.Labels['io.kubernetes.pod.name'] === failed.metadata!.name,
  );
  t.same(ids, [], 'nothing of the pod runs any more (sandbox included)');
  await new Promise((r) => setTimeout(r, 3000));
  const later = findPod(await agent.pods(), w, 'deadline')!;
  t.equal(later.status!.phase, 'Failed', 'and it stays Failed: nothing restarted');
});

t.test("subPath directories: the volume root's mode; a symlink out of the volume is refused", async (t) => {
  const root = await mkdtemp(join(tmpdir(), 'kn-subpath-'));
  t.teardown(() => rm(root, { recursive: true, force: true }));
  const vol = join(root, 'vol');
  await mkdir(vol);
  await chmod(vol, 0o2777);
  const made = await prepareSubPath(vol, 'a/b/c', true);
  t.equal(made, join(vol, 'a/b/c'));
  for (const d of ['a', 'a/b', 'a/b/c'])
    t.equal(
      (await stat(join(vol, d))).mode & 0o7777,
      0o2777,
      `${d}: the root's mode, setgid kept, not narrowed by the umask`,
    );
  await mkdir(join(root, 'outside'));
  await symlink(join(root, 'outside'), join(vol, 'escape'));
  await t.rejects(
    prepareSubPath(vol, 'escape', true),
    { name: 'SubPathError', message: /not within volume path/ },
    'an existing symlink leading out',
  );
  await t.rejects(prepareSubPath(vol, 'escape/new', true), { name: 'SubPathError' }, 'nothing is created through it');
  t.notOk(existsSync(join(root, 'outside', 'new')));
  await symlink('a/b', join(vol, 'inside'));
  t.equal(await prepareSubPath(vol, 'inside/c', true), join(vol, 'inside/c'), 'a symlink within the volume is fine');
});
