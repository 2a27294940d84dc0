// WebSocket framing (RFC 6455) and Kubernetes' channel protocols as the node serves them: the
// RFC's own examples (handshake key, a masked "Hello"), 7-, 16- and 64-bit lengths, frames split
// from any cut of the byte stream, the errors that must fail a connection, and a connection on a
// real socket pair: a fragmented message with a ping between its fragments, the pong, the closing
// handshake. The apiserver talks to it in test/e2e/agent-websocket.test.ts.
import t from 'tap';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { Socket } from 'node:net';
import {
  CloseCode,
  FrameError,
  Opcode,
  acceptKey,
  encodeFrame,
  splitFrames,
  type Frame,
} from '../../agent/server/websocket/frames.js';
import { WebSocketConnection, negotiateSubprotocol } from '../../agent/server/websocket/connection.js';
import { socketPair } from '../harness/socket-pair.js';
import { parsePortsQuery, portHeader } from '../../agent/server/websocket/port-forward.js';
import {
  REMOTE_COMMAND_PROTOCOLS,
  decodeChannelMessage,
  encodeChannelMessage,
} from '../../agent/server/websocket/channels.js';

const proto = (name: string) => REMOTE_COMMAND_PROTOCOLS.find((p) => p.name === name)!;

t.test("the handshake's accept key (RFC 6455 1.3's example)", async (t) => {
  t.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
});

t.test('a masked client frame is unmasked (RFC 6455 5.7: "Hello")', async (t) => {
  const bytes = Buffer.from([0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
  const { frames, rest } = splitFrames(bytes);
  t.same(
    frames.map((f) => [f.fin, f.opcode, f.payload.toString()]),
    [[true, Opcode.Text, 'Hello']],
  );
  t.equal(rest.length, 0);
  t.same(
    encodeFrame(Opcode.Text, Buffer.from('Hello'), true, Buffer.from([0x37, 0xfa, 0x21, 0x3d])),
    bytes,
    'and encoded back the same',
  );
  t.same(
    encodeFrame(Opcode.Text, Buffer.from('Hello')),
    Buffer.from([0x81, 0x05, ...Buffer.from('Hello')]),
    "a server's frame is not masked",
  );
});

t.test('lengths: 7 bits up to 125, 16 bits up to 65535, 64 bits beyond', async (t) => {
  for (const [len, headLen, marker] of [
    [0, 2, 0],
    [125, 2, 125],
    [126, 4, 126],
    [65535, 4, 126],
    [65536, 10, 127],
    [200_000, 10, 127],
  ] as const) {
    const payload = randomBytes(len);
    const key = randomBytes(4);
    const wire = encodeFrame(Opcode.Binary, payload, true, key);
    t.equal(wire.length, headLen + 4 + len, `${len} bytes: a ${headLen}-byte header and the mask key`);
    t.equal(wire[1]! & 0x7f, marker, `${len} bytes: length marker ${marker}`);
    const { frames } = splitFrames(wire);
    t.ok(frames[0]!.payload.equals(payload), `${len} bytes: the payload comes back`);
  }
});

t.test('frames split back from any cut of the byte stream', async (t) => {
  const key = Buffer.from([1, 2, 3, 4]);
  const bytes = Buffer.concat([
    encodeFrame(Opcode.Binary, Buffer.from('one'), false, key),
    encodeFrame(Opcode.Ping, Buffer.from('p'), true, key),
    encodeFrame(Opcode.Continuation, Buffer.alloc(300, 7), true, key),
    encodeFrame(Opcode.Close, Buffer.from([0x03, 0xe8]), true, key),
  ]);
  for (let cut = 0; cut <= bytes.length; cut++) {
    const a = splitFrames(bytes.subarray(0, cut));
    const b = splitFrames(Buffer.concat([a.rest, bytes.subarray(cut)]));
    const frames: Frame[] = [...a.frames, ...b.frames];
    if (frames.length !== 4 || b.rest.length !== 0 || frames[2]!.payload.length !== 300) {
      t.fail(`cut at ${cut}: ${frames.length} frames`);
      return;
    }
  }
  t.same(
    splitFrames(bytes).frames.map((f) => [f.fin, f.opcode]),
    [
      [false, Opcode.Binary],
      [true, Opcode.Ping],
      [true, Opcode.Continuation],
      [true, Opcode.Close],
    ],
  );
});

t.test('what fails the connection, with its close code', async (t) => {
  const key = Buffer.from([9, 9, 9, 9]);
  const code = (b: Buffer) => {
    try {
      splitFrames(b);
      return 'accepted';
    } catch (e) {
      return e instanceof FrameError ? e.code : 'other error';
    }
  };
  t.equal(code(encodeFrame(Opcode.Text, Buffer.from('x'))), CloseCode.ProtocolError, 'an unmasked client frame');
  t.equal(
    code(encodeFrame(Opcode.Ping, Buffer.alloc(126), true, key)),
    CloseCode.ProtocolError,
    'a control frame over 125 bytes',
  );
  t.equal(
    code(encodeFrame(Opcode.Ping, Buffer.alloc(1), false, key)),
    CloseCode.ProtocolError,
    'a fragmented control frame',
  );
  t.equal(code(encodeFrame(0x3, Buffer.alloc(1), true, key)), CloseCode.ProtocolError, 'a reserved opcode');
  const rsv = encodeFrame(Opcode.Text, Buffer.from('x'), true, key);
  rsv[0]! |= 0x40;
  t.equal(code(rsv), CloseCode.ProtocolError, 'a reserved bit without an extension');
  const huge = Buffer.from([0x82, 0xff, 0, 0, 0, 1, 0, 0, 0, 0]);
  t.equal(code(huge), CloseCode.TooBig, 'a 64-bit length beyond the limit, refused before its payload arrives');
  t.equal(
    splitFrames(encodeFrame(Opcode.Text, Buffer.from('x')), false).frames.length,
    1,
    'unmasked frames are fine for a client reading a server',
  );
});

t.test('subprotocols: the client\'s first one the server supports, "" when none is offered', async (t) => {
  const names = REMOTE_COMMAND_PROTOCOLS.map((p) => p.name);
  t.equal(negotiateSubprotocol(['v5.channel.k8s.io', 'v4.channel.k8s.io'], names), 'v5.channel.k8s.io');
  t.equal(
    negotiateSubprotocol(['x.example', 'base64.channel.k8s.io', 'v4.channel.k8s.io'], names),
    'base64.channel.k8s.io',
    "the client's order wins",
  );
  t.equal(negotiateSubprotocol([], names), '');
  t.equal(negotiateSubprotocol(['x.example'], names), undefined);
  t.equal(negotiateSubprotocol([], ['binary.k8s.io']), undefined, 'no protocol offered and "" not supported');
});

t.test('channel messages: a byte or an ASCII digit first, then raw or base64 data; v5 half-close', async (t) => {
  t.same(encodeChannelMessage(proto('v4.channel.k8s.io'), 1, Buffer.from('hi')), Buffer.from([1, 0x68, 0x69]));
  t.equal(encodeChannelMessage(proto('v4.base64.channel.k8s.io'), 2, Buffer.from('hi')), '2aGk=');
  t.same(decodeChannelMessage(proto('channel.k8s.io'), Buffer.from([0, 0x61])), {
    kind: 'data',
    channel: 0,
    data: Buffer.from('a'),
  });
  t.same(decodeChannelMessage(proto('base64.channel.k8s.io'), Buffer.from('0aGk=')), {
    kind: 'data',
    channel: 0,
    data: Buffer.from('hi'),
  });
  t.same(decodeChannelMessage(proto('v5.channel.k8s.io'), Buffer.from([255, 0])), { kind: 'close', channel: 0 });
  t.equal(
    decodeChannelMessage(proto('v5.channel.k8s.io'), Buffer.from([255, 0, 1])).kind,
    'error',
    'a close signal names exactly one channel',
  );
  t.same(
    decodeChannelMessage(proto('v4.channel.k8s.io'), Buffer.from([255, 0])),
    { kind: 'data', channel: 255, data: Buffer.from([0]) },
    'before v5, 255 is just an unknown channel',
  );
  t.same(decodeChannelMessage(proto('v4.channel.k8s.io'), Buffer.alloc(0)), { kind: 'ignore' });
  t.same(
    [proto('channel.k8s.io').statusAsJson, proto('v4.channel.k8s.io').statusAsJson],
    [false, true],
    'v4 writes the Status as JSON',
  );
});

/** Frames the client reads until `n` have arrived. */
function readFrames(sock: Socket, n: number): Promise<Frame[]> {
  return new Promise((resolve) => {
    let buf: Buffer = Buffer.alloc(0);
    const got: Frame[] = [];
    const onData = (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      const { frames, rest } = splitFrames(buf, false);
      buf = rest;
      got.push(...frames);
      if (got.length >= n) {
        sock.off('data', onData);
        resolve(got);
      }
    };
    sock.on('data', onData);
  });
}

t.test(
  'a connection: fragments joined around a ping, the pong, a long message sent in frames, the closing handshake',
  async (t) => {
    const [client, serverSide] = await socketPair(t);
    const ws = new WebSocketConnection(serverSide);
    const messages: [string, boolean][] = [];
    ws.on('message', (d, binary) => messages.push([d.toString(), binary]));
    const key = () => randomBytes(4);
    const pong = readFrames(client, 1);
    client.write(
      Buffer.concat([
        encodeFrame(Opcode.Text, Buffer.from('hel'), false, key()),
        encodeFrame(Opcode.Ping, Buffer.from('are you there'), true, key()),
        encodeFrame(Opcode.Continuation, Buffer.from('lo'), true, key()),
        encodeFrame(Opcode.Binary, Buffer.from('bin'), true, key()),
      ]),
    );
    const [p] = await pong;
    t.same([p!.opcode, p!.payload.toString()], [Opcode.Pong, 'are you there'], 'the ping is answered with its payload');
    await new Promise((r) => setImmediate(r));
    t.same(
      messages,
      [
        ['hello', false],
        ['bin', true],
      ],
      'the fragmented text message, then the binary one',
    );

    const long = randomBytes(100_000);
    const sent = readFrames(client, 4);
    await ws.send(long);
    const frames = await sent;
    t.same(
      frames.map((f) => [f.opcode, f.fin]),
      [
        [Opcode.Binary, false],
        [Opcode.Continuation, false],
        [Opcode.Continuation, false],
        [Opcode.Continuation, true],
      ],
      'a long message goes out in 32 KiB frames',
    );
    t.ok(Buffer.concat(frames.map((f) => f.payload)).equals(long), 'and joins back to the same bytes');

    const echo = readFrames(client, 1);
    const ended = once(client, 'end');
    client.write(encodeFrame(Opcode.Close, Buffer.from([0x0f, 0xa0]), true, key()));
    const [c] = await echo;
    t.same([c!.opcode, c!.payload.readUInt16BE(0)], [Opcode.Close, 4000], "the client's close is echoed with its code");
    await ended;
    t.pass('then the server ends the TCP connection');
  },
);

t.test('a text message that is not UTF-8 closes the connection with 1007', async (t) => {
  const [client, serverSide] = await socketPair(t);
  const ws = new WebSocketConnection(serverSide);
  let got = 0;
  ws.on('message', () => got++);
  const closing = readFrames(client, 1);
  client.write(encodeFrame(Opcode.Text, Buffer.from([0xc3, 0x28]), true, randomBytes(4)));
  const [f] = await closing;
  t.same([f!.opcode, f!.payload.readUInt16BE(0)], [Opcode.Close, CloseCode.InvalidPayload]);
  t.equal(got, 0, 'the message is not delivered');
});

t.test("port-forward over WebSocket: kubelet's port query and the port header of each channel", async (t) => {
  const q = (s: string) => parsePortsQuery(new URLSearchParams(s));
  t.same(q('port=80,8080&port=9'), [80, 8080, 9], 'comma-separated and repeated, as the apiserver sends them');
  t.equal(q(''), 'query parameter "port" is required');
  t.equal(q('port='), 'query parameter "port" cannot be empty');
  t.equal(q('port=http'), 'unable to parse "http" as a port');
  t.equal(q('port=70000'), 'unable to parse "70000" as a port');
  t.equal(q('port=0'), 'port "0" must be > 0');
  t.same(portHeader(8081), Buffer.from([0x91, 0x1f]), 'two bytes, little-endian');
});
