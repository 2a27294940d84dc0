// The shapes exec, attach and port-forward share across their two transports (SPDY in
// streaming.ts and port-forward.ts, WebSocket channels in websocket/): kept apart so that the
// transports import them from here, not from each other.
import type { Readable } from 'node:stream';
import type { StreamOptions } from '../runtime/types.js';

export interface StreamRequest extends StreamOptions {
  kind: 'exec' | 'attach';
  namespace: string;
  pod: string;
  uid?: string;
  container: string;
  command: string[];
}

export interface HttpError {
  code: number;
  message: string;
}

/** Where the output of a command goes, whichever the transport. */
export interface OutputStream {
  write(data: Buffer): Promise<void>;
  end(): Promise<void>;
}

/** The client's side of an exec or attach, over SPDY streams or WebSocket channels. */
export interface CommandStreams {
  stdin?: Readable;
  resize?: Readable;
  stdout?: OutputStream;
  stderr?: OutputStream;
  /** The outcome on the error stream, in the form the protocol wants. */
  writeStatus(status: Record<string, unknown>): Promise<void>;
  close(): Promise<void>;
  onClose(cb: () => void): void;
}
