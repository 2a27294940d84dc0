// The runtime's log reader with a real Docker Engine: a TTY container's log is the terminal's
// bytes (no multiplexing headers), a plain container's is demultiplexed; both must read back in
// full, including a log shorter than one 8-byte frame header, which the conformance suite's
// ephemeral-container spec reads ("polo" from a TTY container, about a second after start).
import t from 'tap';
import type { Readable } from 'node:stream';
import { DockerRuntime } from '../../agent/runtime/docker.js';
import { createLogger } from '../../lib/log.js';
import { IMAGES, removeContainersAtTeardown, requireDocker, requireImage } from '../harness/docker.js';
import { runPrefix } from '../harness/prefix.js';
import { until } from '../harness/until.js';

async function readAll(r: Readable): Promise<string> {
  const parts: Buffer[] = [];
  for await (const c of r) parts.push(Buffer.from(c as Buffer));
  return Buffer.concat(parts).toString('utf8');
}

t.test('logs of TTY and plain containers, short and long', async (t) => {
  const docker = await requireDocker();
  await requireImage(docker, IMAGES.busybox);
  const prefix = runPrefix();
  removeContainersAtTeardown(t, docker, prefix);
  const runtime = new DockerRuntime({
    endpoint: '/var/run/docker.sock',
    instance: prefix,
    logger: createLogger('runtime', { level: 'error' }),
  });
  for (const tty of [true, false]) {
    for (const text of ['polo', 'a longer line than one frame header\nand a second one']) {
      const name = `${prefix}-${tty ? 'tty' : 'plain'}-${text.length}`;
      const c = await docker.createContainer({
        name,
        Image: IMAGES.busybox,
        Tty: tty,
        Cmd: ['sh', '-c', `printf '%s\\n' "$0"; sleep 30`, text],
      });
      await c.start();
      const expected = tty ? text.replace(/\n/g, '\r\n') + '\r\n' : text + '\n';
      // The line is written at once; wait only for Docker to have it in the log file.
      await until(
        `${name}'s log`,
        10_000,
        async () =>
          (await readAll(await runtime.logs(c.id, { follow: false, timestamps: false }))).length >= expected.length,
      ).catch(() => {});
      t.equal(
        await readAll(await runtime.logs(c.id, { follow: false, timestamps: false })),
        expected,
        `${name}: the whole log, read once`,
      );
      const follow = await runtime.logs(c.id, { follow: true, timestamps: false });
      const first = await new Promise<string>((resolve) =>
        follow.once('data', (b: Buffer) => resolve(b.toString('utf8'))),
      );
      follow.destroy();
      t.ok(
        expected.startsWith(first) && first.length > 0,
        `${name}: following gives the log's bytes (${JSON.stringify(first)})`,
      );
      await c.remove({ force: true });
    }
  }
});
