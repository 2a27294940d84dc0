// The real upstream control plane for end-to-end tests: scripts/control-plane.sh with a
// directory and ports of the test's own, stopped and purged at teardown.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { run, type RunResult } from '../../lib/exec.js';
import { freePorts } from './ports.js';
import { requireRoot } from './require.js';
import { until } from './until.js';
import type { Teardownable } from './netns.js';

export const PROJECT_ROOT = resolve(import.meta.dirname, '../../..');
export const SCRIPTS = join(PROJECT_ROOT, 'scripts');

export interface ControlPlane {
  dir: string;
  env: NodeJS.ProcessEnv;
  kubeconfig: string;
  apiserverPort: number;
  /** kubectl as the cluster admin; throws on failure unless allowFailure. */
  kubectl(args: string[], opts?: { input?: string; allowFailure?: boolean }): Promise<RunResult>;
  /** Client certificate and serving certificate for a node; returns its directory. */
  nodeCredentials(name: string, ips?: string[]): Promise<string>;
  /**
   * Create a namespace and wait for what every pod in it needs from the controller-manager: the
   * default ServiceAccount (the admission plugin refuses pods without it) and the
   * kube-root-ca.crt ConfigMap (the kube-api-access volume projects it).
   */
  createNamespace(name: string): Promise<void>;
  script(args: string[], allowFailure?: boolean): Promise<RunResult>;
}

export interface ControlPlaneOptions {
  advertiseAddress?: string;
  extraSans?: string[];
  env?: Record<string, string>;
}

export async function startControlPlane(t: Teardownable, opts: ControlPlaneOptions = {}): Promise<ControlPlane> {
  requireRoot();
  const dir = mkdtempSync(join(tmpdir(), 'kubenode-cp-'));
  const [api, etcdClient, etcdPeer] = await freePorts(3);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    KUBENODE_CONTROL_PLANE_DIR: dir,
    APISERVER_PORT: String(api),
    ETCD_CLIENT_PORT: String(etcdClient),
    ETCD_PEER_PORT: String(etcdPeer),
    // 0: no HTTPS endpoint for these two, so parallel control planes never collide.
    CONTROLLER_MANAGER_PORT: '0',
    SCHEDULER_PORT: '0',
    ...(opts.advertiseAddress ? { APISERVER_ADVERTISE_ADDRESS: opts.advertiseAddress } : {}),
    ...(opts.extraSans ? { APISERVER_EXTRA_SANS: opts.extraSans.join(' ') } : {}),
    ...opts.env,
  };
  const script = (args: string[], allowFailure = false) =>
    run('bash', [join(SCRIPTS, 'control-plane.sh'), ...args], { env, allowFailure, timeoutMs: 180_000 });
  t.teardown(() => script(['down', '--purge'], true));
  await script(['up']);
  const kubectl: ControlPlane['kubectl'] = (args, o = {}) =>
    run('bash', [join(SCRIPTS, 'control-plane.sh'), 'kubectl', ...args], {
      env,
      input: o.input,
      allowFailure: o.allowFailure,
      timeoutMs: 120_000,
    });
  const kubeconfig = join(dir, 'admin.kubeconfig');
  return {
    dir,
    env,
    kubeconfig,
    apiserverPort: api!,
    script,
    kubectl,
    nodeCredentials: async (name, ips = []) =>
      (await script(['node-credentials', name, ...ips])).stdout.trim().split('\n').pop()!,
    createNamespace: async (name) => {
      await kubectl(['create', 'namespace', name]);
      for (const [kind, object] of [
        ['serviceaccount', 'default'],
        ['configmap', 'kube-root-ca.crt'],
      ]) {
        await until(
          `${kind} ${name}/${object}`,
          60_000,
          async () => (await kubectl(['-n', name, 'get', kind!, object!], { allowFailure: true })).code === 0,
        );
      }
    },
  };
}
