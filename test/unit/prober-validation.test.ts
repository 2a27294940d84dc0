// Probe defaults and validation: the apiserver's rules, with its field paths.
import t from 'tap';
import type { V1Container, V1Pod, V1Probe } from '@kubernetes/client-node';
import { validateProbes } from '../../agent/podspec/probe-validation.js';
import { PROBE_DEFAULTS, probeSpec } from '../../agent/podspec/probe-spec.js';
import { isValidPortName, resolvePort } from '../../agent/podspec/ports.js';

const pod = (containers: V1Container[], initContainers?: V1Container[]): V1Pod => ({
  metadata: { name: 'p', namespace: 'ns' },
  spec: { containers, initContainers },
});
const web = (extra: Partial<V1Container> = {}): V1Container => ({
  name: 'web',
  image: 'x',
  ports: [
    { name: 'http', containerPort: 8080 },
    { name: 'metrics', containerPort: 9090 },
  ],
  ...extra,
});
const fields = (p: V1Pod) => validateProbes(p).map((e) => e.field);

t.test("defaults are the apiserver's", async (t) => {
  t.same(PROBE_DEFAULTS, {
    initialDelaySeconds: 0,
    periodSeconds: 10,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
  });
  const s = probeSpec({ httpGet: { port: 'http' } });
  t.same(s, {
    initialDelaySeconds: 0,
    periodSeconds: 10,
    timeoutSeconds: 1,
    successThreshold: 1,
    failureThreshold: 3,
    handler: { kind: 'httpGet', scheme: 'HTTP', host: undefined, path: '/', port: 'http', headers: [] },
  });
  const g = probeSpec({ grpc: { port: 9000 }, periodSeconds: 2, failureThreshold: 7 });
  t.same(g.handler, { kind: 'grpc', port: 9000, service: '' });
  t.equal(g.periodSeconds, 2);
  t.equal(g.failureThreshold, 7);
  t.same(probeSpec({ exec: { command: ['true'] } }).handler, { kind: 'exec', command: ['true'] });
  t.same(probeSpec({ tcpSocket: { port: 80, host: '10.0.0.1' } }).handler, {
    kind: 'tcpSocket',
    host: '10.0.0.1',
    port: 80,
  });
  t.throws(() => probeSpec({} as V1Probe), /no handler/);
});

t.test('a valid pod has no errors', async (t) => {
  const p = pod([
    web({
      livenessProbe: {
        httpGet: { port: 'http', path: '/healthz', httpHeaders: [{ name: 'X-Probe', value: '1' }] },
        periodSeconds: 5,
      },
      readinessProbe: { tcpSocket: { port: 8080 }, successThreshold: 2, initialDelaySeconds: 0 },
      startupProbe: { exec: { command: ['cat', '/ready'] }, failureThreshold: 30, terminationGracePeriodSeconds: 5 },
    }),
    { name: 'grpc', image: 'x', readinessProbe: { grpc: { port: 9000, service: 'a' } } },
  ]);
  t.same(validateProbes(p), []);
});

t.test('exactly one handler', async (t) => {
  t.same(validateProbes(pod([web({ readinessProbe: {} })])), [
    {
      field: 'spec.containers[0].readinessProbe',
      reason: 'must specify a handler type (exec, httpGet, tcpSocket or grpc)',
    },
  ]);
  t.same(fields(pod([web({ livenessProbe: { exec: { command: ['true'] }, tcpSocket: { port: 80 } } })])), [
    'spec.containers[0].livenessProbe.tcpSocket',
  ]);
  t.same(fields(pod([web({ livenessProbe: { httpGet: { port: 80 }, tcpSocket: { port: 80 }, grpc: { port: 1 } } })])), [
    'spec.containers[0].livenessProbe.tcpSocket',
    'spec.containers[0].livenessProbe.grpc',
  ]);
});

t.test('periods, timeouts and thresholds must be positive; delay non-negative', async (t) => {
  const errs = validateProbes(
    pod([
      web(),
      web({
        name: 'b',
        readinessProbe: {
          tcpSocket: { port: 80 },
          periodSeconds: 0,
          timeoutSeconds: -1,
          failureThreshold: 0,
          successThreshold: 1.5,
          initialDelaySeconds: -2,
        },
      }),
    ]),
  );
  t.same(errs.map((e) => e.field).sort(), [
    'spec.containers[1].readinessProbe.failureThreshold',
    'spec.containers[1].readinessProbe.initialDelaySeconds',
    'spec.containers[1].readinessProbe.periodSeconds',
    'spec.containers[1].readinessProbe.successThreshold',
    'spec.containers[1].readinessProbe.timeoutSeconds',
  ]);
  t.match(errs.find((e) => e.field.endsWith('periodSeconds'))!.reason, /greater than 0 \(got 0\)/);
  t.match(errs.find((e) => e.field.endsWith('initialDelaySeconds'))!.reason, /greater than or equal to 0 \(got -2\)/);
  t.same(fields(pod([web({ livenessProbe: { tcpSocket: { port: 80 }, periodSeconds: '10' as unknown as number } })])), [
    'spec.containers[0].livenessProbe.periodSeconds',
  ]);
});

t.test('liveness and startup successThreshold must be 1', async (t) => {
  const errs = validateProbes(
    pod([
      web({
        livenessProbe: { tcpSocket: { port: 80 }, successThreshold: 2 },
        startupProbe: { tcpSocket: { port: 80 }, successThreshold: 3 },
        readinessProbe: { tcpSocket: { port: 80 }, successThreshold: 3 },
      }),
    ]),
  );
  t.same(errs, [
    { field: 'spec.containers[0].startupProbe.successThreshold', reason: 'must be 1 for startup probes (got 3)' },
    { field: 'spec.containers[0].livenessProbe.successThreshold', reason: 'must be 1 for liveness probes (got 2)' },
  ]);
});

t.test("ports: number in range, or a valid name of one of the container's ports", async (t) => {
  const errs = validateProbes(
    pod([
      web(),
      web({
        name: 'second',
        readinessProbe: { httpGet: { port: 'nope' } },
        livenessProbe: { tcpSocket: { port: 70000 } },
        startupProbe: { httpGet: { port: 'Bad_Name' } },
      }),
    ]),
  );
  t.same(
    errs.map((e) => e.field),
    [
      'spec.containers[1].startupProbe.httpGet.port',
      'spec.containers[1].livenessProbe.tcpSocket.port',
      'spec.containers[1].readinessProbe.httpGet.port',
    ],
  );
  t.match(errs[2]!.reason, /port name "nope" is not one of container "second"'s ports \("http", "metrics"\)/);
  t.match(errs[1]!.reason, /between 1 and 65535/);
  t.match(errs[0]!.reason, /neither a port number nor a valid port name/);
  t.same(
    fields(pod([web({ readinessProbe: { grpc: { port: 'http' as unknown as number } } })])),
    ['spec.containers[0].readinessProbe.grpc.port'],
    'grpc takes no names',
  );
  t.same(
    fields(pod([web({ readinessProbe: { httpGet: {} as never } })])),
    ['spec.containers[0].readinessProbe.httpGet.port'],
    'port required',
  );
  t.ok(isValidPortName('http'));
  t.ok(isValidPortName('h2c-9'));
  t.notOk(isValidPortName('8080'), 'needs a letter');
  t.notOk(isValidPortName('a--b'));
  t.notOk(isValidPortName('-a'));
  t.notOk(isValidPortName('abcdefghijklmnop'), '16 characters');
  t.equal(resolvePort('metrics', web()), 9090);
  t.equal(resolvePort(81, web()), 81);
  t.throws(() => resolvePort('x', web()), /couldn't find port "x" in container web/);
});

t.test('handler details', async (t) => {
  const errs = validateProbes(
    pod([
      web({
        readinessProbe: { httpGet: { port: 80, scheme: 'FTP', httpHeaders: [{ name: 'bad header', value: 'x' }] } },
        livenessProbe: { exec: { command: [] } },
      }),
    ]),
  );
  t.same(
    errs.map((e) => e.field),
    [
      'spec.containers[0].livenessProbe.exec.command',
      'spec.containers[0].readinessProbe.httpGet.scheme',
      'spec.containers[0].readinessProbe.httpGet.httpHeaders[0].name',
    ],
  );
  t.match(errs[1]!.reason, /supported values: "HTTP", "HTTPS"/);
});

t.test('terminationGracePeriodSeconds: not on readiness, positive elsewhere', async (t) => {
  t.same(
    fields(
      pod([
        web({
          readinessProbe: { tcpSocket: { port: 80 }, terminationGracePeriodSeconds: 5 },
          livenessProbe: { tcpSocket: { port: 80 }, terminationGracePeriodSeconds: 0 },
        }),
      ]),
    ),
    [
      'spec.containers[0].livenessProbe.terminationGracePeriodSeconds',
      'spec.containers[0].readinessProbe.terminationGracePeriodSeconds',
    ],
  );
});

t.test('init containers: only sidecars may be probed', async (t) => {
  const errs = validateProbes(
    pod(
      [web()],
      [
        { name: 'init', image: 'x', readinessProbe: { exec: { command: ['true'] } } },
        {
          name: 'sidecar',
          image: 'x',
          restartPolicy: 'Always',
          readinessProbe: { exec: { command: ['true'] } },
          livenessProbe: { tcpSocket: { port: 'x' } },
        },
      ],
    ),
  );
  t.same(
    errs.map((e) => e.field),
    ['spec.initContainers[0].readinessProbe', 'spec.initContainers[1].livenessProbe.tcpSocket.port'],
  );
  t.match(errs[0]!.reason, /restartPolicy=Always/);
});
