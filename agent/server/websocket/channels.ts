// Kubernetes' channel protocols over one WebSocket (k8s.io/apimachinery wsstream conn.go): every
// message carries one channel's bytes, its first byte naming the channel. Binary protocols
// (`channel.k8s.io`, `v4.channel.k8s.io`, `v5.channel.k8s.io`, and "" when the client names none)
// send the channel as a byte and the data raw; base64 protocols (`base64.channel.k8s.io`,
// `v4.base64.channel.k8s.io`) send text: the channel as an ASCII digit ('0' + n), then the data in
// standard base64. `v5.channel.k8s.io` adds a half-close: a message [255, n] ends channel n's
// incoming side (stdin EOF without closing the connection).
import { PassThrough } from 'node:stream';
import type { WebSocketConnection } from './connection.js';

/** The close signal of v5.channel.k8s.io (remotecommand.StreamClose). */
export const STREAM_CLOSE = 255;

export interface ChannelProtocol {
  name: string;
  base64: boolean;
  /** The error channel carries a metav1.Status as JSON (v4 and later); before, only a failure's message. */
  statusAsJson: boolean;
  streamClose: boolean;
}

const protocol = (name: string, base64: boolean, statusAsJson: boolean, streamClose = false): ChannelProtocol => ({
  name,
  base64,
  statusAsJson,
  streamClose,
});

/** The remote-command protocols, newest first. Upstream's kubelet stops at v4 (the apiserver translates
 * v5 to SPDY); v5 is served here too so a client that reaches the node directly gets its half-close. */
export const REMOTE_COMMAND_PROTOCOLS: readonly ChannelProtocol[] = [
  protocol('v5.channel.k8s.io', false, true, true),
  protocol('v4.channel.k8s.io', false, true),
  protocol('v4.base64.channel.k8s.io', true, true),
  protocol('channel.k8s.io', false, false),
  protocol('base64.channel.k8s.io', true, false),
  protocol('', false, false),
];

/** A message on channel `n` in the protocol's encoding. */
export function encodeChannelMessage(p: ChannelProtocol, n: number, data: Buffer): Buffer | string {
  return p.base64 ? String.fromCharCode(48 + n) + data.toString('base64') : Buffer.concat([Buffer.from([n]), data]);
}

export type ChannelMessage =
  | { kind: 'data'; channel: number; data: Buffer }
  | { kind: 'close'; channel: number }
  | { kind: 'ignore' }
  | { kind: 'error'; message: string };

/** What a message from the client means. */
export function decodeChannelMessage(p: ChannelProtocol, msg: Buffer): ChannelMessage {
  if (msg.length === 0) return { kind: 'ignore' };
  if (p.streamClose && msg[0] === STREAM_CLOSE) {
    if (msg.length !== 2)
      return { kind: 'error', message: `a close signal names one channel, got ${msg.length - 1} bytes` };
    return { kind: 'close', channel: msg[1]! };
  }
  if (p.base64)
    return { kind: 'data', channel: msg[0]! - 48, data: Buffer.from(msg.subarray(1).toString('latin1'), 'base64') };
  return { kind: 'data', channel: msg[0]!, data: msg.subarray(1) };
}

/**
 * The channels of one connection: `readable` channels get an incoming stream (ended by a v5 close
 * signal or the connection's end), anything sent on another channel is dropped, as wsstream's
 * ignored channels do.
 */
export class ChannelConnection {
  readonly incoming = new Map<number, PassThrough>();

  constructor(
    readonly ws: WebSocketConnection,
    readonly protocol: ChannelProtocol,
    readable: number[],
    onError: (message: string) => void,
  ) {
    for (const n of readable) this.incoming.set(n, new PassThrough());
    ws.on('message', (msg) => {
      const m = decodeChannelMessage(protocol, msg);
      if (m.kind === 'error') {
        onError(m.message);
        void ws.close(1002, m.message);
      } else if (m.kind === 'close') this.incoming.get(m.channel)?.end();
      else if (m.kind === 'data') {
        const s = this.incoming.get(m.channel);
        if (s && !s.writableEnded) s.write(m.data);
      }
    });
    ws.on('close', () => {
      for (const s of this.incoming.values()) if (!s.writableEnded) s.end();
    });
  }

  write(channel: number, data: Buffer): Promise<void> {
    return this.ws.send(encodeChannelMessage(this.protocol, channel, data));
  }
}
