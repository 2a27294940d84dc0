// exec and attach over WebSocket, as kubelet's remotecommand/websocket.go: five channels, 0 stdin,
// 1 stdout, 2 stderr, 3 error, 4 resize (terminal sizes as JSON, the same as SPDY's resize stream).
// Right after the handshake an empty message goes out on the lowest channel the client reads
// (stdout, else stderr, else error) so it knows the connection is up. The outcome goes on the
// error channel: a metav1.Status as JSON for v4 and later (the same Status as on SPDY), before v4
// only a failure's message as text, nothing on success. Then the connection is closed.
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../../../lib/log.js';
import type { CommandStreams, StreamRequest } from '../stream-types.js';
import { ChannelConnection, REMOTE_COMMAND_PROTOCOLS } from './channels.js';
import { acceptWebSocket } from './connection.js';
import { CloseCode } from './frames.js';

export const Channel = { stdin: 0, stdout: 1, stderr: 2, error: 3, resize: 4 } as const;

/** The channels of an exec or attach over an accepted WebSocket; undefined when the handshake was refused. */
export async function webSocketCommandStreams(
  req: IncomingMessage,
  socket: Duplex,
  head: Buffer,
  r: StreamRequest,
  log: Logger,
): Promise<CommandStreams | undefined> {
  const accepted = acceptWebSocket(
    req,
    socket,
    head,
    REMOTE_COMMAND_PROTOCOLS.map((p) => p.name),
    (e) => log.warn('WebSocket protocol error; connection closed', { path: req.url, error: e.message }),
  );
  if (!accepted) return undefined;
  const protocol = REMOTE_COMMAND_PROTOCOLS.find((p) => p.name === accepted.protocol)!;
  const readable = [...(r.stdin ? [Channel.stdin] : []), Channel.resize];
  const ch = new ChannelConnection(accepted.ws, protocol, readable, (message) =>
    log.warn('WebSocket channel protocol error', { path: req.url, error: message }),
  );
  const out = (n: number) => ({
    write: (b: Buffer) => (b.length ? ch.write(n, b) : Promise.resolve()),
    end: () => Promise.resolve(),
  });
  await ch.write(r.stdout ? Channel.stdout : r.stderr ? Channel.stderr : Channel.error, Buffer.alloc(0));
  return {
    stdin: ch.incoming.get(Channel.stdin),
    // Only a TTY has sizes to follow; without one the channel is read and dropped.
    resize: r.tty ? ch.incoming.get(Channel.resize) : (ch.incoming.get(Channel.resize)!.resume(), undefined),
    stdout: r.stdout ? out(Channel.stdout) : undefined,
    stderr: r.stderr ? out(Channel.stderr) : undefined,
    writeStatus: async (status) => {
      if (protocol.statusAsJson) return ch.write(Channel.error, Buffer.from(JSON.stringify(status)));
      if (status.status !== 'Success') await ch.write(Channel.error, Buffer.from(String(status.message ?? 'Failure')));
    },
    close: () => accepted.ws.close(CloseCode.Normal),
    onClose: (cb) => accepted.ws.once('close', cb),
  };
}
