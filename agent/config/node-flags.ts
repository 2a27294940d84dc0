// The flags of the node itself: its name and IP, its state and CNI directories, its registration
// with the apiserver, and its certificates (TLS bootstrap and rotation, agent/certificate/).
// `as const`, as ETCD_FLAGS: config.ts checks the entries against its Flag type where it assembles
// FLAGS, so this file needs nothing from config.ts.

// The node's identity and its directories.
export const NODE_FLAGS = [
  { name: 'hostname-override', key: 'hostnameOverride', kind: 'string', help: 'node name instead of the hostname' },
  { name: 'node-ip', key: 'nodeIp', kind: 'string', help: "the node's IP (hostIP of pods) [first non-loopback IPv4]" },
  {
    name: 'root-dir',
    key: 'rootDir',
    kind: 'string',
    help: 'state directory: pod volumes, sandbox network records [/var/lib/kubenode]',
  },
  { name: 'cni-conf-dir', key: 'cniConfDir', kind: 'string', help: 'CNI configuration directory [/etc/cni/net.d]' },
  {
    name: 'cni-bin-dir',
    key: 'cniBinDir',
    kind: 'list',
    help: 'comma-separated CNI plugin directories [/opt/cni/bin,/usr/lib/cni]',
  },
  { name: 'cni-cache-dir', key: 'cniCacheDir', kind: 'string', help: 'CNI result cache [<root-dir>/cni-cache]' },
] as const;

// The apiserver the node registers with, and what it learns from its Node.
export const REGISTRATION_FLAGS = [
  {
    name: 'kubeconfig',
    key: 'kubeconfig',
    kind: 'string',
    help: 'kubeconfig of the apiserver (node credentials system:node:NAME): registers the Node, runs the pods bound to it',
  },
  {
    name: 'register-with-taints',
    key: 'registerWithTaints',
    kind: 'string',
    alias: 'registerWithTaints',
    help: "taints the Node is created with: 'key=value:Effect,...'",
  },
  {
    name: 'pod-cidr-file',
    key: 'podCidrFile',
    kind: 'string',
    help: "file receiving the Node's spec.podCIDR for the CNI IPAM [<root-dir>/pod-cidr]",
  },
] as const;

// TLS bootstrap and certificate rotation, kubelet's flags.
export const CERTIFICATE_FLAGS = [
  {
    name: 'bootstrap-kubeconfig',
    key: 'bootstrapKubeconfig',
    kind: 'string',
    help: 'kubeconfig with a bootstrap token: when --kubeconfig is missing or its client certificate is not valid, a certificate is requested with it and --kubeconfig is written',
  },
  {
    name: 'cert-dir',
    key: 'certDir',
    kind: 'string',
    help: 'where bootstrapped and rotated certificates are kept (kubelet-client-current.pem, kubelet-server-current.pem) [<root-dir>/pki]',
  },
  {
    name: 'rotate-certificates',
    key: 'rotateCertificates',
    kind: 'bool',
    alias: 'rotateCertificates',
    help: 'renew the client certificate at 70-90% of its lifetime through a CertificateSigningRequest [false]',
  },
  {
    name: 'rotate-server-certificates',
    key: 'rotateServerCertificates',
    kind: 'bool',
    alias: 'serverTLSBootstrap',
    help: 'get and renew the HTTPS node API serving certificate from signer kubernetes.io/kubelet-serving (instead of --tls-cert-file) [false]',
  },
] as const;
