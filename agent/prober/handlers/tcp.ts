// tcpSocket: success is a completed TCP handshake, nothing more (kubelet's tcp prober). The
// connection is closed at once.
import { connect } from 'node:net';
import type { ProbeOutcome } from '../types.js';
import { dialError, hostPort, onAbort } from './common.js';

export function tcpProbe(host: string, port: number, signal: AbortSignal): Promise<ProbeOutcome> {
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const off = onAbort(signal, () => {
      socket.destroy();
      resolve({ result: 'failure', message: `dial tcp ${hostPort(host, port)}: i/o timeout` });
    });
    socket.once('connect', () => {
      off();
      socket.destroy();
      resolve({ result: 'success', message: `TCP connection to ${hostPort(host, port)} succeeded` });
    });
    socket.on('error', (err) => {
      off();
      socket.destroy();
      resolve({ result: 'failure', message: dialError(host, port, err) });
    });
  });
}
