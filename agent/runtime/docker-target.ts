// A ProbeTarget for a container run by Docker: what the agent's pod workers hand to
// ProbeManager.addContainer (and what the integration tests use against real containers).
// The prober runs commands through an exec function, the runtime's (ContainerRuntime.exec): it
// never sees a Docker client.
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type { DockerExecResult } from './docker-exec.js';
import type { ProbeTarget } from '../prober/types.js';

export type ExecInContainer = (containerId: string, cmd: string[], timeoutMs: number) => Promise<DockerExecResult>;

export interface DockerProbeTargetOptions {
  exec: ExecInContainer;
  pod: V1Pod;
  container: V1Container;
  /** The Docker container id of this instance. */
  containerId: string;
  podIP(): string | undefined;
  startedAt?: Date;
}

export function dockerProbeTarget(o: DockerProbeTargetOptions): ProbeTarget {
  return {
    pod: o.pod,
    container: o.container,
    containerId: o.containerId,
    podIP: o.podIP,
    startedAt: o.startedAt,
    exec: (cmd, timeoutMs) => o.exec(o.containerId, cmd, timeoutMs),
  };
}
