// One kubenode agent joined to a real control plane of its own, as most agent e2e tests need it:
// the control plane (startControlPlane), a private agent world (createWorld), the node's
// credentials (client certificate as system:node:NAME, serving certificate, cluster CA), the agent
// started with them, an admin client, the Node Ready, and a namespace named by the run prefix
// with its default ServiceAccount. The agent's last log lines are printed when the test fails.
import { join } from 'node:path';
import { CoreV1Api, KubeConfig, type V1Node } from '@kubernetes/client-node';
import { createWorld, type AgentProcess, type World } from '../fixtures/agent/world.js';
import { startControlPlane, type ControlPlane, type ControlPlaneOptions } from './control-plane.js';
import type { Teardownable } from './netns.js';
import { until } from './until.js';

export interface JoinedAgent {
  cp: ControlPlane;
  world: World;
  agent: AgentProcess;
  /** The cluster admin's kubeconfig (for watches) and CoreV1 client. */
  admin: KubeConfig;
  core: CoreV1Api;
  /** A namespace of this run, created with its default ServiceAccount. */
  ns: string;
  /** The node's credentials directory (kubeconfig, node-*.crt, kubelet-*.crt, ca.crt). */
  creds: string;
  node: V1Node;
}

export interface JoinOptions {
  /** More agent flags (after --kubeconfig). */
  args?: string[];
  /** Serve the authenticated HTTPS API with the node's serving certificate and the cluster CA. */
  tls?: boolean;
  controlPlane?: ControlPlaneOptions;
  /** How many of the agent's log lines to print when the test fails [80]. */
  logLines?: number;
  /** Leave --read-only-port to the agent's default (off for a joined node); needs tls. */
  defaultReadOnlyPort?: boolean;
}

export async function joinAgent(t: Teardownable & { passing(): boolean }, o: JoinOptions = {}): Promise<JoinedAgent> {
  const cp = await startControlPlane(t, o.controlPlane);
  const world = await createWorld(t);
  const creds = await cp.nodeCredentials(world.nodeName, ['127.0.0.1']);
  const tls = o.tls
    ? [
        `--tls-cert-file=${join(creds, `kubelet-${world.nodeName}.crt`)}`,
        `--tls-private-key-file=${join(creds, `kubelet-${world.nodeName}.key`)}`,
        `--client-ca-file=${join(creds, 'ca.crt')}`,
      ]
    : [];
  // Loading @kubernetes/client-node is slow on a busy machine: a generous start-up bound.
  const agent = await world.startAgent(
    [`--kubeconfig=${join(creds, 'kubeconfig')}`, ...tls, ...(o.args ?? [])],
    90_000,
    { defaultReadOnlyPort: o.defaultReadOnlyPort },
  );
  t.teardown(() => {
    if (!t.passing() || process.env.KUBENODE_TEST_LOG)
      process.stderr.write(`--- agent ${agent.pid}\n${agent.logs.slice(-(o.logLines ?? 80)).join('\n')}\n`);
  });
  const admin = new KubeConfig();
  admin.loadFromFile(cp.kubeconfig);
  const core = admin.makeApiClient(CoreV1Api);
  const node = await until('the node Ready', 90_000, async () => {
    const n = await core.readNode({ name: world.nodeName });
    return n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ? n : undefined;
  });
  const ns = world.prefix;
  await cp.createNamespace(ns);
  return { cp, world, agent, admin, core, ns, creds, node };
}
