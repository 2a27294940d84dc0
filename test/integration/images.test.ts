// The test images setup.sh builds: each runs under the real Docker Engine, the pause image
// exits promptly on SIGTERM and reaps zombies, the demo image answers with its pod's name.
import t from 'tap';
import { IMAGES, removeContainersAtTeardown, requireDocker, requireImage } from '../harness/docker.js';
import { runPrefix } from '../harness/prefix.js';

const prefix = runPrefix();

async function execIn(docker: import('dockerode'), id: string, cmd: string[]): Promise<string> {
  const exec = await docker.getContainer(id).exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const chunks: Buffer[] = [];
  stream.on('data', (b: Buffer) => chunks.push(b));
  await new Promise((r) => stream.on('end', r));
  // Docker multiplexes stdout/stderr with an 8-byte header per frame.
  const buf = Buffer.concat(chunks);
  let out = '';
  for (let i = 0; i + 8 <= buf.length; ) {
    const len = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + len).toString();
    i += 8 + len;
  }
  return out;
}

t.test('busybox has the applets tests rely on', async (t) => {
  const docker = await requireDocker();
  await requireImage(docker, IMAGES.busybox);
  removeContainersAtTeardown(t, docker, prefix);
  const c = await docker.createContainer({
    name: `${prefix}-busybox`,
    Image: IMAGES.busybox,
    Cmd: ['which', 'sh', 'httpd', 'nc', 'wget', 'sleep'],
    HostConfig: { NetworkMode: 'none' },
  });
  await c.start();
  const res = await c.wait();
  t.equal(res.StatusCode, 0);
  const logs = (await c.logs({ stdout: true, stderr: true })).toString();
  for (const a of ['sh', 'httpd', 'nc', 'wget', 'sleep']) t.match(logs, new RegExp(`/bin/${a}`), `${a} is present`);
});

t.test('pause exits within 1 s of SIGTERM and reaps orphans', async (t) => {
  const docker = await requireDocker();
  await requireImage(docker, IMAGES.pause);
  removeContainersAtTeardown(t, docker, prefix);
  const c = await docker.createContainer({
    name: `${prefix}-pause`,
    Image: IMAGES.pause,
    HostConfig: { NetworkMode: 'none' },
  });
  await c.start();
  // An orphan: a background child whose parent exits at once is re-parented to PID 1; when it
  // exits, only PID 1 can reap it.
  await execIn(docker, c.id, ['sh', '-c', '(sleep 0.2 &) ; exit 0']);
  await new Promise((r) => setTimeout(r, 800));
  const ps = await execIn(docker, c.id, ['ps', '-o', 'pid,stat,comm']);
  t.notMatch(ps, /\bZ\b/, `no zombie left:\n${ps}`);
  const t0 = Date.now();
  await c.kill({ signal: 'SIGTERM' });
  const res = await c.wait();
  const elapsed = Date.now() - t0;
  t.ok(elapsed < 1000, `exited ${elapsed} ms after SIGTERM`);
  t.equal(res.StatusCode, 0, 'exit code 0');
});

t.test('demo answers HTTP with its pod name and IP', async (t) => {
  const docker = await requireDocker();
  await requireImage(docker, IMAGES.demo);
  removeContainersAtTeardown(t, docker, prefix);
  const c = await docker.createContainer({
    name: `${prefix}-demo`,
    Image: IMAGES.demo,
    Env: ['POD_NAME=web-abc12', 'POD_IP=10.244.1.7'],
    HostConfig: { NetworkMode: 'none' },
  });
  await c.start();
  let body = '';
  for (let i = 0; i < 20 && !body.includes('pod='); i++) {
    body = await execIn(docker, c.id, ['wget', '-qO-', 'http://127.0.0.1:8080/']).catch(() => '');
    if (!body.includes('pod=')) await new Promise((r) => setTimeout(r, 100));
  }
  t.match(body, /pod=web-abc12 ip=10\.244\.1\.7/);
  t.match(await execIn(docker, c.id, ['wget', '-qO-', 'http://127.0.0.1:8080/ready']), /ready/);
  await execIn(docker, c.id, ['rm', '/www/ready']);
  const gone = await execIn(docker, c.id, ['sh', '-c', 'wget -qO- http://127.0.0.1:8080/ready; echo rc=$?']);
  t.match(gone, /rc=1/, 'readiness endpoint fails once /www/ready is removed');
});
