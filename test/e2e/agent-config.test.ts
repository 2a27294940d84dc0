// ConfigMaps, Secrets, the downward API and service-account tokens on a kubenode agent joined to
// the real control plane (Node authorizer, NodeRestriction, the agent's node credentials):
// - a pod with configMap, secret and downwardAPI volumes, env from both and envFrom sees the right
//   files and values; its default kube-api-access volume holds a token the apiserver accepts as the
//   pod's service account, bound to the pod, with the cluster CA and the namespace beside it;
// - editing the ConfigMap changes the file in the running container (agent --sync-frequency=5s)
//   without restarting it;
// - a pod whose configMap volume is missing stays ContainerCreating with kubelet's FailedMount
//   message and starts once the ConfigMap exists; a missing env ConfigMap is CreateContainerConfigError;
// - deleted pods leave nothing under the agent's root dir and no tmpfs mount.
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { V1Pod } from '@kubernetes/client-node';
import { run } from '../../lib/exec.js';
import { IMAGES } from '../fixtures/agent/world.js';
import { sleep, until } from '../harness/until.js';
import { joinAgent } from '../harness/joined-agent.js';

const ready = (o: { status?: { conditions?: { type: string; status: string }[] } } | undefined) =>
  o?.status?.conditions?.find((c) => c.type === 'Ready')?.status;
const containerId = (p: V1Pod) => p.status!.containerStatuses![0]!.containerID!.replace(/^docker:\/\//, '');

async function exec(id: string, cmd: string[]): Promise<string> {
  return (await run('docker', ['exec', id, ...cmd], { timeoutMs: 20_000 })).stdout;
}

async function mountsUnder(dir: string): Promise<string[]> {
  return readFileSync('/proc/self/mounts', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[1] ?? '')
    .filter((m) => m.startsWith(dir + '/'));
}

t.test('ConfigMap, Secret, downward API and service-account token volumes and env', async (t) => {
  const { cp, world: w, agent, core, ns } = await joinAgent(t, { args: ['--sync-frequency=5s'] });
  const pod = (name: string) => core.readNamespacedPod({ name: `${ns}-${name}`, namespace: ns });

  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify({
      apiVersion: 'v1',
      kind: 'List',
      items: [
        {
          apiVersion: 'v1',
          kind: 'ConfigMap',
          metadata: { name: 'app', namespace: ns },
          data: { greeting: 'hello', MODE: 'fast' },
        },
        {
          apiVersion: 'v1',
          kind: 'Secret',
          metadata: { name: 'db', namespace: ns },
          stringData: { PASSWORD: 's3cret', USER: 'app', '1st': 'kept' },
        },
      ],
    }),
  });

  // --- a pod using both, as volumes and env; the service-account token mounted by default ----------
  const spec = (
    name: string,
    extra: Partial<NonNullable<V1Pod['spec']>> & { env?: unknown[]; envFrom?: unknown[]; volumeMounts?: unknown[] },
  ) => {
    const { env, envFrom, volumeMounts, ...rest } = extra;
    return {
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `${ns}-${name}`, namespace: ns, labels: { app: name } },
      spec: {
        nodeName: w.nodeName,
        terminationGracePeriodSeconds: 2,
        ...rest,
        containers: [
          {
            name: 'main',
            image: IMAGES.busybox,
            imagePullPolicy: 'Never',
            command: ['sleep', '3600'],
            env,
            envFrom,
            volumeMounts,
          },
        ],
      },
    };
  };
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(
      spec('full', {
        volumes: [
          { name: 'config', configMap: { name: 'app' } },
          { name: 'secret', secret: { secretName: 'db', defaultMode: 0o400 } },
          { name: 'info', downwardAPI: { items: [{ path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } }] } },
        ],
        volumeMounts: [
          { name: 'config', mountPath: '/etc/config' },
          { name: 'secret', mountPath: '/etc/secret' },
          { name: 'info', mountPath: '/etc/podinfo' },
        ],
        env: [
          { name: 'GREETING', valueFrom: { configMapKeyRef: { name: 'app', key: 'greeting' } } },
          { name: 'PASSWORD', valueFrom: { secretKeyRef: { name: 'db', key: 'PASSWORD' } } },
          { name: 'OPTIONAL', valueFrom: { configMapKeyRef: { name: 'nothing-here', key: 'x', optional: true } } },
        ],
        envFrom: [{ configMapRef: { name: 'app' }, prefix: 'CFG_' }, { secretRef: { name: 'db' } }],
      }),
    ),
  });
  const full = await until('the pod Running and Ready', 90_000, async () => {
    const p = await pod('full');
    return ready(p) === 'True' ? p : undefined;
  });
  const id = containerId(full);
  const uid = full.metadata!.uid!;
  t.equal(await exec(id, ['cat', '/etc/config/greeting']), 'hello', 'configMap key as a file');
  t.equal(await exec(id, ['cat', '/etc/secret/PASSWORD']), 's3cret', 'secret key as a file');
  t.equal((await exec(id, ['stat', '-L', '-c', '%a', '/etc/secret/PASSWORD'])).trim(), '400', 'defaultMode applied');
  t.equal(await exec(id, ['cat', '/etc/podinfo/labels']), `app="full"`, 'downward API labels');
  t.match(
    await exec(id, ['sh', '-c', 'touch /etc/config/x 2>&1; echo rc=$?']),
    /Read-only file system[\s\S]*rc=1/,
    'configMap volumes are read-only',
  );
  const env = Object.fromEntries(
    (await exec(id, ['env']))
      .trim()
      .split('\n')
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
  t.match(
    env,
    { GREETING: 'hello', PASSWORD: 's3cret', CFG_greeting: 'hello', CFG_MODE: 'fast', USER: 'app' },
    'env from configMapKeyRef, secretKeyRef and envFrom (with prefix)',
  );
  t.notOk('OPTIONAL' in env, 'an optional reference to a missing ConfigMap is left out');
  // Relaxed environment variable names are GA in 1.34 (any printable ASCII but '='): kubelet
  // passes a key such as "1st" on, where before 1.34 it skipped it as not a C identifier.
  t.equal(
    env['1st'],
    'kept',
    'a key that is not a C identifier (envFrom without prefix) is passed on, as 1.34 kubelet does',
  );
  t.notOk(
    agent.logs.some((l) => l.includes('invalid environment variable names skipped')),
    'and nothing is reported skipped',
  );
  const secretDir = join(w.rootDir, 'pods', uid, 'volumes', 'kubernetes.io~secret', 'secret');
  t.ok((await mountsUnder(w.rootDir)).includes(secretDir), 'the secret volume is a tmpfs (never on disk)');

  // The default kube-api-access volume: token, CA and namespace.
  const sa = '/var/run/secrets/kubernetes.io/serviceaccount';
  t.ok(
    full.spec?.volumes?.some((v) => v.name.startsWith('kube-api-access-') && v.projected),
    'the ServiceAccount admission plugin added its projected volume',
  );
  t.equal(await exec(id, ['cat', `${sa}/namespace`]), ns, 'namespace');
  t.equal(
    await exec(id, ['cat', `${sa}/ca.crt`]),
    readFileSync(join(cp.dir, 'pki', 'ca.crt'), 'utf8'),
    'ca.crt is the cluster CA (kube-root-ca.crt)',
  );
  const token = await exec(id, ['cat', `${sa}/token`]);
  const review = JSON.parse(
    (
      await cp.kubectl(['create', '-o', 'json', '-f', '-'], {
        input: JSON.stringify({ apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } }),
      })
    ).stdout,
  ) as { status: { authenticated?: boolean; user?: { username?: string; extra?: Record<string, string[]> } } };
  t.equal(review.status.authenticated, true, 'the token authenticates');
  t.equal(review.status.user?.username, `system:serviceaccount:${ns}:default`, "as the pod's service account");
  t.same(
    [
      review.status.user?.extra?.['authentication.kubernetes.io/pod-name'],
      review.status.user?.extra?.['authentication.kubernetes.io/pod-uid'],
    ],
    [[full.metadata!.name], [uid]],
    'bound to the pod',
  );

  // --- editing the ConfigMap reaches the running container, which is not restarted -----------------
  const startedAt = full.status!.containerStatuses![0]!.state!.running!.startedAt;
  await cp.kubectl([
    '-n',
    ns,
    'patch',
    'configmap',
    'app',
    '--type=merge',
    '-p',
    JSON.stringify({ data: { greeting: 'bonjour' } }),
  ]);
  const edited = Date.now();
  await until(
    'the new value in the running container',
    60_000,
    async () => (await exec(id, ['cat', '/etc/config/greeting'])) === 'bonjour',
    500,
  );
  t.comment(
    `ConfigMap edit visible in the container after ${Date.now() - edited} ms (sync frequency 5 s, cache TTL 5 s)`,
  );
  const after = await pod('full');
  t.equal(containerId(after), id, 'the same container');
  t.equal(after.status!.containerStatuses![0]!.restartCount, 0, 'not restarted');
  t.same(after.status!.containerStatuses![0]!.state!.running!.startedAt, startedAt, 'same start time');
  t.equal(
    await exec(id, ['sh', '-c', 'echo $GREETING']),
    'hello\n',
    'env is fixed at container start, as in Kubernetes',
  );
  // A refresh that fails (the ConfigMap deleted) only logs: the running container keeps its files.
  await cp.kubectl(['-n', ns, 'delete', 'configmap', 'app']);
  await until(
    'the agent to notice the deleted ConfigMap',
    60_000,
    async () =>
      agent.logs.some((l) => l.includes('volume refresh failed') && l.includes('configmap \\"app\\" not found')),
    500,
  );
  t.equal(await exec(id, ['cat', '/etc/config/greeting']), 'bonjour', 'the last contents stay');
  const kept = await pod('full');
  t.same(
    [containerId(kept), kept.status!.containerStatuses![0]!.restartCount, ready(kept)],
    [id, 0, 'True'],
    'the pod keeps running, Ready, not restarted',
  );

  // --- a missing configMap volume: ContainerCreating with FailedMount's message, then it starts ----
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(
      spec('late', {
        volumes: [{ name: 'cfg', configMap: { name: 'late' } }],
        volumeMounts: [{ name: 'cfg', mountPath: '/cfg' }],
      }),
    ),
  });
  const waiting = await until('the pod waiting in ContainerCreating', 60_000, async () => {
    const p = await pod('late');
    const wt = p.status?.containerStatuses?.[0]?.state?.waiting;
    return wt?.reason === 'ContainerCreating' && wt.message ? p : undefined;
  });
  t.equal(
    waiting.status!.containerStatuses![0]!.state!.waiting!.message,
    'MountVolume.SetUp failed for volume "cfg" : configmap "late" not found',
    "kubelet's FailedMount message",
  );
  t.equal(waiting.status?.phase, 'Pending');
  t.notOk(waiting.status?.podIP, 'no sandbox (no IP) while a volume is missing');
  await sleep(3000);
  t.equal(
    (await pod('late')).status?.containerStatuses?.[0]?.state?.waiting?.reason,
    'ContainerCreating',
    'still waiting a few seconds later (no crash, no restart loop)',
  );
  await cp.kubectl(['-n', ns, 'create', 'configmap', 'late', '--from-literal=k=v']);
  const late = await until('the pod Running once the ConfigMap exists', 60_000, async () => {
    const p = await pod('late');
    return p.status?.containerStatuses?.[0]?.state?.running ? p : undefined;
  });
  t.equal(await exec(containerId(late), ['cat', '/cfg/k']), 'v', "with the ConfigMap's contents");

  // --- a missing env ConfigMap: CreateContainerConfigError, as kubelet --------------------------
  await cp.kubectl(['apply', '-f', '-'], {
    input: JSON.stringify(
      spec('envless', { env: [{ name: 'X', valueFrom: { configMapKeyRef: { name: 'env-missing', key: 'x' } } }] }),
    ),
  });
  const envless = await until('CreateContainerConfigError', 60_000, async () => {
    const p = await pod('envless');
    return p.status?.containerStatuses?.[0]?.state?.waiting?.reason === 'CreateContainerConfigError' ? p : undefined;
  });
  t.equal(envless.status!.containerStatuses![0]!.state!.waiting!.message, 'configmap "env-missing" not found');
  t.equal(envless.status?.phase, 'Pending');

  // --- deleted pods leave nothing behind -----------------------------------------------------------
  const uids = [uid, late.metadata!.uid!, envless.metadata!.uid!];
  await cp.kubectl(['-n', ns, 'delete', 'pod', '--all', '--wait=true', '--timeout=90s']);
  await until('every container gone', 30_000, async () => (await w.containers()).length === 0);
  await until('pod directories removed', 30_000, async () =>
    uids.every((u) => !existsSync(join(w.rootDir, 'pods', u))),
  );
  t.pass('no pod directory left under the root dir');
  t.same(await mountsUnder(w.rootDir), [], 'no tmpfs mount left');
  t.notOk(
    agent.logs.some((l) => /"level":"error"/.test(l)),
    'no errors in the agent log',
  );
});
