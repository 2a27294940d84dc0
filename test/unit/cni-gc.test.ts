// When and with what the agent runs CNI GC (agent/network/network-gc.ts, gc-gate.ts): the valid
// list is every sandbox the runtime lists; a runtime that cannot be listed means no GC at all (not
// a GC with an empty list); and a GC never runs at the same time as an ADD. The plugin is a small
// shell script that records what it was asked (a real exec, as libcni does it).
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { createLogger } from '../../lib/log.js';
import { CniNetwork } from '../../agent/network/cni.js';
import { GcGate } from '../../agent/network/gc-gate.js';
import { collectNetworkGarbage, validAttachments } from '../../agent/network/network-gc.js';
import type { PodRuntimeStatus, RuntimeSandbox } from '../../agent/runtime/types.js';

const sandbox = (id: string, state: RuntimeSandbox['state'] = 'ready') => ({
  id,
  podUid: 'u',
  attempt: 0,
  state,
  createdAt: new Date(),
  hostNetwork: false,
  labels: {},
});
const pods = (...ps: [string, RuntimeSandbox[]][]) =>
  new Map<string, PodRuntimeStatus>(
    ps.map(([uid, sandboxes]) => [uid, { uid, name: uid, namespace: 'ns', sandboxes, containers: [] }]),
  );

t.test('the valid list: every sandbox, ready or not', async (t) => {
  t.same(validAttachments(pods(['a', [sandbox('s1'), sandbox('s0', 'notready')]], ['b', []], ['c', [sandbox('s2')]])), [
    { containerId: 's1', ifName: 'eth0' },
    { containerId: 's0', ifName: 'eth0' },
    { containerId: 's2', ifName: 'eth0' },
  ]);
});

t.test('GC with the sandboxes listed; none at all when the runtime cannot be listed', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-cnigc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf'));
  mkdirSync(join(dir, 'bin'));
  writeFileSync(
    join(dir, 'conf', '10.conflist'),
    JSON.stringify({ cniVersion: '1.1.0', name: 'n', plugins: [{ type: 'recorder' }] }),
  );
  const plugin = join(dir, 'bin', 'recorder');
  writeFileSync(plugin, `#!/bin/sh\necho "$CNI_COMMAND" >> ${dir}/commands\ncat > ${dir}/stdin\n`);
  chmodSync(plugin, 0o755);
  const lines: string[] = [];
  const logger = createLogger('t', { sink: (l) => lines.push(l) });
  const cni = new CniNetwork({
    confDir: join(dir, 'conf'),
    binDirs: [join(dir, 'bin')],
    cacheDir: join(dir, 'cache'),
    logger,
  });

  await collectNetworkGarbage(
    cni,
    {
      podStatuses: async () => {
        throw new Error('connect ENOENT /var/run/docker.sock');
      },
    },
    logger,
    'test',
  );
  t.notOk(existsSync(join(dir, 'commands')), 'the plugin was not run');
  t.match(
    lines.join('\n'),
    /CNI GC failed.*cannot list the pod sandboxes, so nothing is collected: connect ENOENT/,
    'the reason is logged',
  );

  await collectNetworkGarbage(cni, { podStatuses: async () => pods(['a', [sandbox('s1')]]) }, logger, 'test');
  t.equal(readFileSync(join(dir, 'commands'), 'utf8'), 'GC\n');
  t.same(
    JSON.parse(readFileSync(join(dir, 'stdin'), 'utf8'))['cni.dev/valid-attachments'],
    [{ containerID: 's1', ifname: 'eth0' }],
    'GC got the listed sandbox as valid',
  );
  t.match(lines.at(-1), /CNI GC done.*"validSandboxes":1/);
});

t.test('GcGate: a GC waits for ADDs in flight and holds back new ones', async (t) => {
  const gate = new GcGate();
  const order: string[] = [];
  let endAdd1!: () => void;
  const add1 = gate.add(async () => {
    order.push('add1 start');
    await new Promise<void>((r) => (endAdd1 = r));
    order.push('add1 end');
  });
  const gc = gate.exclusive(async () => {
    order.push('gc start');
    await new Promise((r) => setTimeout(r, 20));
    order.push('gc end');
  });
  await new Promise((r) => setTimeout(r, 5));
  const add2 = gate.add(async () => {
    order.push('add2');
  });
  const gc2 = gate.exclusive(async () => {
    order.push('gc2');
  });
  await new Promise((r) => setTimeout(r, 5));
  t.same(order, ['add1 start'], 'GC waits for the ADD in flight, the new ADD waits for the GC');
  endAdd1();
  await Promise.all([add1, gc, add2, gc2]);
  t.same(order.slice(0, 4), ['add1 start', 'add1 end', 'gc start', 'gc end'], 'GC ran alone after the ADD');
  t.same(order.slice(4).sort(), ['add2', 'gc2'], 'then the rest, one GC at a time');
});

t.test('no CNI configuration at all: nothing to collect, and no warning; an invalid one is warned about', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-cni-gc-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'conf'));
  const lines: string[] = [];
  const logger = createLogger('t', { sink: (l) => lines.push(l), level: 'debug' });
  const cni = new CniNetwork({ confDir: join(dir, 'conf'), binDirs: [], cacheDir: join(dir, 'cache'), logger });
  const sandboxes = { podStatuses: async () => pods(['a', [sandbox('s1')]]) };
  await collectNetworkGarbage(cni, sandboxes, logger, 'test');
  t.notMatch(lines.join('\n'), /"level":"warn"/, 'no warning');
  t.match(lines.at(-1), /CNI GC: nothing to collect.*no CNI network configuration/, 'a debug line says why');

  writeFileSync(join(dir, 'conf', '10.conflist'), '{ not json');
  await collectNetworkGarbage(cni, sandboxes, logger, 'test');
  t.match(
    lines.at(-1),
    /"level":"warn".*CNI GC failed.*10\.conflist/,
    'a broken configuration file is a warning naming it',
  );
});
