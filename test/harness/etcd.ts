// A real etcd of the test's own (the binary scripts/build-control-plane.sh builds, as the control
// plane runs it): free loopback ports, a data directory named by the run prefix, optionally TLS
// with client certificates (a CA made here with openssl). It can be stopped and started again on
// the same ports and data, and is stopped and removed at teardown. etcdctl, built beside it, is
// the client the tests write with, as a person would.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run, type RunResult } from '../../lib/exec.js';
import { SCRIPTS } from './control-plane.js';
import type { Teardownable } from './netns.js';
import { freePorts } from './ports.js';
import { requireProgram } from './require.js';
import { until } from './until.js';

const version = (name: string) =>
  new RegExp(`^${name}=(\\S+)$`, 'm').exec(readFileSync(join(SCRIPTS, 'versions.sh'), 'utf8'))![1]!;
export const ETCD_BIN_DIR = join(
  process.env.KUBENODE_CACHE ?? '/var/cache/kubenode',
  'bin',
  `k8s-${version('KUBERNETES_VERSION')}`,
);

export interface TestEtcd {
  endpoint: string;
  dir: string;
  /** With tls: the CA, and a client certificate and key etcd accepts. */
  tls?: { caFile: string; certFile: string; keyFile: string };
  etcdctl(args: string[], input?: string): Promise<RunResult>;
  put(key: string, value: string): Promise<void>;
  /** The store's current revision. */
  revision(): Promise<number>;
  stop(): Promise<void>;
  start(): Promise<void>;
}

async function makeCerts(dir: string): Promise<NonNullable<TestEtcd['tls']>> {
  requireProgram('openssl');
  const f = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  await run('openssl', [
    'req',
    '-x509',
    ...ec,
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.crt'),
    '-subj',
    '/CN=test-etcd-ca',
    '-days',
    '1',
  ]);
  for (const [name, ext] of [
    ['server', 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'],
    ['client', 'extendedKeyUsage=clientAuth'],
  ] as const) {
    await run('openssl', ['req', ...ec, '-keyout', f(`${name}.key`), '-out', f(`${name}.csr`), '-subj', `/CN=${name}`]);
    await writeFile(f(`${name}.ext`), ext + '\n');
    await run('openssl', [
      'x509',
      '-req',
      '-in',
      f(`${name}.csr`),
      '-CA',
      f('ca.crt'),
      '-CAkey',
      f('ca.key'),
      '-CAcreateserial',
      '-out',
      f(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      f(`${name}.ext`),
    ]);
  }
  return { caFile: f('ca.crt'), certFile: f('client.crt'), keyFile: f('client.key') };
}

export async function startEtcd(t: Teardownable, o: { prefix: string; tls?: boolean }): Promise<TestEtcd> {
  const bin = join(ETCD_BIN_DIR, 'etcd');
  const ctl = join(ETCD_BIN_DIR, 'etcdctl');
  for (const b of [bin, ctl])
    if (!existsSync(b))
      throw new Error(
        `${b} is missing: run sudo scripts/setup.sh (scripts/build-control-plane.sh builds etcd and etcdctl)`,
      );
  const dir = join(tmpdir(), `${o.prefix}-etcd`);
  await mkdir(dir, { recursive: true });
  let child: ChildProcess | undefined;
  const stop = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGTERM');
    await exited;
  };
  t.teardown(async () => {
    await stop();
    await rm(dir, { recursive: true, force: true });
  });
  const [client, peer] = await freePorts(2);
  const scheme = o.tls ? 'https' : 'http';
  const endpoint = `${scheme}://127.0.0.1:${client}`;
  const tls = o.tls ? await makeCerts(dir) : undefined;
  const serverTls = tls
    ? [
        '--cert-file',
        join(dir, 'server.crt'),
        '--key-file',
        join(dir, 'server.key'),
        '--client-cert-auth',
        '--trusted-ca-file',
        tls.caFile,
      ]
    : [];
  const clientTls = tls ? ['--cacert', tls.caFile, '--cert', tls.certFile, '--key', tls.keyFile] : [];
  const args = [
    '--name',
    o.prefix,
    '--data-dir',
    join(dir, 'data'),
    '--listen-client-urls',
    endpoint,
    '--advertise-client-urls',
    endpoint,
    '--listen-peer-urls',
    `http://127.0.0.1:${peer}`,
    '--initial-advertise-peer-urls',
    `http://127.0.0.1:${peer}`,
    '--initial-cluster',
    `${o.prefix}=http://127.0.0.1:${peer}`,
    '--log-level',
    'warn',
    ...serverTls,
    // A throw-away store: no fsync, so a busy disk (other tests, image builds) does not stall it.
    '--unsafe-no-fsync',
  ];
  const etcdctl = (a: string[], input?: string) =>
    run(ctl, ['--endpoints', endpoint, ...clientTls, ...a], { input, timeoutMs: 20_000 });
  const start = async () => {
    const c = spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    child = c;
    let log = '';
    c.stderr!.on('data', (b: Buffer) => {
      log = (log + b.toString()).slice(-4000);
    });
    // Generous: on a loaded 2-core machine etcd's first start can take tens of seconds.
    await until(
      `etcd healthy at ${endpoint}`,
      90_000,
      async () => {
        if (c.exitCode !== null) throw new Error(`etcd exited ${c.exitCode}: ${log}`);
        const h = await run(ctl, ['--endpoints', endpoint, ...clientTls, 'endpoint', 'health'], {
          allowFailure: true,
          timeoutMs: 10_000,
        });
        if (h.code !== 0)
          throw new Error(`not healthy: ${h.stderr.trim().split('\n').pop()}; etcd's log: ${log.slice(-600)}`);
        return true;
      },
      500,
    );
  };
  await start();
  return {
    endpoint,
    dir,
    tls,
    etcdctl,
    stop,
    start,
    put: async (key, value) => {
      await etcdctl(['put', key], value);
    },
    revision: async () =>
      Number(
        (
          JSON.parse((await etcdctl(['endpoint', 'status', '-w', 'json'])).stdout) as {
            Status: { header: { revision: number } };
          }[]
        )[0]!.Status.header.revision,
      ),
  };
}
