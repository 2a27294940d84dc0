import t from 'tap';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseTaints } from '../../agent/node/taints.js';
import { validateNodeOptions } from '../../agent/node/validation.js';
import { defaultLabels, initialNode, missingEntries } from '../../agent/node/node-object.js';
import { defaultRouteInterface } from '../../agent/node/node-ip.js';
import { goArch, prettyName } from '../../agent/node/system-info.js';
import { backoffDelay } from '../../agent/kube/backoff.js';
import { KUBERNETES_RELEASE, KUBELET_VERSION } from '../../agent/node/version.js';

t.test('--register-with-taints in kubelet syntax', async (t) => {
  t.same(parseTaints('dedicated=gpu:NoSchedule,spot:PreferNoSchedule, a.b/c=:NoExecute'), [
    { key: 'dedicated', value: 'gpu', effect: 'NoSchedule' },
    { key: 'spot', effect: 'PreferNoSchedule' },
    { key: 'a.b/c', value: '', effect: 'NoExecute' },
  ]);
  t.same(parseTaints(''), []);
  t.throws(() => parseTaints('a=b'), /entry 1 \("a=b"\): expected key\[=value\]:effect/);
  t.throws(
    () => parseTaints('a=b:NoSchedule,c:Never'),
    /entry 2 \("c:Never"\): effect must be one of NoSchedule, PreferNoSchedule, NoExecute/,
  );
  t.throws(() => parseTaints(':NoSchedule'), /the key is empty/);
});

t.test('option validation names the field and the reason', async (t) => {
  t.same(
    validateNodeOptions({
      nodeName: 'node-a',
      nodeIP: '10.0.0.1',
      labels: { 'node.kubernetes.io/pool': 'a' },
      reserved: { cpu: '100m', memory: '1Gi' },
      maxPods: 110,
      kubeletPort: 10250,
    }),
    [],
  );
  const fields = (o: Parameters<typeof validateNodeOptions>[0]) => validateNodeOptions(o).map((e) => e.field);
  t.same(fields({ nodeName: 'Node_A' }), ['nodeName']);
  t.same(fields({ nodeName: 'n', nodeIP: 'fe80::zz' }), ['nodeIP']);
  t.same(
    fields({
      nodeName: 'n',
      registerWithTaints: [
        { key: 'bad key', effect: 'NoSchedule' },
        { key: 'k', value: 'v', effect: 'Whenever' },
      ],
    }),
    ['registerWithTaints[0].key', 'registerWithTaints[1].effect'],
  );
  t.same(fields({ nodeName: 'n', labels: { 'x/': 'y', ok: 'bad value!' } }), ['labels["x/"]', 'labels["ok"]']);
  t.same(fields({ nodeName: 'n', reserved: { cpu: '-1', memory: '1x' } }), ['reserved.cpu', 'reserved.memory']);
  t.same(fields({ nodeName: 'n', maxPods: 1.5, kubeletPort: 70000 }), ['maxPods', 'kubeletPort']);
  t.same(fields({ nodeName: 'n', hostname: 'UPPER.ok' }), [], 'kubernetes.io/hostname may hold any valid label value');
});

t.test('the Node as registered: labels kubelet sets, taints only at creation', async (t) => {
  const labels = defaultLabels('node-a', 'linux', 'amd64');
  t.same(labels, {
    'kubernetes.io/hostname': 'node-a',
    'kubernetes.io/os': 'linux',
    'kubernetes.io/arch': 'amd64',
    'beta.kubernetes.io/os': 'linux',
    'beta.kubernetes.io/arch': 'amd64',
  });
  const n = initialNode({ nodeName: 'node-a', labels, annotations: {}, taints: [{ key: 'k', effect: 'NoSchedule' }] });
  t.same(n.spec?.taints, [{ key: 'k', effect: 'NoSchedule' }]);
  t.same(initialNode({ nodeName: 'node-a', labels, annotations: {}, taints: [] }).spec, {});
  t.same(
    missingEntries({ a: '1', b: '2', other: 'x' }, { a: '1', b: '3', c: '4' }),
    { b: '3', c: '4' },
    'only what differs; foreign labels are left alone',
  );
  t.equal(missingEntries({ a: '1' }, { a: '1' }), undefined);
});

t.test('machine facts in Kubernetes vocabulary', async (t) => {
  t.equal(goArch('x64'), 'amd64');
  t.equal(goArch('arm64'), 'arm64');
  t.equal(
    prettyName('NAME="Debian GNU/Linux"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n'),
    'Debian GNU/Linux 12 (bookworm)',
  );
  t.equal(prettyName('PRETTY_NAME=Alpine\n'), 'Alpine');
  t.equal(prettyName('NAME=x\n'), undefined);
  const routes =
    'Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\tMTU\tWindow\tIRTT\n' +
    'docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n' +
    'eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n';
  t.equal(defaultRouteInterface(routes), 'eth0');
  t.equal(defaultRouteInterface(routes.split('\n').slice(0, 2).join('\n')), undefined, 'no default route');
});

t.test('back-off doubles up to its cap', async (t) => {
  t.same(
    [0, 1, 2, 3, 6, 7, 50].map((n) => backoffDelay(n, 100, 7000)),
    [100, 200, 400, 800, 6400, 7000, 7000],
  );
});

t.test('kubeletVersion names the pinned release and kubenode', async (t) => {
  const versions = readFileSync(join(resolve(import.meta.dirname, '../../..'), 'scripts/versions.sh'), 'utf8');
  t.equal(KUBERNETES_RELEASE, /^KUBERNETES_VERSION=(\S+)/m.exec(versions)?.[1], 'in step with scripts/versions.sh');
  t.match(KUBELET_VERSION, /^v\d+\.\d+\.\d+-kubenode$/, 'a semantic version with a pre-release suffix');
});
