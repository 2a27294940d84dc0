// How Docker objects are named and labelled, following dockershim so a person reading `docker ps`
// knows what each container is:  k8s_<container>_<pod>_<namespace>_<pod uid>_<attempt>, with the
// sandbox as container "POD". Labels carry what the agent needs to find and adopt its containers
// after a restart, with no state of its own.
// https://github.com/kubernetes/kubernetes/blob/release-1.23/pkg/kubelet/dockershim/naming.go

export const LABELS = {
  podName: 'io.kubernetes.pod.name',
  podNamespace: 'io.kubernetes.pod.namespace',
  podUid: 'io.kubernetes.pod.uid',
  containerName: 'io.kubernetes.container.name',
  /** "podsandbox" or "container", as dockershim. */
  type: 'io.kubernetes.docker.type',
  sandboxId: 'io.kubernetes.sandbox.id',
  restartCount: 'io.kubernetes.container.restartCount',
  hash: 'io.kubernetes.container.hash',
  terminationGracePeriod: 'io.kubernetes.pod.terminationGracePeriod',
  preStop: 'io.kubernetes.container.preStopHandler',
  terminationMessagePath: 'io.kubernetes.container.terminationMessagePath',
  initContainer: 'kubenode.io/init-container',
  /** The memory request a container was created with: no cgroup holds it, and a resize compares it. */
  memoryRequest: 'kubenode.io/memory-request',
  ephemeralContainer: 'kubenode.io/ephemeral-container',
  hostNetwork: 'kubenode.io/host-network',
  /** Which agent owns the container: an agent only manages, adopts and collects its own. */
  instance: 'kubenode.io/instance',
} as const;

export const SANDBOX_CONTAINER_NAME = 'POD';

/** Docker names allow [a-zA-Z0-9][a-zA-Z0-9_.-]; Kubernetes names are already within that. */
export function containerName(container: string, pod: string, namespace: string, uid: string, attempt: number): string {
  return `k8s_${container}_${pod}_${namespace}_${uid}_${attempt}`;
}

export function sandboxName(pod: string, namespace: string, uid: string, attempt: number): string {
  return containerName(SANDBOX_CONTAINER_NAME, pod, namespace, uid, attempt);
}

/** The parts of a name made by containerName, or undefined for a name that is not ours. */
export function parseContainerName(
  name: string,
): { container: string; pod: string; namespace: string; uid: string; attempt: number } | undefined {
  const parts = name.replace(/^\//, '').split('_');
  if (parts.length !== 6 || parts[0] !== 'k8s') return undefined;
  const attempt = Number(parts[5]);
  if (!Number.isInteger(attempt)) return undefined;
  return { container: parts[1]!, pod: parts[2]!, namespace: parts[3]!, uid: parts[4]!, attempt };
}
