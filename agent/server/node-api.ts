// Decides whether and how the authenticated HTTPS node API runs, from the agent's settings:
// --port, the serving certificate, the client CA, anonymous access, and the authorization mode.
import type { Logger } from '../../lib/log.js';
import type { AgentConfig } from '../config/config.js';
import type { Authorizer } from './auth-webhooks.js';
import type { ReadOnlyApi } from './routes.js';
import { SecureServer, loadClientCA, loadTlsFiles, type TlsFiles } from './secure.js';

/**
 * `serving`: the certificate from the cluster with --rotate-server-certificates (the agent calls
 * this once it is issued); without it, the API serves --tls-cert-file.
 */
export async function startNodeApi(
  cfg: AgentConfig,
  api: ReadOnlyApi,
  nodeName: string,
  logger: Logger,
  serving?: { cert: string; key: string },
): Promise<SecureServer | undefined> {
  const log = logger.with({ component: 'node-api' });
  if (cfg.port === 0) return undefined;
  if (cfg.rotateServerCertificates && !serving) return undefined; // started when the certificate is issued
  if (!serving && (!cfg.tlsCertFile || !cfg.tlsPrivateKeyFile)) {
    // kubelet would make itself a self-signed certificate here; the apiserver of this project's
    // control plane verifies kubelets against the cluster CA (--kubelet-certificate-authority),
    // so a self-signed one would be refused anyway. No certificate: no HTTPS API.
    log.warn(
      'node API (HTTPS, --port) not started: no --tls-cert-file/--tls-private-key-file; `kubectl logs` through the apiserver will not reach this node',
      { port: cfg.port },
    );
    return undefined;
  }
  const tls: TlsFiles = serving
    ? { ...serving, clientCA: loadClientCA(cfg.clientCaFile) }
    : loadTlsFiles({ certFile: cfg.tlsCertFile!, keyFile: cfg.tlsPrivateKeyFile!, clientCAFile: cfg.clientCaFile });
  const mode = cfg.authorizationMode ?? (cfg.kubeconfig ? 'Webhook' : 'AlwaysAllow');
  const tokenWebhook = cfg.authenticationTokenWebhook ?? !!cfg.kubeconfig;
  // Loaded only with --kubeconfig: the webhooks pull in @kubernetes/client-node.
  const hooks = mode === 'Webhook' || tokenWebhook ? await import('./auth-webhooks.js') : undefined;
  const authorizer: Authorizer =
    mode === 'Webhook' ? hooks!.webhookAuthorizer(cfg.kubeconfig!) : { authorize: async () => true };
  const tokenAuthenticator = tokenWebhook ? hooks!.webhookTokenAuthenticator(cfg.kubeconfig!) : undefined;
  if (!tls.clientCA && !tokenAuthenticator && !cfg.anonymousAuth) {
    log.warn(
      'node API: no --client-ca-file, no token webhook and --anonymous-auth=false: every request will be answered 401',
    );
  }
  if (cfg.anonymousAuth && mode === 'AlwaysAllow')
    log.warn('node API: --anonymous-auth with AlwaysAllow lets anyone who reaches the port read pods and logs');
  const server = new SecureServer(api, {
    tls,
    nodeName,
    anonymous: cfg.anonymousAuth,
    authorizer,
    tokenAuthenticator,
    logger: log,
  });
  await server.listen(cfg.address, cfg.port);
  log.info('node API authorization', { mode, tokenWebhook });
  return server;
}
