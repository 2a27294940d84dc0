// Prober benchmark: 500 probes at periodSeconds 1 (250 containers, each with a liveness and a
// readiness probe: 200 tcpSocket, 200 httpGet, 100 grpc) against loopback servers run in a
// child process, so the CPU measured is the prober's alone. Prints the prober process's CPU in
// percent of one core, and how late probes started against their intended time (median, p99,
// max) and the spread of intervals between one worker's probes. The floor, measured in the
// same run and at the same time (in a second child process, so that both see the same machine:
// on a shared 2-core machine, lateness is mostly other processes taking the CPU): 500 bare
// self-rescheduling timers at 1 s doing nothing. The machine's CPU pressure (PSI) is printed too.
// A third figure for scale: 500 bare TCP connects per second (the network work alone).
// Goal: under 10% of one core, no probe more than 200 ms late.
// Exec probes are left out: their cost is dockerd's (one docker exec each), not the agent's.
//   BENCH_SECONDS=60 (default) sets the length of each of the two measured phases.
import { spawn } from 'node:child_process';
import http from 'node:http';
import net from 'node:net';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay, performance } from 'node:perf_hooks';
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { cpuSeconds, printMachine, report, rssMiB, stats } from './harness.js';
import { createLogger } from '../lib/log.js';
import { ProbeManager, type ProbeTiming } from '../agent/prober/manager.js';
import { startHealthServer } from '../agent/prober/grpc-health-server.js';

const PROBES = 500;
const CONTAINERS = PROBES / 2;
const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const WARMUP_MS = 3000;

interface Ports {
  http: number[];
  tcp: number[];
  grpc: number;
}

/** Child mode: the servers the probes hit, on loopback; ports on stdout as JSON. */
async function serve(): Promise<void> {
  const listen = (s: net.Server) =>
    new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r((s.address() as net.AddressInfo).port)));
  const ports: Ports = { http: [], tcp: [], grpc: 0 };
  for (let i = 0; i < 2; i++) {
    ports.http.push(await listen(http.createServer((_q, res) => res.end('ok'))));
    ports.tcp.push(await listen(net.createServer((s) => s.on('error', () => {}).end())));
  }
  ports.grpc = (await startHealthServer({ port: 0, host: '127.0.0.1' })).port;
  process.stdout.write(JSON.stringify(ports) + '\n');
  process.stdin.resume();
  process.stdin.on('end', () => process.exit(0)); // the parent went away
}

/** Child mode: 500 bare timers for the warm-up and the measured window; lateness and CPU as JSON. */
async function floor(): Promise<void> {
  const late: number[] = [];
  let measuring = false;
  const timers: NodeJS.Timeout[] = [];
  const t0 = performance.now();
  for (let i = 0; i < PROBES; i++) {
    let due = t0 + Math.random() * 1000;
    const tick = () => {
      const now = performance.now();
      if (measuring) late.push(now - due);
      due += 1000;
      timers[i] = setTimeout(tick, Math.max(0, due - performance.now()));
    };
    timers[i] = setTimeout(tick, due - t0);
  }
  await sleep(WARMUP_MS);
  measuring = true;
  const c0 = process.cpuUsage();
  const w0 = performance.now();
  await sleep(SECONDS * 1000);
  const c = process.cpuUsage(c0);
  const wall = performance.now() - w0;
  measuring = false;
  timers.forEach(clearTimeout);
  process.stdout.write(JSON.stringify({ cpu: ((c.user + c.system) / 1000 / wall) * 100, late }) + '\n');
}

/** "some avg60" of /proc/pressure/cpu: the share of time runnable tasks waited for a CPU. */
function cpuPressure(): string {
  try {
    return (
      /some avg10=([\d.]+) avg60=([\d.]+)/
        .exec(readFileSync('/proc/pressure/cpu', 'utf8'))
        ?.slice(1)
        .join('% (10 s), ') + '% (60 s)'
    );
  } catch {
    return 'unknown';
  }
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

function probeFor(kind: number, ports: Ports, i: number): V1Probe {
  const p = { periodSeconds: 1, timeoutSeconds: 1 };
  if (kind === 0) return { ...p, tcpSocket: { port: i % 2 ? 'tcp' : ports.tcp[1]! } };
  if (kind === 1) return { ...p, httpGet: { port: i % 2 ? 'http' : ports.http[1]!, path: '/healthz' } };
  return { ...p, grpc: { port: ports.grpc } };
}

async function main(): Promise<void> {
  printMachine(`prober: ${PROBES} probes at periodSeconds 1 for ${SECONDS} s (after ${WARMUP_MS / 1000} s warm-up)`);
  const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--servers'], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const ports: Ports = await new Promise((resolve, reject) => {
    child.stdout!.once('data', (b: Buffer) => resolve(JSON.parse(b.toString())));
    child.once('exit', (code) => reject(new Error(`server process exited ${code}`)));
  });

  // The floor runs beside the prober, in its own process, over the same window.
  const floorChild = spawn(process.execPath, [fileURLToPath(import.meta.url), '--floor'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const floorOut: Promise<{ cpu: number; late: number[] }> = new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    floorChild.stdout!.on('data', (b: Buffer) => chunks.push(b));
    floorChild.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(Buffer.concat(chunks).toString()))
        : reject(new Error(`floor process exited ${code}`)),
    );
  });
  console.log(`CPU pressure before: ${cpuPressure()}`);
  console.log(`\n## prober: ${CONTAINERS} containers x (liveness + readiness) = 200 tcpSocket, 200 httpGet, 100 grpc`);
  const timings: ProbeTiming[] = [];
  let measuring = false;
  let changes = 0;
  const m = new ProbeManager({
    logger: createLogger('bench', { sink: () => {} }),
    onChange: () => changes++,
    onProbe: (x) => {
      if (measuring) timings.push(x);
    },
  });
  // Probe kinds: liveness tcp/tcp/http/http/grpc, readiness http/http/tcp/tcp/grpc by i % 5.
  const liveKind = [0, 0, 1, 1, 2];
  const readyKind = [1, 1, 0, 0, 2];
  for (let i = 0; i < CONTAINERS; i++) {
    const container: V1Container = {
      name: 'app',
      image: 'bench',
      ports: [
        { name: 'http', containerPort: ports.http[0]! },
        { name: 'tcp', containerPort: ports.tcp[0]! },
      ],
      livenessProbe: probeFor(liveKind[i % 5]!, ports, i),
      readinessProbe: probeFor(readyKind[i % 5]!, ports, i),
    };
    const pod: V1Pod = {
      metadata: { name: `pod-${i}`, namespace: 'bench', uid: `uid-${i}` },
      spec: { containers: [container] },
    };
    m.addContainer(`uid-${i}`, {
      pod,
      container,
      containerId: `c-${i}`,
      podIP: () => '127.0.0.1',
      exec: () => Promise.reject(new Error('no exec probes in this benchmark')),
    });
  }
  await sleep(WARMUP_MS);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();
  measuring = true;
  const c0 = process.cpuUsage();
  const childCpu0 = cpuSeconds(child.pid!);
  const w0 = performance.now();
  await sleep(SECONDS * 1000);
  const c = process.cpuUsage(c0);
  const wall = performance.now() - w0;
  const childCpu = cpuSeconds(child.pid!) - childCpu0;
  measuring = false;
  loop.disable();
  const cpu = ((c.user + c.system) / 1000 / wall) * 100;
  m.stop();
  const f = await floorOut;
  console.log(`CPU pressure after: ${cpuPressure()}`);

  console.log(`\n## floor (same window, another process): ${PROBES} bare timers at 1 s, doing nothing`);
  const fl = report('floor: timer lateness vs intended', f.late);
  console.log(`${'floor: CPU'.padEnd(44)} ${f.cpu.toFixed(2)}% of one core`);

  console.log(`\n## prober`);

  const late = timings.filter((x) => x.intendedAt !== undefined).map((x) => x.startedAt - x.intendedAt!);
  report('prober: probe start lateness vs intended', late);
  const byWorker = new Map<string, number[]>();
  for (const x of timings) {
    const k = `${x.podUid}/${x.type}`;
    (byWorker.get(k) ?? byWorker.set(k, []).get(k)!).push(x.startedAt);
  }
  const intervals: number[] = [];
  for (const starts of byWorker.values()) {
    starts.sort((a, b) => a - b); // recorded as probes finish, not as they start
    for (let i = 1; i < starts.length; i++) intervals.push(starts[i]! - starts[i - 1]!);
  }
  report("prober: interval between one worker's probes", intervals);
  report(
    'prober: probe duration',
    timings.map((x) => x.durationMs),
  );
  const results = { success: 0, failure: 0, unknown: 0 };
  for (const x of timings) results[x.result]++;
  const expected = PROBES * SECONDS;
  console.log(
    `${'prober: attempts'.padEnd(44)} ${timings.length} (expected ~${expected}): ${results.success} success, ${results.failure} failure, ${results.unknown} unknown; ${changes} thresholded changes`,
  );
  console.log(
    `${'prober: event loop delay'.padEnd(44)} median ${(loop.percentile(50) / 1e6).toFixed(2)} ms  p99 ${(loop.percentile(99) / 1e6).toFixed(2)} ms  max ${(loop.max / 1e6).toFixed(2)} ms`,
  );
  console.log(
    `${'prober: CPU'.padEnd(44)} ${cpu.toFixed(2)}% of one core (floor ${f.cpu.toFixed(2)}%, ratio ${(cpu / Math.max(f.cpu, 0.01)).toFixed(1)}x); servers' process ${((childCpu / (wall / 1000)) * 100).toFixed(1)}%; RSS ${rssMiB(process.pid).toFixed(0)} MiB`,
  );
  const st = stats(late);
  console.log(
    `${'prober: lateness vs floor'.padEnd(44)} median ${st.median.toFixed(2)} ms (floor ${fl.median.toFixed(2)}), p99 ${st.p99.toFixed(2)} ms (floor ${fl.p99.toFixed(2)}), max ${st.max.toFixed(1)} ms (floor ${fl.max.toFixed(1)})`,
  );
  console.log(
    `goal: CPU < 10% of one core: ${cpu < 10 ? 'met' : 'NOT met'}; no probe more than 200 ms late: ${st.max <= 200 ? 'met' : 'NOT met'}`,
  );

  // A second floor, for scale: the network work alone. 500 bare TCP connect+close per second to
  // the same servers, spread over the second like the probes (no HTTP, no gRPC, no prober).
  const bareSeconds = Math.min(SECONDS, 20);
  const bare = setInterval(() => {
    for (let i = 0; i < PROBES / 50; i++) {
      const s = net.connect(ports.tcp[i % 2]!, '127.0.0.1');
      s.once('connect', () => s.destroy());
      s.on('error', () => {});
    }
  }, 20);
  await sleep(1000);
  const b0 = process.cpuUsage();
  const bw0 = performance.now();
  await sleep(bareSeconds * 1000);
  const b = process.cpuUsage(b0);
  clearInterval(bare);
  const bareCpu = ((b.user + b.system) / 1000 / (performance.now() - bw0)) * 100;
  console.log(
    `${'floor: 500 bare TCP connects/s, CPU'.padEnd(44)} ${bareCpu.toFixed(2)}% of one core (over ${bareSeconds} s, same process)`,
  );
  console.log(`CPU pressure at the end: ${cpuPressure()}`);
  child.stdin!.end();
  child.kill();
}

if (process.argv[2] === '--servers') await serve();
else if (process.argv[2] === '--floor') await floor();
else await main();
