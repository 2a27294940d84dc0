// The agent's CNI runtime, pure parts: reading configuration files, version selection, the
// request configuration given to each plugin, capability arguments, pod IPs from a result.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { capabilityArgs, cniArgs, podIPs, runtimeConfigFor } from '../../agent/network/cni.js';
import { loadNetwork, noNetworkMessage, parseConfig } from '../../agent/network/conflist.js';
import { requestConfig } from '../../agent/network/invoke.js';

t.test('configuration files: lexical order, first valid wins, .conf wrapped, broken skipped', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-cniconf-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  t.same(await loadNetwork(dir), { skipped: [] });
  t.match(noNetworkMessage(dir, []), /no CNI network configuration/);
  writeFileSync(join(dir, '99-last.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'single', type: 'bridge' }));
  let r = await loadNetwork(dir);
  t.equal(r.network?.name, 'single');
  t.same(
    r.network?.plugins,
    [{ cniVersion: '0.4.0', name: 'single', type: 'bridge' }],
    'a .conf becomes a one-plugin list',
  );
  writeFileSync(
    join(dir, '10-first.conflist'),
    JSON.stringify({
      cniVersion: '1.1.0',
      name: 'pods',
      plugins: [{ type: 'kubenode-bridge' }, { type: 'portmap', capabilities: { portMappings: true } }],
    }),
  );
  writeFileSync(join(dir, '05-broken.conflist'), '{"name": ');
  writeFileSync(join(dir, 'README.md'), 'not a config');
  r = await loadNetwork(dir);
  t.equal(r.network?.name, 'pods', 'the first valid file in lexical order');
  t.equal(r.skipped.length, 1);
  t.match(r.skipped[0]!.reason, /not valid JSON/);
});

t.test('parseConfig: version selection and validation', async (t) => {
  t.equal(
    parseConfig('a.conflist', {
      cniVersion: '1.0.0',
      cniVersions: ['0.4.0', '1.1.0', '2.0.0'],
      name: 'n',
      plugins: [{ type: 'x' }],
    }).cniVersion,
    '1.1.0',
    'highest supported of cniVersion/cniVersions',
  );
  t.equal(
    parseConfig('a.conflist', { cniVersion: '1.0.0', name: 'n', disableCheck: true, plugins: [{ type: 'x' }] })
      .disableCheck,
    true,
  );
  const bad: [unknown, RegExp][] = [
    [{ cniVersion: '1.0.0', name: 'n', plugins: [] }, /"plugins": must be a non-empty list/],
    [{ cniVersion: '1.0.0', name: 'n', plugins: [{ type: '' }] }, /plugins\[0\]\.type/],
    [{ cniVersion: '1.0.0', name: 'bad name', plugins: [{ type: 'x' }] }, /"name"/],
    [{ cniVersion: '3.0.0', name: 'n', plugins: [{ type: 'x' }] }, /not supported/],
    [{ name: 'n', plugins: [{ type: 'x' }] }, /"cniVersion": missing/],
  ];
  for (const [raw, re] of bad) t.throws(() => parseConfig('a.conflist', raw), re);
});

t.test('request configuration and capability arguments', async (t) => {
  const plugin = { type: 'portmap', capabilities: { portMappings: true }, snat: true };
  const caps = capabilityArgs({
    containerId: 'c',
    netnsPath: '/x',
    podName: 'p',
    podNamespace: 'ns',
    podUid: 'u',
    portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }],
    bandwidth: { ingressRate: 1000 },
  });
  t.same(
    runtimeConfigFor(plugin, caps),
    { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
    'only declared capabilities are passed',
  );
  t.same(runtimeConfigFor({ type: 'kubenode-bridge' }, caps), {});
  const conf = requestConfig(plugin, 'pods', '1.0.0', {
    prevResult: { cniVersion: '1.0.0' },
    runtimeConfig: runtimeConfigFor(plugin, caps),
  });
  t.same(
    conf,
    {
      type: 'portmap',
      snat: true,
      cniVersion: '1.0.0',
      name: 'pods',
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp' }] },
      prevResult: { cniVersion: '1.0.0' },
    },
    'capabilities removed, name/version/prevResult/runtimeConfig inserted',
  );
  t.notOk(
    'runtimeConfig' in requestConfig({ type: 'x' }, 'n', '1.0.0', { runtimeConfig: {} }),
    'no empty runtimeConfig',
  );
  t.same(
    requestConfig({ type: 'x' }, 'n', '1.1.0', { validAttachments: [{ containerID: 'c', ifname: 'eth0' }] })[
      'cni.dev/valid-attachments'
    ],
    [{ containerID: 'c', ifname: 'eth0' }],
  );
  t.same(cniArgs({ containerId: 'c1', netnsPath: '/x', podName: 'web', podNamespace: 'default', podUid: 'u1' }), [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', 'default'],
    ['K8S_POD_NAME', 'web'],
    ['K8S_POD_INFRA_CONTAINER_ID', 'c1'],
    ['K8S_POD_UID', 'u1'],
  ]);
});

t.test('pod IPs from a result', async (t) => {
  const result = {
    interfaces: [{ name: 'cni0' }, { name: 'veth1' }, { name: 'eth0', sandbox: '/x' }],
    ips: [
      { address: '10.0.0.5/24', interface: 2 },
      { address: 'fd00::5/64', interface: 2 },
      { address: '192.168.0.1/24', interface: 0 },
      { address: '10.9.9.9/32' },
    ],
  };
  t.same(
    podIPs(result, 'eth0'),
    ['10.0.0.5', 'fd00::5', '10.9.9.9'],
    'addresses on the pod interface or on none; not those of host interfaces',
  );
  t.same(podIPs(undefined, 'eth0'), []);
});
