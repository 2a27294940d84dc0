// A long-lived test client inside one network namespace: under emulation, starting Node.js for
// every batch of requests costs seconds, so each client namespace runs one of these and sends
// batches through it. Reads JSON lines on stdin:
//   {"id":1,"host":"10.96.0.10","port":80,"count":100,"timeoutMs":2000}
// and answers each with one JSON line on stdout:
//   {"id":1,"results":[{"ok":true,"status":200,"body":"a 10.244.1.14","ms":3.1}, ...]}
// (the same result shape as test/fixtures/proxy/client.mjs). Every request is a new connection.
import { request } from 'node:http';
import { performance } from 'node:perf_hooks';
import { createInterface } from 'node:readline';

interface Batch {
  id: number;
  host: string;
  port: number;
  count: number;
  timeoutMs: number;
}

function httpOnce(host: string, port: number, timeoutMs: number): Promise<object> {
  return new Promise((resolve) => {
    const t0 = performance.now();
    const req = request(
      { host, port, path: '/', agent: false, timeout: timeoutMs, headers: { Connection: 'close' } },
      (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          resolve({ ok: true, status: res.statusCode, body: body.trim(), ms: performance.now() - t0 }),
        );
      },
    );
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (e: NodeJS.ErrnoException) =>
      resolve({ ok: false, error: e.code ?? e.message, ms: performance.now() - t0 }),
    );
    req.end();
  });
}

// One batch at a time, in order.
let queue = Promise.resolve();
createInterface({ input: process.stdin }).on('line', (line) => {
  const b = JSON.parse(line) as Batch;
  queue = queue.then(async () => {
    const results: object[] = [];
    for (let i = 0; i < b.count; i++) results.push(await httpOnce(b.host, b.port, b.timeoutMs));
    process.stdout.write(JSON.stringify({ id: b.id, results }) + '\n');
  });
});
process.stdin.on('end', () => void queue.then(() => process.exit(0)));
process.stdout.write(JSON.stringify({ ready: true }) + '\n');
