// What runs inside a pod: init containers in order before the app, command/args semantics, env
// with the downward API, workingDir, securityContext, emptyDir (disk and tmpfs with sizeLimit)
// shared between containers, hostPath type checks, container logs, and image pull policies.
import t from 'tap';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dockerExec } from '../../agent/contracts.js';
import { createWorld, testPod, findPod, allRunning, IMAGES } from '../fixtures/agent/world.js';

t.test('init containers, command/args, env, workingDir, securityContext, emptyDir', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  await w.writeManifest(
    'app.yaml',
    testPod(
      w,
      'app',
      [
        {
          name: 'main',
          image: IMAGES.busybox,
          workingDir: '/work',
          command: ['sh', '-c'],
          args: ['echo "$(GREETING) from $POD_NAME"; cat /shared/order; sleep 3600'],
          env: [
            { name: 'GREETING', value: 'hello' },
            { name: 'POD_NAME', valueFrom: { fieldRef: { fieldPath: 'metadata.name' } } },
            { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { fieldPath: 'metadata.namespace' } } },
            { name: 'POD_IP', valueFrom: { fieldRef: { fieldPath: 'status.podIP' } } },
            { name: 'NODE_NAME', valueFrom: { fieldRef: { fieldPath: 'spec.nodeName' } } },
            { name: 'MEM', valueFrom: { resourceFieldRef: { resource: 'limits.memory', divisor: '1Mi' } } },
          ],
          resources: { limits: { memory: '32Mi' } },
          securityContext: {
            runAsUser: 1000,
            runAsGroup: 1000,
            readOnlyRootFilesystem: true,
            capabilities: { drop: ['ALL'] },
          },
          volumeMounts: [
            { name: 'shared', mountPath: '/shared' },
            { name: 'cache', mountPath: '/cache' },
            { name: 'work', mountPath: '/work' },
          ],
        },
        // args only: the image's ENTRYPOINT (/demo.sh) stays.
        { name: 'demo', image: IMAGES.demo, args: ['ignored-arg'], env: [{ name: 'PORT', value: '8081' }] },
      ],
      {
        initContainers: [
          {
            name: 'first',
            image: IMAGES.busybox,
            imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', 'sleep 1; echo first >> /shared/order'],
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
          },
          {
            name: 'second',
            image: IMAGES.busybox,
            imagePullPolicy: 'IfNotPresent',
            command: ['sh', '-c', 'echo second >> /shared/order'],
            volumeMounts: [{ name: 'shared', mountPath: '/shared' }],
          },
        ],
        volumes: [
          { name: 'shared', emptyDir: {} },
          { name: 'cache', emptyDir: { medium: 'Memory', sizeLimit: '8Mi' } },
          { name: 'work', emptyDir: {} },
        ],
      },
    ),
  );
  const pod = await agent.waitFor(
    'running',
    (ps) => allRunning(findPod(ps, w, 'app')) && findPod(ps, w, 'app'),
    40_000,
  );
  const init = pod.status!.initContainerStatuses!;
  t.same(
    init.map((c) => [c.name, c.state?.terminated?.exitCode, c.state?.terminated?.reason]),
    [
      ['first', 0, 'Completed'],
      ['second', 0, 'Completed'],
    ],
  );
  t.ok(
    new Date(init[1]!.state!.terminated!.startedAt!).getTime() >=
      new Date(init[0]!.state!.terminated!.finishedAt!).getTime() - 1000,
    'second started after first finished',
  );
  t.equal(pod.status!.conditions!.find((c) => c.type === 'Initialized')?.status, 'True');

  const main = pod.status!.containerStatuses!.find((c) => c.name === 'main')!.containerID!.replace('docker://', '');
  const demo = pod.status!.containerStatuses!.find((c) => c.name === 'demo')!.containerID!.replace('docker://', '');
  const log = (await agent.get(`/containerLogs/${w.prefix}/${pod.metadata!.name}/main`)).body;
  t.equal(
    log,
    `hello from ${pod.metadata!.name}\nfirst\nsecond\n`,
    'init containers ran in order into the shared emptyDir; $(VAR) expanded in args',
  );

  const sh = async (id: string, cmd: string) => await dockerExec(w.docker, id, ['sh', '-c', cmd], 10_000);
  const env = (await sh(main, 'env')).output;
  t.match(env, `POD_NAMESPACE=${w.prefix}`);
  t.match(env, `POD_IP=${pod.status!.podIP}`);
  t.match(env, `NODE_NAME=${w.nodeName}`);
  t.match(env, 'MEM=32');
  t.equal((await sh(main, 'pwd')).output.trim(), '/work');
  t.equal((await sh(main, 'id -u; id -g')).output.trim(), '1000\n1000', 'runAsUser and runAsGroup');
  t.not((await sh(main, 'touch /rootfs-file')).exitCode, 0, 'readOnlyRootFilesystem');
  t.equal(
    (await sh(main, 'touch /cache/x && echo ok')).output.trim(),
    'ok',
    'emptyDir volumes are writable by any user',
  );
  t.match(
    (await sh(main, 'grep " /cache " /proc/mounts')).output,
    /tmpfs \/cache tmpfs .*size=8192k/,
    'medium Memory is a tmpfs of sizeLimit',
  );
  t.not(
    (await sh(main, 'dd if=/dev/zero of=/cache/big bs=1M count=16 2>&1')).exitCode,
    0,
    'writing past sizeLimit fails',
  );
  t.match((await sh(main, 'grep CapEff /proc/self/status')).output, /CapEff:\s+0+$/m, 'capabilities dropped');
  t.equal((await sh(main, 'hostname')).output.trim(), pod.metadata!.name, 'hostname is the pod name');
  t.equal((await sh(main, 'hostname -i')).output.trim(), pod.status!.podIP, 'the pod IP is in the managed /etc/hosts');
  const demoInfo = await w.docker.getContainer(demo).inspect();
  t.same(demoInfo.Config.Entrypoint, ['/demo.sh'], 'args only: the image ENTRYPOINT stays');
  t.same(demoInfo.Config.Cmd, ['ignored-arg']);
  t.equal(
    (await sh(main, 'wget -qO- http://127.0.0.1:8081/')).output.trim().split(' ')[0],
    `pod=${pod.metadata!.name}`,
    'containers share the network namespace',
  );
  const mainInfo = await w.docker.getContainer(main).inspect();
  t.same(mainInfo.Config.Entrypoint, ['sh', '-c'], 'command replaces ENTRYPOINT');

  // Logs API: tailLines, timestamps, follow.
  const tail = (await agent.get(`/containerLogs/${w.prefix}/${pod.metadata!.name}/main?tailLines=1`)).body;
  t.equal(tail, 'second\n');
  t.match(
    (await agent.get(`/containerLogs/${w.prefix}/${pod.metadata!.name}/main?tailLines=1&timestamps=true`)).body,
    /^\d{4}-\d\d-\d\dT[\d:.]+Z second\n$/,
  );
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 15_000);
  t.teardown(() => clearTimeout(timer));
  const res = await fetch(agent.url(`/containerLogs/${w.prefix}/${pod.metadata!.name}/main?follow=true&tailLines=0`), {
    signal: ctl.signal,
  });
  const reader = res.body!.getReader();
  await sh(main, 'echo followed-line > /proc/1/fd/1');
  let got = '';
  const deadline = Date.now() + 5000;
  while (!got.includes('followed-line') && Date.now() < deadline)
    got += new TextDecoder().decode((await reader.read()).value);
  ctl.abort();
  t.match(got, 'followed-line', 'follow streams new lines');
  // sinceTime to the millisecond: a line written 400 ms before it is left out.
  await sh(main, 'echo since-before > /proc/1/fd/1');
  await new Promise((r) => setTimeout(r, 400));
  const since = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 400));
  await sh(main, 'echo since-after > /proc/1/fd/1');
  t.equal(
    (await agent.get(`/containerLogs/${w.prefix}/${pod.metadata!.name}/main?sinceTime=${encodeURIComponent(since)}`))
      .body,
    'since-after\n',
    `sinceTime=${since} keeps its milliseconds`,
  );
  // kubelet's codes: a container the pod does not have is 404, as is a pod the node does not have.
  t.equal((await agent.get(`/containerLogs/${w.prefix}/${pod.metadata!.name}/nope`)).status, 404);
  t.equal(
    (await agent.get(`/containerLogs/${w.prefix}/${pod.metadata!.name}/main?limitBytes=5`)).body,
    'hello',
    'limitBytes cuts the log',
  );
  t.equal((await agent.get(`/containerLogs/${w.prefix}/${pod.metadata!.name}/main?tailLines=x`)).status, 400);
  t.equal((await agent.get(`/containerLogs/${w.prefix}/missing/main`)).status, 404);
});

t.test('hostPath type checks; a failed mount leaves the pod ContainerCreating', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  const existing = join(w.dir, 'data');
  await mkdir(existing);
  await writeFile(join(existing, 'file.txt'), 'from the node\n');
  const mk = (name: string, path: string, type: string) =>
    testPod(
      w,
      name,
      [
        {
          name: 'main',
          image: IMAGES.busybox,
          command: ['sleep', '3600'],
          volumeMounts: [{ name: 'h', mountPath: '/h' }],
        },
      ],
      { volumes: [{ name: 'h', hostPath: { path, type } }] },
    );
  await w.writeManifest('h.yaml', [
    mk('dir', existing, 'Directory'),
    mk('file', join(existing, 'file.txt'), 'File'),
    mk('create', join(w.dir, 'made', 'here'), 'DirectoryOrCreate'),
    mk('missing', join(w.dir, 'nothere'), 'Directory'),
    mk('wrongtype', join(existing, 'file.txt'), 'Directory'),
  ]);
  const ps = await agent.waitFor(
    'the good ones running',
    (p) => ['dir', 'file', 'create'].every((n) => allRunning(findPod(p, w, n))) && p,
    30_000,
  );
  const cat = await dockerExec(
    w.docker,
    findPod(ps, w, 'dir')!.status!.containerStatuses![0]!.containerID!.replace('docker://', ''),
    ['cat', '/h/file.txt'],
    5000,
  );
  t.equal(cat.output, 'from the node\n');
  const missing = await agent.waitFor(
    'the mount error',
    (p) =>
      findPod(p, w, 'missing')?.status?.containerStatuses?.[0]?.state?.waiting?.message
        ? findPod(p, w, 'missing')
        : undefined,
    10_000,
  );
  t.match(missing.status!.containerStatuses![0]!.state!.waiting, {
    reason: 'ContainerCreating',
    message: /MountVolume.SetUp failed for volume "h" : hostPath type check failed: .*nothere does not exist/,
  });
  t.equal(missing.status!.phase, 'Pending');
  const wrong = await agent.waitFor(
    'the type error',
    (p) =>
      findPod(p, w, 'wrongtype')?.status?.containerStatuses?.[0]?.state?.waiting?.message
        ? findPod(p, w, 'wrongtype')
        : undefined,
    10_000,
  );
  t.match(wrong.status!.containerStatuses![0]!.state!.waiting!.message, /is not a directory/);
});

t.test('fsGroup: volumes get the group; a 0400 file is readable through it; new files inherit it', async (t) => {
  const w = await createWorld(t);
  // Pods synced every second: the end of the test looks at what later syncs do.
  const agent = await w.startAgent(['--sync-frequency=1s']);
  const mk = (name: string, fsGroup?: number) =>
    testPod(
      w,
      name,
      [
        {
          name: 'main',
          image: IMAGES.busybox,
          command: ['sleep', '3600'],
          securityContext: { runAsUser: 1000 },
          volumeMounts: [
            { name: 'info', mountPath: '/info' },
            { name: 'scratch', mountPath: '/scratch' },
            { name: 'mem', mountPath: '/mem' },
          ],
        },
      ],
      {
        ...(fsGroup !== undefined ? { securityContext: { fsGroup } } : {}),
        volumes: [
          {
            name: 'info',
            downwardAPI: { defaultMode: 0o400, items: [{ path: 'name', fieldRef: { fieldPath: 'metadata.name' } }] },
          },
          { name: 'scratch', emptyDir: {} },
          { name: 'mem', emptyDir: { medium: 'Memory' } },
        ],
      },
    );
  await w.writeManifest('fsgroup.yaml', [mk('grouped', 2000), mk('plain')]);
  const ps = await agent.waitFor(
    'both running',
    (p) => ['grouped', 'plain'].every((n) => allRunning(findPod(p, w, n))) && p,
    30_000,
  );
  const idOf = (n: string) => findPod(ps, w, n)!.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
  const sh = (n: string, cmd: string) => dockerExec(w.docker, idOf(n), ['sh', '-c', cmd], 10_000);
  const grouped = findPod(ps, w, 'grouped')!.metadata!.name!;
  t.match((await sh('grouped', 'id -G')).output, /\b2000\b/, 'the fsGroup is one of the process groups');
  t.same(
    await sh('grouped', 'cat /info/name'),
    { exitCode: 0, output: grouped },
    'user 1000 reads a mode 0400 file through the group',
  );
  t.equal(
    (await sh('grouped', 'stat -c "%g %a" /info/..data/name')).output.trim(),
    '2000 440',
    'the file: group 2000, group read added',
  );
  t.equal(
    (await sh('grouped', 'stat -L -c "%g %a" /info/..data')).output.trim(),
    '2000 2755',
    'its directory: group 2000, setgid',
  );
  for (const dir of ['/scratch', '/mem']) {
    t.equal((await sh('grouped', `stat -c %g ${dir}`)).output.trim(), '2000', `emptyDir ${dir}: group 2000`);
    t.equal(
      (await sh('grouped', `touch ${dir}/made && stat -c %g ${dir}/made`)).output.trim(),
      '2000',
      `a file made in ${dir} inherits the group`,
    );
  }
  // Without fsGroup the same volume stays root's: the difference the feature makes.
  t.not((await sh('plain', 'cat /info/name')).exitCode, 0, 'without fsGroup, user 1000 cannot read the 0400 file');
  t.equal((await sh('plain', 'stat -c %g /scratch')).output.trim(), '0', 'without fsGroup, the emptyDir keeps group 0');
  // Later syncs change nothing: the volume is not rewritten, ownership stays.
  const before = (await sh('grouped', 'readlink /info/..data')).output;
  await new Promise((r) => setTimeout(r, 3000));
  t.equal(
    (await sh('grouped', 'readlink /info/..data')).output,
    before,
    'an unchanged volume is not rewritten by the next syncs',
  );
  t.equal(
    (await sh('grouped', 'stat -c "%g %a" /scratch')).output.trim(),
    '2000 2777',
    'the emptyDir keeps its group and setgid',
  );
});

t.test('images: pull policies; ErrImagePull then ImagePullBackOff; the agent stays up', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  // 127.0.0.1:1 refuses at once: a registry that cannot be reached, without leaving the machine.
  const unreachable = '127.0.0.1:1/kubenode/missing:v1';
  await w.writeManifest('img.yaml', [
    testPod(w, 'local', [
      { name: 'main', image: IMAGES.busybox, imagePullPolicy: 'Never', command: ['sleep', '3600'] },
    ]),
    testPod(w, 'never', [{ name: 'main', image: 'kubenode/not-built-here:v1', imagePullPolicy: 'Never' }]),
    testPod(w, 'always', [{ name: 'main', image: unreachable.replace(':v1', ':latest'), imagePullPolicy: 'Always' }]),
    testPod(w, 'missing', [{ name: 'main', image: unreachable, imagePullPolicy: 'IfNotPresent' }]),
  ]);
  await agent.waitFor('the local image pod running', (p) => allRunning(findPod(p, w, 'local')));
  const reason = (p: ReturnType<typeof findPod>) => p?.status?.containerStatuses?.[0]?.state?.waiting;
  const never = await agent.waitFor(
    'ErrImageNeverPull',
    (p) => reason(findPod(p, w, 'never'))?.reason === 'ErrImageNeverPull' && reason(findPod(p, w, 'never')),
  );
  t.match(never.message, /not present with pull policy of Never/);
  const pull = await agent.waitFor(
    'ErrImagePull',
    (p) => reason(findPod(p, w, 'missing'))?.reason === 'ErrImagePull' && reason(findPod(p, w, 'missing')),
    20_000,
  );
  t.match(pull.message, /127\.0\.0\.1:1/);
  await agent.waitFor(
    'ImagePullBackOff (missing)',
    (p) => reason(findPod(p, w, 'missing'))?.reason === 'ImagePullBackOff',
    20_000,
  );
  await agent.waitFor(
    'ImagePullBackOff (Always)',
    (p) => reason(findPod(p, w, 'always'))?.reason === 'ImagePullBackOff',
    20_000,
  );
  const all = await agent.pods();
  t.equal(findPod(all, w, 'missing')!.status!.phase, 'Pending');
  t.ok(allRunning(findPod(all, w, 'local')), 'other pods are unaffected');
  t.ok(agent.running, 'the agent is still up');
  t.equal((await agent.get('/healthz')).body, 'ok');
});

t.test('hostNetwork pods use the node network: no CNI, pod IP = host IP', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  await w.writeManifest(
    'hn.yaml',
    testPod(w, 'hostnet', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }], { hostNetwork: true }),
  );
  const p = await agent.waitFor('running', (ps) => allRunning(findPod(ps, w, 'hostnet')) && findPod(ps, w, 'hostnet'));
  t.equal(p.status!.podIP, '127.0.0.1', 'the node IP (--node-ip)');
  t.equal(p.status!.conditions!.find((c) => c.type === 'PodReadyToStartContainers')?.status, 'True');
  const id = p.status!.containerStatuses![0]!.containerID!.replace('docker://', '');
  const links = await dockerExec(w.docker, id, ['ip', '-o', 'link'], 5000);
  t.match(links.output, /docker0|eth0/, "the container sees the node's interfaces");
  t.notOk(links.output.includes(w.bridge), 'no CNI: the test bridge was never created');
});

t.test('no CNI configuration yet: the pod waits in ContainerCreating, then starts when it appears', async (t) => {
  const w = await createWorld(t, { cni: false });
  const agent = await w.startAgent();
  await w.writeManifest(
    'p.yaml',
    testPod(w, 'waiting', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]),
  );
  const p = await agent.waitFor(
    'the sandbox error',
    (ps) =>
      findPod(ps, w, 'waiting')?.status?.containerStatuses?.[0]?.state?.waiting?.message
        ? findPod(ps, w, 'waiting')
        : undefined,
    15_000,
  );
  t.match(p.status!.containerStatuses![0]!.state!.waiting, {
    reason: 'ContainerCreating',
    message: /failed to create pod sandbox/,
  });
  t.equal(p.status!.conditions!.find((c) => c.type === 'PodReadyToStartContainers')?.status, 'False');
  await new Promise((r) => setTimeout(r, 5000)); // a few retries, 2 s apart
  t.ok(
    (await w.containers()).length <= 1,
    'failed sandboxes are removed, not piled up (at most one attempt in flight)',
  );
  await writeFile(
    join(w.cniConfDir, '10-late.conflist'),
    JSON.stringify({
      cniVersion: '1.0.0',
      name: `${w.prefix}-net`,
      plugins: [
        {
          type: 'bridge',
          bridge: w.bridge,
          isGateway: true,
          ipMasq: false,
          ipam: { type: 'host-local', ranges: [[{ subnet: w.subnet }]], dataDir: join(w.dir, 'ipam') },
        },
      ],
    }),
  );
  await agent.waitFor('running once the network exists', (ps) => allRunning(findPod(ps, w, 'waiting')), 20_000);
});
