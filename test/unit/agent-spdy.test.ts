// SPDY/3.1 framing and the server session under `kubectl exec`: frames split from a byte stream
// at any boundary, header blocks, the protocol's zlib dictionary, and a session on a socket pair
// driven by a client written here from the frame format (compressed header blocks, a stream
// opened, data both ways, FIN, PING answered). The apiserver itself talks to it in the e2e test
// (test/e2e/agent-kubectl.test.ts).
import t from 'tap';
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import { constants, createDeflate, createInflate } from 'node:zlib';
import {
  FLAG_FIN,
  FrameType,
  HEADER_DICTIONARY,
  controlFrame,
  dataFrame,
  decodeHeaderBlock,
  encodeHeaderBlock,
  parseStreamHeaders,
  splitFrames,
  words,
  type Frame,
} from '../../agent/server/spdy/frames.js';
import { SpdySession, type SpdyStream } from '../../agent/server/spdy/session.js';
import { exitStatus, expectedStreams, parseStreamRequest } from '../../agent/server/streaming.js';
import { parsePortForwardPath, streamPort } from '../../agent/server/port-forward.js';
import { socketPair } from '../harness/socket-pair.js';

t.test('the header dictionary is the one of SPDY/3 (length and digest)', async (t) => {
  t.equal(HEADER_DICTIONARY.length, 1423);
  t.equal(
    createHash('sha256').update(HEADER_DICTIONARY).digest('hex'),
    '51d27341373f923f3cd88e1eb7162aeaa3723d7585ff2399201dc06498407f02',
  );
});

t.test('frames: encoded, then split back from any cut of the byte stream', async (t) => {
  const bytes = Buffer.concat([
    controlFrame(FrameType.Ping, 0, words(7)),
    dataFrame(3, FLAG_FIN, Buffer.from('hello')),
    controlFrame(FrameType.RstStream, 0, words(5, 5)),
  ]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const a = splitFrames(bytes.subarray(0, cut));
    const b = splitFrames(Buffer.concat([a.rest, bytes.subarray(cut)]));
    const frames = [...a.frames, ...b.frames];
    if (frames.length !== 3 || b.rest.length !== 0) {
      t.fail(`cut at ${cut}: ${frames.length} frames`);
      return;
    }
  }
  const { frames } = splitFrames(bytes);
  t.match(frames[0], { kind: 'control', version: 3, type: FrameType.Ping, flags: 0 });
  t.equal((frames[0] as Extract<Frame, { kind: 'control' }>).payload.readUInt32BE(0), 7);
  t.match(frames[1], { kind: 'data', streamId: 3, flags: FLAG_FIN });
  t.equal((frames[1] as Extract<Frame, { kind: 'data' }>).data.toString(), 'hello');
  t.equal(bytes.readUInt16BE(0), 0x8003, 'control bit and version 3');
});

t.test('header blocks: names lowercased, several values joined by NUL', async (t) => {
  const block = encodeHeaderBlock(
    new Map([
      ['StreamType', ['stdout']],
      ['x', ['a', 'b']],
    ]),
  );
  t.same(
    [...decodeHeaderBlock(block)],
    [
      ['streamtype', ['stdout']],
      ['x', ['a', 'b']],
    ],
  );
  t.throws(() => decodeHeaderBlock(block.subarray(0, block.length - 1)), /truncated/);
});

/** The client half: its own zlib contexts, as the apiserver's framer keeps them. */
function spdyClient(sock: Socket) {
  const deflate = createDeflate({ dictionary: HEADER_DICTIONARY });
  const inflate = createInflate({ dictionary: HEADER_DICTIONARY });
  const z = (s: typeof deflate | typeof inflate, b: Buffer) =>
    new Promise<Buffer>((resolve) => {
      const out: Buffer[] = [];
      const on = (c: Buffer) => out.push(c);
      s.on('data', on);
      s.write(b);
      s.flush(constants.Z_SYNC_FLUSH, () => {
        s.off('data', on);
        resolve(Buffer.concat(out));
      });
    });
  let buf: Buffer = Buffer.alloc(0);
  const frames: Frame[] = [];
  const replies: { streamId: number; headers: Map<string, string[]> }[] = [];
  let work = Promise.resolve();
  sock.on('data', (b: Buffer) => {
    const r = splitFrames(Buffer.concat([buf, b]));
    buf = r.rest;
    for (const f of r.frames) {
      work = work.then(async () => {
        if (f.kind === 'control' && f.type === FrameType.SynReply) {
          const h = parseStreamHeaders(f.payload);
          replies.push({ streamId: h.streamId, headers: decodeHeaderBlock(await z(inflate, h.headerBlock)) });
        }
        frames.push(f);
      });
    }
  });
  return {
    frames,
    replies,
    async open(id: number, headers: Map<string, string[]>, fin = false) {
      const block = await z(deflate, encodeHeaderBlock(headers));
      sock.write(
        controlFrame(
          FrameType.SynStream,
          fin ? FLAG_FIN : 0,
          Buffer.concat([words(id, 0), Buffer.from([0, 0]), block]),
        ),
      );
    },
    data: (id: number, d: string, fin = false) => sock.write(dataFrame(id, fin ? FLAG_FIN : 0, Buffer.from(d))),
    ping: (id: number) => sock.write(controlFrame(FrameType.Ping, 0, words(id))),
    close() {
      deflate.destroy();
      inflate.destroy();
    },
  };
}

t.test('session: streams answered with SYN_REPLY, data both ways, FIN, PING, GOAWAY on close', async (t) => {
  const [sock, serverSock] = await socketPair(t);
  const session = new SpdySession(serverSock);
  const streams: SpdyStream[] = [];
  session.on('stream', (s) => streams.push(s));
  const c = spdyClient(sock);
  t.teardown(() => {
    c.close();
    sock.destroy();
  });

  // Several streams, so the header contexts must stay in step across blocks.
  await c.open(1, new Map([['streamtype', ['error']]]));
  await c.open(3, new Map([['streamtype', ['stdin']]]));
  await c.open(5, new Map([['streamtype', ['stdout']]]), true);
  const until = async (what: string, cond: () => boolean) => {
    for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
    t.ok(cond(), what);
  };
  await until('three streams', () => streams.length === 3);
  t.same(
    streams.map((s) => [s.id, s.header('streamtype')]),
    [
      [1, 'error'],
      [3, 'stdin'],
      [5, 'stdout'],
    ],
  );
  await until('three replies', () => c.replies.length === 3);
  t.same(
    c.replies.map((r) => [r.streamId, r.headers.size]),
    [
      [1, 0],
      [3, 0],
      [5, 0],
    ],
    'each stream answered with an empty SYN_REPLY',
  );

  const stdin = streams[1]!;
  let got = '';
  stdin.incoming.on('data', (b: Buffer) => (got += b.toString()));
  const ended = once(stdin.incoming, 'end');
  c.data(3, 'abc');
  c.data(3, 'def', true);
  await ended;
  t.equal(got, 'abcdef', "the client's data, ended by its FIN");

  await streams[2]!.write(Buffer.alloc(70 * 1024, 0x61));
  await streams[2]!.end();
  c.ping(9);
  await until('the output, FIN and PING answer', () =>
    c.frames.some((f) => f.kind === 'control' && f.type === FrameType.Ping),
  );
  const data = c.frames.filter((f): f is Extract<Frame, { kind: 'data' }> => f.kind === 'data' && f.streamId === 5);
  t.equal(
    data.reduce((n, f) => n + f.data.length, 0),
    70 * 1024,
    'a large write arrives whole',
  );
  t.ok(data.length > 1, 'in several frames');
  t.equal(data[data.length - 1]!.flags & FLAG_FIN, FLAG_FIN, 'the last one carries FIN');
  const ping = c.frames.find((f) => f.kind === 'control' && f.type === FrameType.Ping) as Extract<
    Frame,
    { kind: 'control' }
  >;
  t.equal(ping.payload.readUInt32BE(0), 9, 'PING answered with its id');

  const closed = once(sock, 'end');
  await session.close();
  await closed;
  t.ok(
    c.frames.some((f) => f.kind === 'control' && f.type === FrameType.GoAway),
    'GOAWAY before the connection ends',
  );
});

t.test('exec requests: kubelet parameters, streams expected, exit status', async (t) => {
  const q = (s: string) => new URLSearchParams(s);
  t.match(parseStreamRequest('/exec/ns/pod/main', q('command=sh&command=-c&command=exit+3&input=1&output=1&error=1')), {
    kind: 'exec',
    namespace: 'ns',
    pod: 'pod',
    container: 'main',
    command: ['sh', '-c', 'exit 3'],
    stdin: true,
    stdout: true,
    stderr: true,
    tty: false,
  });
  t.match(
    parseStreamRequest('/exec/ns/pod/uid-1/main', q('command=ls&output=1')),
    { uid: 'uid-1', container: 'main' },
    'the form with the pod UID',
  );
  t.match(
    parseStreamRequest('/attach/ns/pod/main', q('output=1&error=1&tty=1')),
    { kind: 'attach', stderr: false, tty: true },
    'a TTY has no stderr',
  );
  t.match(parseStreamRequest('/exec/ns/pod/main', q('command=ls')), {
    code: 400,
    message: /at least 1 of stdin, stdout, stderr/,
  });
  t.match(parseStreamRequest('/exec/ns/pod/main', q('output=1')), { code: 400, message: /missing command/ });
  t.match(parseStreamRequest('/exec/ns/main', q('output=1')), { code: 404 });
  t.equal(parseStreamRequest('/pods', q('')), undefined);
  t.same(expectedStreams({ stdin: true, stdout: true, stderr: false, tty: true }), [
    'error',
    'stdin',
    'stdout',
    'resize',
  ]);
  t.same(exitStatus(['true'], 0), { metadata: {}, status: 'Success' });
  t.match(exitStatus(['sh', '-c', 'exit 3'], 3), {
    status: 'Failure',
    reason: 'NonZeroExitCode',
    details: { causes: [{ reason: 'ExitCode', message: '3' }] },
  });
});

t.test('port-forward requests: the path, the port header', async (t) => {
  t.same(parsePortForwardPath('/portForward/ns/web'), { namespace: 'ns', pod: 'web' });
  t.same(parsePortForwardPath('/portForward/ns/web/uid-1'), { namespace: 'ns', pod: 'web', uid: 'uid-1' });
  t.match(parsePortForwardPath('/portForward/ns'), { code: 404 });
  t.equal(parsePortForwardPath('/exec/ns/web/main'), undefined);
  t.equal(streamPort('8080'), 8080);
  for (const bad of ['0', '65536', '80x', '-1', ''])
    t.match(streamPort(bad), /invalid port header/, `${JSON.stringify(bad)} refused`);
  t.equal(streamPort(undefined), 'missing port header');
});
