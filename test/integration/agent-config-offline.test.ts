// API-data volumes on an agent without --kubeconfig (static pods only): downwardAPI and projected
// downwardAPI sources need no apiserver and work (the projected one on a tmpfs, gone with the
// pod); a configMap volume or env reference says the agent is not connected to an apiserver.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { dockerExec } from '../../agent/contracts.js';
import { createWorld, testPod, findPod, allRunning, IMAGES } from '../fixtures/agent/world.js';

const mounts = (dir: string) =>
  readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(dir + '/'));

t.test('API-data volumes without an apiserver', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  const main = { name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] };
  await w.writeManifest('config.yaml', [
    testPod(
      w,
      'dapi',
      [
        {
          ...main,
          resources: { limits: { memory: '32Mi' } },
          volumeMounts: [
            { name: 'info', mountPath: '/info' },
            { name: 'proj', mountPath: '/proj' },
          ],
        },
      ],
      {
        volumes: [
          {
            name: 'info',
            downwardAPI: {
              items: [
                { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
                { path: 'mem', resourceFieldRef: { containerName: 'main', resource: 'limits.memory', divisor: '1Mi' } },
              ],
            },
          },
          {
            name: 'proj',
            projected: {
              defaultMode: 0o440,
              sources: [
                { downwardAPI: { items: [{ path: 'sub/ns', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
              ],
            },
          },
        ],
      },
      { labels: { app: 'x' } },
    ),
    testPod(w, 'cm', [{ ...main, volumeMounts: [{ name: 'c', mountPath: '/c' }] }], {
      volumes: [{ name: 'c', configMap: { name: 'settings' } }],
    }),
    testPod(w, 'envcm', [
      { ...main, env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'settings', key: 'x' } } }] },
    ]),
  ]);
  const ps = await agent.waitFor('the downwardAPI pod running', (p) => allRunning(findPod(p, w, 'dapi')) && p, 40_000);
  const dapi = findPod(ps, w, 'dapi')!;
  const id = dapi.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
  t.equal((await dockerExec(w.docker, id, ['cat', '/info/name'], 5000)).output, dapi.metadata!.name);
  t.equal((await dockerExec(w.docker, id, ['cat', '/info/mem'], 5000)).output, '32');
  t.equal((await dockerExec(w.docker, id, ['cat', '/proj/sub/ns'], 5000)).output, w.prefix);
  t.equal(
    (await dockerExec(w.docker, id, ['stat', '-L', '-c', '%a', '/proj/sub/ns'], 5000)).output.trim(),
    '440',
    'projected defaultMode',
  );
  const uid = dapi.metadata!.uid!;
  t.ok(
    mounts(w.rootDir).includes(join(w.rootDir, 'pods', uid, 'volumes', 'kubernetes.io~projected', 'proj')),
    'the projected volume is a tmpfs',
  );

  const cm = await agent.waitFor(
    'the configMap mount error',
    (p) =>
      findPod(p, w, 'cm')?.status?.containerStatuses?.[0]?.state?.waiting?.message ? findPod(p, w, 'cm') : undefined,
    20_000,
  );
  t.match(cm.status!.containerStatuses![0]!.state!.waiting, {
    reason: 'ContainerCreating',
    message:
      'MountVolume.SetUp failed for volume "c" : cannot get configmap "settings": the agent is not connected to an apiserver (no --kubeconfig)',
  });
  const env = await agent.waitFor(
    'the env error',
    (p) =>
      findPod(p, w, 'envcm')?.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError'
        ? findPod(p, w, 'envcm')
        : undefined,
    20_000,
  );
  t.match(
    env.status!.containerStatuses![0]!.state!.waiting!.message,
    /cannot get configmap "settings": the agent is not connected to an apiserver/,
  );

  const uids = [uid, cm.metadata!.uid!, env.metadata!.uid!];
  await w.removeManifest('config.yaml');
  await agent.waitFor('all pods gone', (p) => p.length === 0, 30_000);
  for (let i = 0; i < 100 && uids.some((u) => existsSync(join(w.rootDir, 'pods', u))); i++)
    await new Promise((r) => setTimeout(r, 200));
  t.notOk(
    uids.some((u) => existsSync(join(w.rootDir, 'pods', u))),
    'pod directories removed',
  );
  t.same(mounts(w.rootDir), [], 'no mount left');
  t.ok(agent.running, 'the agent is still running');
});
