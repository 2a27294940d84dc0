// A minimal grpc.health.v1.Health server over cleartext HTTP/2, speaking the same hand-encoded
// protocol as the grpc probe. No gRPC server binary exists on these machines, so the tests and
// the benchmark run this one as the "real server" a grpc probe talks to; it is also handy to try
// a probe by hand:
//   node dist/agent/prober/grpc-health-server.js --port 9000 [--host ::] [--service NAME=STATUS]... [--hang]
// The empty service name (the server as a whole) is SERVING unless --service =STATUS says
// otherwise; a name not listed answers NOT_FOUND, as the reference health server does.
// --hang accepts calls and never answers (for timeout tests).
import http2 from 'node:http2';
import { pathToFileURL } from 'node:url';
import {
  decodeHealthCheckRequest,
  encodeHealthCheckResponse,
  frameMessage,
  HEALTH_CHECK_PATH,
  SERVING_STATUS,
  unframeMessage,
} from './grpc-wire.js';
import { errorMessage } from '../../lib/errors.js';

export interface HealthServerOptions {
  port: number;
  host?: string;
  /** service name -> status (0..3); '' is the server as a whole. */
  statuses?: Map<string, number>;
  hang?: boolean;
}

export function startHealthServer(
  o: HealthServerOptions,
): Promise<{ server: http2.Http2Server; port: number; close(): Promise<void> }> {
  const statuses = o.statuses ?? new Map([['', 1]]);
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.on('close', () => sessions.delete(s));
    s.on('error', () => {});
  });
  server.on('stream', (stream, headers) => {
    stream.on('error', () => {});
    const chunks: Buffer[] = [];
    stream.on('data', (b: Buffer) => chunks.push(b));
    stream.on('end', () => {
      if (o.hang || stream.destroyed) return;
      const trailersOnly = (code: number, message: string) =>
        stream.respond(
          {
            ':status': 200,
            'content-type': 'application/grpc',
            'grpc-status': String(code),
            'grpc-message': encodeURIComponent(message),
          },
          { endStream: true },
        );
      if (headers[':path'] !== HEALTH_CHECK_PATH) return trailersOnly(12, `unknown method ${headers[':path']}`);
      const framed = unframeMessage(Buffer.concat(chunks));
      if (!framed) return trailersOnly(13, 'no request message');
      let service: string;
      try {
        service = decodeHealthCheckRequest(framed.message).service;
      } catch (e) {
        return trailersOnly(13, errorMessage(e));
      }
      const status = statuses.get(service);
      if (status === undefined) return trailersOnly(5, 'unknown service');
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      stream.end(frameMessage(encodeHealthCheckResponse(status)));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host ?? '::', () => {
      const addr = server.address();
      resolve({
        server,
        port: typeof addr === 'object' && addr ? addr.port : o.port,
        close: () =>
          new Promise<void>((r) => {
            for (const s of sessions) s.destroy();
            server.close(() => r());
          }),
      });
    });
  });
}

function parseArgs(argv: string[]): HealthServerOptions {
  const o: HealthServerOptions = { port: 0, statuses: new Map([['', 1]]) };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const next = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--port') o.port = Number(next());
    else if (a === '--host') o.host = next();
    else if (a === '--hang') o.hang = true;
    else if (a === '--service') {
      const [name, status] = next().split('=');
      const n = SERVING_STATUS.indexOf((status ?? '') as (typeof SERVING_STATUS)[number]);
      if (n < 0) throw new Error(`--service ${name}=${status}: status must be one of ${SERVING_STATUS.join(', ')}`);
      o.statuses!.set(name ?? '', n);
    } else throw new Error(`unknown argument ${a}`);
  }
  return o;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const { port, close } = await startHealthServer(parseArgs(process.argv.slice(2)));
    // The listening port on stdout, alone on a line, for whoever started us.
    process.stdout.write(`${port}\n`);
    const bye = () => void close().then(() => process.exit(0));
    process.on('SIGTERM', bye);
    process.on('SIGINT', bye);
  } catch (e) {
    process.stderr.write(`grpc-health-server: ${errorMessage(e)}\n`);
    process.exit(2);
  }
}
