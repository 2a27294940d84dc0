// A ProbeTarget for a container run by Docker: what the agent's pod workers hand to
// ProbeManager.addContainer (and what the integration tests use against real containers).
import type { V1Container, V1Pod } from '@kubernetes/client-node';
import type Docker from 'dockerode';
import { dockerExec } from './docker-exec.js';
import type { ProbeTarget } from './types.js';

export interface DockerProbeTargetOptions {
  docker: Docker;
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
    exec: (cmd, timeoutMs) => dockerExec(o.docker, o.containerId, cmd, timeoutMs),
  };
}
