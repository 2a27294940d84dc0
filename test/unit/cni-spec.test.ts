// The CNI protocol's pure parts: environment, network configuration, result versions, the
// dispatcher's output for VERSION and errors.
import t from 'tap';
import { parseCniArgs, parseEnv } from '../../cni/skel/env.js';
import { parseNetConf } from '../../cni/skel/netconf.js';
import { runPlugin, type PluginCommands, type PluginIO } from '../../cni/skel/skel.js';
import { CniError } from '../../cni/spec/errors.js';
import { formatResult, parseResult, type CniResult } from '../../cni/spec/result.js';

const code = (fn: () => unknown): number | undefined => {
  try {
    fn();
  } catch (e) {
    return (e as CniError).code;
  }
  return undefined;
};

t.test('environment per command', async (t) => {
  const env = parseEnv({
    CNI_COMMAND: 'ADD',
    CNI_CONTAINERID: 'abc_1.x-2',
    CNI_NETNS: '/run/netns/p',
    CNI_IFNAME: 'eth0',
    CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=web-0',
    CNI_PATH: '/opt/cni/bin:/usr/lib/cni',
  });
  t.same(env.args, { IgnoreUnknown: '1', K8S_POD_NAME: 'web-0' });
  t.same(env.path, ['/opt/cni/bin', '/usr/lib/cni']);
  t.equal(
    code(() => parseEnv({})),
    4,
    'no CNI_COMMAND',
  );
  t.equal(
    code(() => parseEnv({ CNI_COMMAND: 'FOO' })),
    4,
    'unknown command',
  );
  t.equal(
    code(() => parseEnv({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'a', CNI_IFNAME: 'eth0' })),
    4,
    'ADD without CNI_NETNS',
  );
  t.doesNotThrow(
    () => parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a', CNI_IFNAME: 'eth0' }),
    'DEL without CNI_NETNS is allowed',
  );
  t.doesNotThrow(() => parseEnv({ CNI_COMMAND: 'VERSION' }));
  t.doesNotThrow(() => parseEnv({ CNI_COMMAND: 'GC' }));
  t.equal(
    code(() => parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: '_bad', CNI_IFNAME: 'eth0' })),
    4,
    'container id must start alphanumeric',
  );
  for (const bad of ['.', '..', 'eth 0', 'a/b', 'a:b', 'x'.repeat(16)]) {
    t.equal(
      code(() => parseEnv({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'a', CNI_IFNAME: bad })),
      4,
      `ifname ${JSON.stringify(bad)}`,
    );
  }
  t.throws(() => parseCniArgs('A=1;B'), /"B" is not KEY=VALUE/);
});

t.test('network configuration', async (t) => {
  const conf = (o: Record<string, unknown>, cmd: Parameters<typeof parseNetConf>[1] = 'ADD') =>
    parseNetConf(Buffer.from(JSON.stringify(o)), cmd);
  const base = { cniVersion: '1.1.0', name: 'net-1', type: 'kubenode-bridge', ipam: { type: 'kubenode-ipam' } };
  const c = conf(base);
  t.equal(c.name, 'net-1');
  t.equal(c.ipam?.type, 'kubenode-ipam');
  t.equal(
    code(() => parseNetConf(Buffer.from('{x'), 'ADD')),
    6,
    'malformed JSON: decode failure',
  );
  t.equal(
    code(() => parseNetConf(Buffer.from('[1]'), 'ADD')),
    6,
    'not an object',
  );
  t.equal(
    code(() => conf({ ...base, cniVersion: '2.0.0' })),
    1,
    'unknown version',
  );
  t.equal(
    code(() => conf({ ...base, cniVersion: '0.2.0' })),
    1,
    'too old',
  );
  t.equal(
    code(() => conf({ ...base, cniVersion: undefined })),
    1,
    'missing version',
  );
  t.equal(
    code(() => conf({ ...base, cniVersion: '0.3.1' }, 'CHECK')),
    1,
    'CHECK needs 0.4.0',
  );
  t.equal(
    code(() => conf({ ...base, cniVersion: '1.0.0' }, 'GC')),
    1,
    'GC needs 1.1.0',
  );
  t.equal(
    code(() => conf({ ...base, name: 'bad name' })),
    7,
    'invalid name',
  );
  t.equal(
    code(() => conf({ ...base, type: '../x' })),
    7,
    'invalid type',
  );
  t.equal(
    code(() => conf({ ...base, ipam: 'x' })),
    7,
    'ipam not an object',
  );
  t.equal(
    code(() => conf({ ...base, prevResult: { cniVersion: '1.0.0', ips: [{ address: 'nope' }] } })),
    6,
    'undecodable prevResult',
  );
  const p = conf({
    ...base,
    prevResult: {
      cniVersion: '0.4.0',
      interfaces: [{ name: 'eth0', sandbox: '/x' }],
      ips: [{ version: '4', address: '10.0.0.2/24', interface: 0 }],
    },
  });
  t.same(
    p.prevResult?.ips,
    [{ address: '10.0.0.2/24', interface: 0 }],
    'a 0.4.0 prevResult is read into the common shape',
  );
});

const full: CniResult = {
  cniVersion: '1.1.0',
  interfaces: [
    { name: 'cni0', mac: '02:00:00:00:00:01' },
    { name: 'veth1', mac: '02:00:00:00:00:02' },
    { name: 'eth0', mac: '02:00:00:00:00:03', mtu: 1400, sandbox: '/run/netns/p' },
  ],
  ips: [
    { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 2 },
    { address: 'fd00::2/64', gateway: 'fd00::1', interface: 2 },
  ],
  routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400, priority: 10 }],
  dns: { nameservers: ['10.96.0.10'] },
};

t.test('results in each version', async (t) => {
  const v11 = formatResult(full, '1.1.0');
  t.same(v11, {
    cniVersion: '1.1.0',
    interfaces: [
      { name: 'cni0', mac: '02:00:00:00:00:01' },
      { name: 'veth1', mac: '02:00:00:00:00:02' },
      { name: 'eth0', mac: '02:00:00:00:00:03', mtu: 1400, sandbox: '/run/netns/p' },
    ],
    ips: [
      { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 2 },
      { address: 'fd00::2/64', gateway: 'fd00::1', interface: 2 },
    ],
    routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1', mtu: 1400, priority: 10 }],
    dns: { nameservers: ['10.96.0.10'] },
  });
  const v10 = formatResult(full, '1.0.0');
  t.same(
    (v10.interfaces as object[])[2],
    { name: 'eth0', mac: '02:00:00:00:00:03', sandbox: '/run/netns/p' },
    '1.0.0: no interface mtu',
  );
  t.same(v10.routes, [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }], '1.0.0: no 1.1 route fields');
  t.same(
    (v10.ips as object[])[0],
    { address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 2 },
    '1.0.0: no ip version',
  );
  const v04 = formatResult(full, '0.4.0');
  t.same(
    v04.ips,
    [
      { version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 2 },
      { version: '6', address: 'fd00::2/64', gateway: 'fd00::1', interface: 2 },
    ],
    '0.4.0: ip version present',
  );
  t.equal(formatResult(full, '0.3.1').cniVersion, '0.3.1');
  t.same(
    formatResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }] }, '1.0.0'),
    { cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24' }], dns: {} },
    'an IPAM result',
  );
  // Round trip: each version's output parses back to the same addresses.
  for (const v of ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    const back = parseResult(formatResult(full, v), 'r');
    t.same(back.ips, full.ips, `${v} round-trips ips`);
  }
  t.throws(
    () => parseResult({ cniVersion: '1.0.0', ips: [{ address: '10.0.0.2/24', interface: 3 }] }),
    /index 3 is not in interfaces/,
  );
  t.throws(
    () => parseResult({ cniVersion: '1.0.0', routes: [{ dst: '0.0.0.0/0', gw: 'fd00::1' }] }),
    /not of the same IP family/,
  );
});

function io(env: NodeJS.ProcessEnv, stdin: string) {
  const out: string[] = [];
  const o: PluginIO = { env, stdin: () => Buffer.from(stdin), stdout: (s) => out.push(s), stderr: () => {} };
  return { o, out };
}

const noCommands: PluginCommands = {
  add: async () => async () => ({ cniVersion: '0.4.0', ips: [{ address: '10.0.0.9/24' }] }),
  del: async () => async () => {},
  check: async () => async () => {
    throw new CniError(999, 'CHECK failed: x', 'details');
  },
  status: async () => async () => {},
  gc: async () => async () => {},
};

t.test('dispatcher: VERSION, results, errors', async (t) => {
  let r = io({ CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}');
  t.equal(await runPlugin('p', noCommands, r.o), 0);
  t.same(JSON.parse(r.out[0]!), {
    cniVersion: '1.0.0',
    supportedVersions: ['0.3.0', '0.3.1', '0.4.0', '1.0.0', '1.1.0'],
  });
  r = io({ CNI_COMMAND: 'VERSION' }, '');
  await runPlugin('p', noCommands, r.o);
  t.equal(JSON.parse(r.out[0]!).cniVersion, '1.1.0', 'VERSION without input answers in the latest version');

  const conf = JSON.stringify({ cniVersion: '0.4.0', name: 'n', type: 'p' });
  r = io({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' }, conf);
  t.equal(await runPlugin('p', noCommands, r.o), 0);
  t.same(
    JSON.parse(r.out[0]!),
    { cniVersion: '0.4.0', ips: [{ version: '4', address: '10.0.0.9/24' }], dns: {} },
    'ADD prints the result in the configuration version',
  );

  r = io({ CNI_COMMAND: 'CHECK', CNI_CONTAINERID: 'c', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' }, conf);
  t.equal(await runPlugin('p', noCommands, r.o), 1, 'errors exit 1');
  t.same(
    JSON.parse(r.out[0]!),
    { cniVersion: '0.4.0', code: 999, msg: 'CHECK failed: x', details: 'details' },
    'error JSON on stdout',
  );

  r = io(
    { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c', CNI_NETNS: '/x', CNI_IFNAME: 'eth0' },
    '{"cniVersion": "9.0.0", "name": "n", "type": "p"}',
  );
  await runPlugin('p', noCommands, r.o);
  t.same(JSON.parse(r.out[0]!).cniVersion, '1.1.0', 'an unsupported version is answered in one we support');
  t.equal(JSON.parse(r.out[0]!).code, 1);

  r = io({ CNI_COMMAND: 'DEL', CNI_CONTAINERID: 'c', CNI_IFNAME: 'eth0' }, conf);
  t.equal(await runPlugin('p', noCommands, r.o), 0);
  t.same(r.out, [], 'DEL prints nothing');
});
