// The authenticated node API on --port (10250, kubelet's): the routes of the read-only API over
// TLS with the node's serving certificate, for the apiserver (`kubectl logs`, `kubectl get
// --raw /api/v1/nodes/N/proxy/...`), plus `kubectl exec` and `attach` (streaming.ts) and
// `kubectl port-forward` (port-forward.ts). In front of the routes, as kubelet: authentication (client
// certificate, bearer token, anonymous) then authorization (SubjectAccessReview or AlwaysAllow).
// The TLS layer asks for a client certificate but accepts a connection without one (or with an
// untrusted one) so that the HTTP layer can answer 401 as kubelet does, not cut the handshake.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  createSecureServer,
  type Http2SecureServer,
  type Http2ServerRequest,
  type Http2ServerResponse,
} from 'node:http2';
import type { Socket } from 'node:net';
import { createSecureContext, type TLSSocket } from 'node:tls';
import type { Logger } from '../../lib/log.js';
import {
  authenticate,
  forbiddenMessage,
  requestAttributesList,
  type PeerCertificate,
  type ResourceAttributes,
  type UserInfo,
} from './auth-attributes.js';
import type { Authorizer, TokenAuthenticator } from './auth-webhooks.js';
import { createRouter, guarded, requestPath, text, type ReadOnlyApi } from './routes.js';
import { rawResponse } from './raw-response.js';
import { serveUpgrade } from './upgrade.js';
import { errorMessage } from '../../lib/errors.js';

export interface TlsFiles {
  cert: string;
  key: string;
  clientCA?: string;
}

export class TlsConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TlsConfigError';
  }
}

function readFlagFile(flag: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    throw new TlsConfigError(`--${flag} ${path}: cannot read: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`);
  }
}

/** Reads and checks the serving certificate, its key and the client CA; errors name the flag. */
export function loadTlsFiles(paths: { certFile: string; keyFile: string; clientCAFile?: string }): TlsFiles {
  const cert = readFlagFile('tls-cert-file', paths.certFile);
  const key = readFlagFile('tls-private-key-file', paths.keyFile);
  try {
    new X509Certificate(cert);
  } catch (e) {
    throw new TlsConfigError(`--tls-cert-file ${paths.certFile}: not a PEM certificate: ${errorMessage(e)}`);
  }
  try {
    createPrivateKey(key);
  } catch (e) {
    throw new TlsConfigError(`--tls-private-key-file ${paths.keyFile}: not a PEM private key: ${errorMessage(e)}`);
  }
  try {
    createSecureContext({ cert, key });
  } catch (e) {
    throw new TlsConfigError(
      `--tls-private-key-file ${paths.keyFile} does not match --tls-cert-file ${paths.certFile}: ${errorMessage(e)}`,
    );
  }
  return { cert, key, clientCA: loadClientCA(paths.clientCAFile) };
}

/** The --client-ca-file bundle, checked; undefined without the flag. */
export function loadClientCA(path: string | undefined): string | undefined {
  if (!path) return undefined;
  const clientCA = readFlagFile('client-ca-file', path);
  try {
    new X509Certificate(clientCA);
  } catch (e) {
    throw new TlsConfigError(`--client-ca-file ${path}: not a PEM certificate: ${errorMessage(e)}`);
  }
  return clientCA;
}

export interface SecureServerOptions {
  tls: TlsFiles;
  nodeName: string;
  anonymous: boolean;
  authorizer: Authorizer;
  /** Set with --authentication-token-webhook. */
  tokenAuthenticator?: TokenAuthenticator;
  logger: Logger;
}

const one = (v: string | string[] | undefined) => (Array.isArray(v) ? v[0] : v);
const many = (v: string | string[] | undefined) => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/** What the TLS handshake established about the client's certificate, if it sent one. */
function peerCertificate(socket: TLSSocket): PeerCertificate | undefined {
  const c = socket.getPeerCertificate?.(false);
  if (!c || Object.keys(c).length === 0) return undefined;
  const error = socket.authorizationError;
  return {
    verified: socket.authorized,
    error: error ? String(error) : undefined,
    commonName: one(c.subject?.CN),
    organizations: many(c.subject?.O),
  };
}

function bearerToken(req: IncomingMessage): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
  return m?.[1];
}

export class SecureServer {
  private server?: Http2SecureServer;
  /** Every open connection (HTTP/2 sessions, HTTP/1.1 and upgraded ones), for close(). */
  private readonly sockets = new Set<Socket>();
  port = 0;

  constructor(
    private readonly api: ReadOnlyApi,
    private readonly o: SecureServerOptions,
  ) {}

  /** Authentication then authorization, as kubelet's filters: undefined when the request may go on. */
  private async admit(req: IncomingMessage): Promise<{ code: number; message: string } | undefined> {
    const cert = peerCertificate(req.socket as TLSSocket);
    // A token is reviewed only when the certificate did not already name the user.
    const token = cert?.verified && cert.commonName ? undefined : bearerToken(req);
    const auth = authenticate({
      cert,
      token: token && this.o.tokenAuthenticator ? await this.o.tokenAuthenticator(token) : undefined,
      anonymous: this.o.anonymous,
    });
    if ('unauthorized' in auth) {
      this.o.logger.debug('node API request unauthenticated', { path: req.url, reason: auth.unauthorized });
      return { code: 401, message: 'Unauthorized' };
    }
    const checks = requestAttributesList(req.method, requestPath(req).path, this.o.nodeName);
    const decision = await this.authorize(auth.user, checks);
    if (decision === 'error') {
      const a = checks[checks.length - 1]!;
      return {
        code: 500,
        message: `Authorization error (user=${auth.user.name}, verb=${a.verb}, resource=${a.resource}, subresource=${a.subresource})`,
      };
    }
    if (decision === 'denied') {
      this.o.logger.info('node API request forbidden', {
        user: auth.user.name,
        groups: auth.user.groups,
        verb: checks[0]!.verb,
        subresources: checks.map((c) => c.subresource),
        path: req.url,
      });
      return { code: 403, message: forbiddenMessage(auth.user, checks) };
    }
    return undefined;
  }

  async listen(host: string, port: number): Promise<number> {
    const router = createRouter(this.api);
    const handle = async (req: IncomingMessage, res: ServerResponse) => {
      const refused = await this.admit(req);
      if (refused) return text(res, refused.code, `${refused.message}\n`);
      return router(req, res);
    };
    const { cert, key, clientCA } = this.o.tls;
    // requestCert only when there is a CA to check against; rejectUnauthorized false: the HTTP
    // layer answers an unknown or missing certificate with 401 (kubelet's behaviour).
    // HTTP/2 with HTTP/1.1 beside it, as kubelet's Go server offers both: the apiserver reads logs
    // over HTTP/2, and its WebSocket log reader (wsstream messageCopy) drops the bytes of a read
    // that also returns EOF, which an HTTP/1.1 body whose end arrives with its data does; an
    // HTTP/2 body never returns the two together. Upgrades (exec, attach, port-forward, WebSocket)
    // come over HTTP/1.1, where the apiserver asks for it in ALPN.
    // (The compatibility API's request and response offer what the handlers use of IncomingMessage and ServerResponse.)
    const onRequest = guarded(handle) as unknown as (req: Http2ServerRequest, res: Http2ServerResponse) => void;
    this.server = createSecureServer(
      {
        cert,
        key,
        ...(clientCA ? { ca: clientCA, requestCert: true } : { requestCert: false }),
        rejectUnauthorized: false,
        minVersion: 'TLSv1.2',
        allowHTTP1: true,
      },
      onRequest,
    );
    this.server.on('secureConnection', (sock: Socket) => {
      this.sockets.add(sock);
      sock.once('close', () => this.sockets.delete(sock));
    });
    // exec, attach, port-forward, logs over WebSocket: the connection is upgraded (upgrade.ts), after the same checks.
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      this.admit(req)
        .then((refused) => {
          if (refused) return rawResponse(socket, refused.code, refused.message);
          return serveUpgrade(this.api, req, socket, head, this.o.logger);
        })
        .catch((e: Error) => {
          this.o.logger.warn('node API streaming request failed', { path: req.url, error: e.message });
          socket.destroy();
        });
    });
    await new Promise<void>((resolve, reject) => {
      this.server!.once('error', (e) =>
        reject(new Error(`node API (--port) cannot listen on ${host}:${port}: ${errorMessage(e)}`)),
      );
      this.server!.listen(port, host, () => resolve());
    });
    this.port = (this.server.address() as { port: number }).port;
    this.o.logger.info('node API listening (HTTPS)', {
      address: `${host}:${this.port}`,
      clientCertificates: !!clientCA,
      anonymous: this.o.anonymous,
      tokenWebhook: !!this.o.tokenAuthenticator,
    });
    return this.port;
  }

  /**
   * A renewed serving certificate (--rotate-server-certificates): new connections get it at once,
   * open ones keep theirs, and the server is never restarted (kubelet reads its certificate
   * manager's current pair at each handshake the same way).
   */
  setCertificate(cert: string, key: string): void {
    this.o.tls = { ...this.o.tls, cert, key };
    const { clientCA } = this.o.tls;
    this.server?.setSecureContext({ cert, key, ...(clientCA ? { ca: clientCA } : {}), minVersion: 'TLSv1.2' });
    this.o.logger.info('node API serving certificate replaced');
  }

  /** Any check allowed is enough; an error counts only when no check allowed the request. */
  private async authorize(user: UserInfo, checks: ResourceAttributes[]): Promise<'allowed' | 'denied' | 'error'> {
    let failed = false;
    for (const a of checks) {
      try {
        if (await this.o.authorizer.authorize(user, a)) return 'allowed';
      } catch (e) {
        failed = true;
        this.o.logger.warn('node API authorization failed', {
          user: user.name,
          subresource: a.subresource,
          error: errorMessage(e),
        });
      }
    }
    return failed ? 'error' : 'denied';
  }

  async close(): Promise<void> {
    if (!this.server) return;
    const closed = new Promise<void>((r) => this.server!.close(() => r()));
    for (const sock of this.sockets) sock.destroy();
    await closed;
  }
}
