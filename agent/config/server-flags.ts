// The flags of the node's servers: the read-only HTTP API and the authenticated HTTPS node API
// (agent/server/), with kubelet's names.
// `as const`, as ETCD_FLAGS: config.ts checks the entries against its Flag type where it assembles
// FLAGS, so this file needs nothing from config.ts.

// The read-only HTTP API, and the address both APIs listen on.
export const READ_ONLY_SERVER_FLAGS = [
  {
    name: 'read-only-port',
    key: 'readOnlyPort',
    kind: 'int',
    alias: 'readOnlyPort',
    help: 'port of the read-only HTTP API (no authentication); 0 disables it [0 with --kubeconfig, as kubelet; 10255 without]',
  },
  {
    name: 'address',
    key: 'address',
    kind: 'string',
    help: 'address the read-only and HTTPS node APIs listen on [0.0.0.0]',
  },
] as const;

// The authenticated HTTPS node API (agent/server/secure.ts): its certificate, who may call it.
export const SECURE_SERVER_FLAGS = [
  {
    name: 'port',
    key: 'port',
    kind: 'int',
    help: 'port of the authenticated HTTPS node API (logs for the apiserver); 0 disables it [10250]',
  },
  {
    name: 'tls-cert-file',
    key: 'tlsCertFile',
    kind: 'string',
    alias: 'tlsCertFile',
    help: 'serving certificate (PEM) of the HTTPS node API; without it that API is not started',
  },
  {
    name: 'tls-private-key-file',
    key: 'tlsPrivateKeyFile',
    kind: 'string',
    alias: 'tlsPrivateKeyFile',
    help: 'private key (PEM) of --tls-cert-file',
  },
  {
    name: 'client-ca-file',
    key: 'clientCaFile',
    kind: 'string',
    alias: 'clientCAFile',
    help: 'CA bundle client certificates are verified against (user = CN, groups = O)',
  },
  {
    name: 'anonymous-auth',
    key: 'anonymousAuth',
    kind: 'bool',
    help: 'serve unauthenticated requests as system:anonymous [false]',
  },
  {
    name: 'authorization-mode',
    key: 'authorizationMode',
    kind: 'string',
    help: 'Webhook (SubjectAccessReview to the apiserver) or AlwaysAllow [Webhook with --kubeconfig, else AlwaysAllow]',
  },
  {
    name: 'authentication-token-webhook',
    key: 'authenticationTokenWebhook',
    kind: 'bool',
    help: 'accept bearer tokens the apiserver vouches for (TokenReview) [true with --kubeconfig]',
  },
] as const;
