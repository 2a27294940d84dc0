// The vocabulary of a pod's actions: what computePodActions (actions.ts) and its init-container
// part (init-container-actions.ts) decide, and what they read of the prober.
export interface ContainerToKill {
  id: string;
  name: string;
  /** Why, for the log and the container's termination message. */
  message: string;
  reason?: string;
}

export interface PodActions {
  /** Stop every container and the sandbox (the sandbox changed, or the pod is done). */
  killPod: boolean;
  createSandbox: boolean;
  /** The sandbox to keep using (when not creating a new one). */
  sandboxId?: string;
  /** Attempt number of a new sandbox. */
  attempt: number;
  /**
   * Indexes in spec.initContainers, in spec order: the next init container to run and any
   * sidecar to (re)start. A regular init container that fails to start stops the ones after it.
   */
  initContainersToStart: number[];
  /** Indexes in spec.containers. */
  containersToStart: number[];
  /** Indexes in spec.ephemeralContainers: those the runtime has never seen. */
  ephemeralContainersToStart: number[];
  containersToKill: ContainerToKill[];
  /** Why the pod is killed or recreated, for the log. */
  reason?: string;
}

export interface ProbeFailure {
  containerId: string;
  type: 'liveness' | 'startup';
  message: string;
}

/** What the prober knows that the diff needs: failures to act on, startup probes that passed. */
export interface ProbeView {
  failures: ReadonlyMap<string, ProbeFailure>;
  /** Ids of container instances whose startupProbe has succeeded (kubelet's startupManager). */
  startupSucceeded: ReadonlySet<string>;
}
