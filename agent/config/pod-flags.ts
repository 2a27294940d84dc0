// The flags of the pods the node runs: the container runtime, the pod workers and garbage
// collection, and the pods' DNS (agent/pods/pod-dns.ts).
// `as const`, as ETCD_FLAGS: config.ts checks the entries against its Flag type where it assembles
// FLAGS, so this file needs nothing from config.ts.

// The runtime, the pod workers and container garbage collection.
export const POD_RUNTIME_FLAGS = [
  {
    name: 'container-runtime-endpoint',
    key: 'containerRuntimeEndpoint',
    kind: 'string',
    help: 'Docker Engine socket [unix:///var/run/docker.sock]',
  },
  {
    name: 'pod-infra-container-image',
    key: 'podInfraContainerImage',
    kind: 'string',
    help: 'sandbox image [kubenode/pause:latest]',
  },
  {
    name: 'host-network-container',
    key: 'hostNetworkContainer',
    kind: 'string',
    help: "emulated nodes only: a running container whose network namespace is the node's; hostNetwork pods join it (Docker's container:NAME) instead of the machine's root namespace",
  },
  {
    name: 'cgroup-root',
    key: 'cgroupRoot',
    kind: 'string',
    alias: 'cgroupRoot',
    help: 'cgroup under which kubepods/ is created [/]',
  },
  {
    name: 'instance',
    key: 'instance',
    kind: 'string',
    help: 'this agent manages, adopts and garbage-collects only containers labelled kubenode.io/instance=<instance> [kubenode]',
  },
  {
    name: 'sync-frequency',
    key: 'syncFrequencyMs',
    kind: 'duration',
    alias: 'syncFrequency',
    help: 'periodic resync of every pod [1m]',
  },
  {
    name: 'housekeeping-interval',
    key: 'housekeepingIntervalMs',
    kind: 'duration',
    help: 'period of container garbage collection and orphan checks [30s]',
  },
  {
    name: 'minimum-container-ttl-duration',
    key: 'minimumContainerTtlMs',
    kind: 'duration',
    help: 'a dead container younger than this is not collected [0s]',
  },
  {
    name: 'maximum-dead-containers-per-container',
    key: 'maximumDeadContainersPerContainer',
    kind: 'int',
    help: 'dead instances kept per container [1]',
  },
  {
    name: 'maximum-dead-containers',
    key: 'maximumDeadContainers',
    kind: 'int',
    help: 'dead containers kept in total; -1 no limit [-1]',
  },
  { name: 'max-pods', key: 'maxPods', kind: 'int', alias: 'maxPods', help: 'pods this node accepts [110]' },
  { name: 'sync-concurrency', key: 'syncConcurrency', kind: 'int', help: 'pod syncs talking to Docker at once [16]' },
  {
    name: 'image-pull-timeout',
    key: 'imagePullTimeoutMs',
    kind: 'duration',
    help: 'give up an image pull after this long [2m]',
  },
] as const;

// Pods' DNS, kubelet's flags.
export const POD_DNS_FLAGS = [
  {
    name: 'cluster-dns',
    key: 'clusterDns',
    kind: 'list',
    alias: 'clusterDNS',
    help: 'comma-separated IPs of the cluster DNS Service: the nameservers of ClusterFirst pods (none: they fall back to Default)',
  },
  {
    name: 'cluster-domain',
    key: 'clusterDomain',
    kind: 'string',
    alias: 'clusterDomain',
    help: "the cluster's DNS domain, e.g. cluster.local: search domains of ClusterFirst pods, pods' FQDNs",
  },
  {
    name: 'resolv-conf',
    key: 'resolvConf',
    kind: 'string',
    alias: 'resolvConf',
    allowEmpty: true,
    help: "the node's resolver file, given to Default pods and forwarded to by cluster DNS; '' for none [/etc/resolv.conf]",
  },
] as const;
