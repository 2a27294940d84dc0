// The other end of a `kubectl port-forward` connection: started by port-forward.ts inside the
// pod's network namespace (nsenter --net), it connects to 127.0.0.1:PORT there, as kubelet's
// runtimes do, and copies bytes between that socket and its stdin/stdout. A connection error is
// one line on stderr and exit status 1; the agent passes it to kubectl on the error stream.
import { connect } from 'node:net';

const port = Number(process.argv[2]);
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  process.stderr.write(`port-relay: invalid port ${JSON.stringify(process.argv[2])}\n`);
  process.exit(2);
}
const socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
socket.once('connect', () => {
  process.stdin.pipe(socket);
  socket.pipe(process.stdout);
});
// The reasons kubectl users know from kubelet's message, where there is one.
const REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ETIMEDOUT: 'connection timed out',
  EHOSTUNREACH: 'no route to host',
};
socket.once('error', (e: NodeJS.ErrnoException) => {
  const reason = (e.code && REASONS[e.code]) ?? e.message;
  process.stderr.write(`failed to connect to localhost:${port} inside the pod's network namespace: ${reason}\n`);
  process.exit(1);
});
// The pod's side has sent everything: the forwarded connection is over, as for kubelet's runtimes,
// which end a forward when the copy from the pod ends (a client that half-closed first was still
// waiting for this). Exit once stdout has taken the last bytes; nothing may be left in a pipe.
socket.once('end', () => {
  process.stdin.destroy();
  process.stdout.write('', () => process.exit(0));
});
socket.once('close', () => process.stdin.destroy());
