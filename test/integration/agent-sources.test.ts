// Pod sources merged into one desired set: the manifest directory (bad input refused with file,
// field and reason; the rest untouched), the manifest URL (unreachable or invalid keeps the last
// good set), the manifest server (POST/PUT/DELETE, bearer token), and --config.
import t from 'tap';
import { createServer } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import type { V1Pod } from '@kubernetes/client-node';
import { createWorld, testPod, findPod, allRunning, IMAGES, AGENT_MAIN } from '../fixtures/agent/world.js';
import { run } from '../../lib/exec.js';

interface ManifestError {
  source: string;
  origin: string;
  object: string;
  field: string;
  reason: string;
}

t.test('bad manifests are refused with file, object, field and reason; good pods keep running', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent();
  const sleeper = (name: string) =>
    testPod(w, name, [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]);
  await w.writeManifest('good.yaml', sleeper('good'));
  await agent.waitFor('good pod running', (ps) => allRunning(findPod(ps, w, 'good')));
  const goodId = findPod(await agent.pods(), w, 'good')!.status!.containerStatuses![0]!.containerID;

  await w.writeManifest('mixed.yaml', [
    sleeper('alsogood'),
    { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: `${w.prefix}-deploy` } } as unknown as V1Pod,
    { ...sleeper('nocontainers'), spec: { containers: [] } },
  ]);
  await w.writeManifest(
    'dup.json',
    JSON.stringify(
      testPod(w, 'dup', [
        { name: 'a', image: IMAGES.busybox },
        { name: 'a', image: IMAGES.busybox },
      ]),
    ),
  );
  await w.writeManifest(
    'quantity.yaml',
    testPod(w, 'quantity', [{ name: 'a', image: IMAGES.busybox, resources: { limits: { cpu: '1x' } } }]),
  );
  await w.writeManifest(
    'probe.yaml',
    testPod(w, 'probe', [
      { name: 'a', image: IMAGES.busybox, readinessProbe: { exec: { command: ['true'] }, periodSeconds: 0 } },
    ]),
  );
  await w.writeManifest('garbage.yaml', 'kind: Pod\n  metadata: [oops');

  const errors = await waitForErrors(agent, 6);
  const e = (file: string) => errors.filter((x) => x.origin === join(w.manifestDir, file));
  t.match(e('mixed.yaml'), [
    { source: 'file', object: `default/${w.prefix}-deploy`, field: 'kind', reason: /not a Pod/ },
    { object: `${w.prefix}/${w.prefix}-nocontainers`, field: 'spec.containers', reason: /at least one container/ },
  ]);
  t.match(e('dup.json'), [
    { object: `${w.prefix}/${w.prefix}-dup`, field: 'spec.containers[1].name', reason: /Duplicate value: "a"/ },
  ]);
  t.match(e('quantity.yaml'), [{ field: 'spec.containers[0].resources.limits.cpu', reason: /invalid quantity "1x"/ }]);
  t.match(e('probe.yaml'), [{ field: /spec\.containers\[0\]\.readinessProbe\.periodSeconds/ }]);
  t.match(e('garbage.yaml'), [{ reason: /not valid YAML or JSON/ }]);
  t.ok(
    agent.logs.some((l) => l.includes('manifest rejected') && l.includes('quantity.yaml') && l.includes('1x')),
    'the log names the file, the field and the reason',
  );

  await agent.waitFor('the good pod of the mixed file running', (ps) => allRunning(findPod(ps, w, 'alsogood')));
  const pods = await agent.pods();
  t.same(
    pods.map((p) => p.metadata!.name).sort(),
    [`${w.prefix}-alsogood-${w.nodeName}`, `${w.prefix}-good-${w.nodeName}`],
    'only the valid pods are desired',
  );
  t.equal(
    findPod(pods, w, 'good')!.status!.containerStatuses![0]!.containerID,
    goodId,
    'the running pod was not touched',
  );
  t.ok(agent.running);

  // Fixing a file admits the pod and clears its error.
  await w.writeManifest(
    'quantity.yaml',
    testPod(w, 'quantity', [
      { name: 'a', image: IMAGES.busybox, command: ['sleep', '3600'], resources: { limits: { cpu: '100m' } } },
    ]),
  );
  await agent.waitFor('the fixed pod running', (ps) => allRunning(findPod(ps, w, 'quantity')));
  const after = JSON.parse((await agent.get('/manifestErrors')).body).items as ManifestError[];
  t.notOk(
    after.some((x) => x.origin.endsWith('quantity.yaml')),
    'its error is gone',
  );
  t.match((await agent.get('/metrics')).body, /kubenode_manifest_errors\{source="file"\} 5/);
});

t.test('--manifest-url: polled; an unreachable URL or a bad body keeps the last good set', async (t) => {
  const w = await createWorld(t);
  let answer: { code: number; body: string } = { code: 200, body: '' };
  const server = createServer((_req, res) => {
    res.writeHead(answer.code);
    res.end(answer.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  let closed = false;
  t.teardown(() => (closed ? undefined : new Promise<void>((r) => server.close(() => r()))));
  const list = (...pods: V1Pod[]) => stringify({ apiVersion: 'v1', kind: 'PodList', items: pods });
  const pod = (n: string) => testPod(w, n, [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]);
  answer = { code: 200, body: list(pod('u1'), pod('u2')) };
  const url = `http://127.0.0.1:${port}/pods`;
  const agent = await w.startAgent([`--manifest-url=${url}`, '--http-check-frequency=500ms']);
  await agent.waitFor(
    'both URL pods running',
    (ps) => allRunning(findPod(ps, w, 'u1')) && allRunning(findPod(ps, w, 'u2')),
    30_000,
  );
  t.equal(findPod(await agent.pods(), w, 'u1')!.metadata!.annotations!['kubernetes.io/config.source'], 'http');

  answer = { code: 500, body: 'boom' };
  const e500 = await waitForErrors(agent, 1);
  t.match(e500[0], { source: 'http', origin: url, reason: /500/ });
  answer = { code: 200, body: '{"kind": "Deployment"}' };
  await waitForErrors(agent, 1, (es) => es.some((x) => /Deployment/.test(x.reason)));
  answer = { code: 200, body: 'not: [yaml' };
  await waitForErrors(agent, 1, (es) => es.some((x) => /not valid YAML/.test(x.reason)));
  await new Promise<void>((r) => server.close(() => r()));
  closed = true;
  await waitForErrors(agent, 1, (es) => es.some((x) => /ECONNREFUSED/.test(x.reason)));
  const ps = await agent.pods();
  t.ok(
    allRunning(findPod(ps, w, 'u1')) && allRunning(findPod(ps, w, 'u2')),
    'both pods still run through 500, bad bodies and an unreachable URL',
  );

  // A good answer again: one pod dropped from the list is removed.
  const server2 = createServer((_req, res) => {
    res.end(list(pod('u1')));
  });
  await new Promise<void>((r) => server2.listen(port, '127.0.0.1', () => r()));
  t.teardown(() => new Promise<void>((r) => server2.close(() => r())));
  await agent.waitFor('u2 removed', (p) => !findPod(p, w, 'u2') && !!findPod(p, w, 'u1'), 20_000);
  t.same(JSON.parse((await agent.get('/manifestErrors')).body).items, [], 'no error any more');
});

t.test('manifest server: POST/PUT/DELETE /pods with a bearer token', async (t) => {
  const w = await createWorld(t);
  const tokenFile = join(w.dir, 'token');
  await writeFile(tokenFile, 's3cret\n');
  const port = 20000 + Math.floor(Math.random() * 20000);
  const agent = await w.startAgent([
    `--manifest-server-address=127.0.0.1:${port}`,
    `--manifest-server-token-file=${tokenFile}`,
  ]);
  const base = `http://127.0.0.1:${port}/pods`;
  const auth = { authorization: 'Bearer s3cret', 'content-type': 'application/yaml' };
  const pod = testPod(w, 'pushed', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]);

  t.equal((await fetch(base, { method: 'POST', body: stringify(pod) })).status, 401, 'no token: 401');
  t.equal(
    (await fetch(base, { method: 'POST', body: stringify(pod), headers: { authorization: 'Bearer nope' } })).status,
    401,
    'wrong token: 401',
  );
  const created = await fetch(base, { method: 'POST', body: stringify(pod), headers: auth });
  t.equal(created.status, 201);
  const body = (await created.json()) as V1Pod;
  t.equal(body.metadata!.name, `${w.prefix}-pushed-${w.nodeName}`);
  t.equal(
    (await fetch(base, { method: 'POST', body: stringify(pod), headers: auth })).status,
    409,
    'POST of an existing pod: 409',
  );
  const running = await agent.waitFor(
    'pushed pod running',
    (ps) => allRunning(findPod(ps, w, 'pushed')) && findPod(ps, w, 'pushed'),
  );
  t.equal(running.metadata!.annotations!['kubernetes.io/config.source'], 'server');

  const bad = await fetch(base, {
    method: 'POST',
    body: stringify(
      testPod(w, 'bad', [{ name: 'a', image: IMAGES.busybox, resources: { requests: { memory: 'lots' } } }]),
    ),
    headers: auth,
  });
  t.equal(bad.status, 422);
  t.match(await bad.json(), {
    reason: 'Invalid',
    details: { causes: [{ field: 'spec.containers[0].resources.requests.memory' }] },
  });

  const replaced = {
    ...pod,
    spec: { ...pod.spec!, containers: [{ ...pod.spec!.containers[0]!, command: ['sleep', '7200'] }] },
  };
  const put = await fetch(`${base}/${w.prefix}/${w.prefix}-pushed`, {
    method: 'PUT',
    body: JSON.stringify(replaced),
    headers: auth,
  });
  t.equal(put.status, 200);
  await agent.waitFor(
    'the replaced pod running',
    (ps) => {
      const p = findPod(ps, w, 'pushed');
      return p && p.metadata!.uid !== running.metadata!.uid && allRunning(p);
    },
    30_000,
  );

  const del = await fetch(`${base}/${w.prefix}/${w.prefix}-pushed`, { method: 'DELETE', headers: auth });
  t.equal(del.status, 200);
  await agent.waitFor('pushed pod gone', (ps) => !findPod(ps, w, 'pushed'));
  t.equal((await fetch(`${base}/${w.prefix}/${w.prefix}-pushed`, { method: 'DELETE', headers: auth })).status, 404);
});

t.test('start-up errors: non-loopback manifest server without a token, bad flags, --config', async (t) => {
  const w = await createWorld(t);
  const r = await run(
    process.execPath,
    [
      AGENT_MAIN,
      '--manifest-server-address=0.0.0.0:0',
      `--root-dir=${w.rootDir}`,
      `--instance=${w.prefix}`,
      `--cgroup-root=${w.cgroupRoot}`,
      '--read-only-port=0',
    ],
    { allowFailure: true, timeoutMs: 20_000 },
  );
  t.equal(r.code, 1);
  t.match(
    r.stderr,
    /--manifest-server-address 0\.0\.0\.0 is not a loopback address: --manifest-server-token-file is required/,
  );
  const d = await run(
    process.execPath,
    [
      AGENT_MAIN,
      `--container-runtime-endpoint=unix://${join(w.dir, 'no-docker.sock')}`,
      `--root-dir=${w.rootDir}`,
      '--read-only-port=0',
    ],
    { allowFailure: true, timeoutMs: 20_000 },
  );
  t.equal(d.code, 1);
  t.match(d.stderr, /Docker Engine is not reachable at unix:\/\/.*no-docker\.sock.*install docker\.io/);
  const f = await run(process.execPath, [AGENT_MAIN, '--pod-manifest-pth=/x'], {
    allowFailure: true,
    timeoutMs: 10_000,
  });
  t.equal(f.code, 2);
  t.match(f.stderr, /unknown flag --pod-manifest-pth/);

  // --config with kubelet's names; flags after it still win.
  const cfg = join(w.dir, 'agent.yaml');
  await writeFile(cfg, stringify({ kind: 'KubeletConfiguration', staticPodPath: w.manifestDir, readOnlyPort: 1 }));
  await w.writeManifest(
    'c.yaml',
    testPod(w, 'configured', [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }]),
  );
  const agent = await w.startAgent([`--config=${cfg}`]); // the world's --read-only-port flag overrides readOnlyPort: 1
  await agent.waitFor('the pod from the configured manifest directory', (ps) =>
    allRunning(findPod(ps, w, 'configured')),
  );
});

async function waitForErrors(
  agent: { get(p: string): Promise<{ body: string }> },
  n: number,
  pred: (es: ManifestError[]) => boolean = () => true,
): Promise<ManifestError[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const items = JSON.parse((await agent.get('/manifestErrors')).body).items as ManifestError[];
    if (items.length >= n && pred(items)) return items;
    if (Date.now() > deadline) throw new Error(`expected ${n} manifest errors, got ${JSON.stringify(items)}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

t.test('--max-pods admission; a manifest removed and put back while terminating comes back', async (t) => {
  const w = await createWorld(t);
  const agent = await w.startAgent(['--max-pods=1']);
  const sleeper = (name: string) =>
    testPod(w, name, [{ name: 'main', image: IMAGES.busybox, command: ['sleep', '3600'] }], {
      terminationGracePeriodSeconds: 2,
    });
  await w.writeManifest('a.yaml', sleeper('a'));
  await agent.waitFor('a running', (ps) => allRunning(findPod(ps, w, 'a')));
  await w.writeManifest('b.yaml', sleeper('b'));
  const b = await agent.waitFor(
    'b rejected',
    (ps) => findPod(ps, w, 'b')?.status?.reason === 'OutOfpods' && findPod(ps, w, 'b'),
  );
  t.equal(b.status!.phase, 'Failed');
  t.match(b.status!.message, /capacity: 1/);
  t.notOk(
    (await w.containers()).some((c) => c.Labels['io.kubernetes.pod.uid'] === b.metadata!.uid),
    'nothing was started for it',
  );

  const uid = findPod(await agent.pods(), w, 'a')!.metadata!.uid;
  await w.removeManifest('a.yaml');
  await new Promise((r) => setTimeout(r, 300));
  await w.writeManifest('a.yaml', sleeper('a'));
  const back = await agent.waitFor(
    'a running again',
    (ps) => {
      const p = findPod(ps, w, 'a');
      return allRunning(p) && p!.status!.containerStatuses![0]!.restartCount === 0 && p;
    },
    30_000,
  );
  t.equal(back.metadata!.uid, uid, 'same content, same UID');
  const ids = (await w.containers()).filter((c) => c.Labels['io.kubernetes.pod.uid'] === uid && c.State === 'running');
  t.equal(ids.length, 2, 'a fresh sandbox and container run');
});
