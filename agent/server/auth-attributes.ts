// Who is asking and what for, as kubelet decides it for its HTTPS API. Pure: no TLS, no
// apiserver, no clock of its own.
// - authenticate(): x509 client certificate verified against --client-ca-file (user = CN,
//   groups = O), then a bearer token the TokenReview webhook vouched for, then anonymous if
//   --anonymous-auth; otherwise 401.
// - requestAttributes(): kubelet's mapping of a request to a check on the Node object: verb
//   from the HTTP method, resource nodes, the node's name, a subresource from the path.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/server/auth.go
// https://kubernetes.io/docs/reference/access-authn-authz/kubelet-authn-authz/

export interface UserInfo {
  name: string;
  groups: string[];
}

export const ANONYMOUS: UserInfo = { name: 'system:anonymous', groups: ['system:unauthenticated'] };

/** What the TLS layer saw of the client's certificate. */
export interface PeerCertificate {
  /** The chain verified against the client CA (false: another CA, expired, ...). */
  verified: boolean;
  /** Why it did not verify, as OpenSSL says. */
  error?: string;
  commonName?: string;
  organizations?: string[];
}

export interface AuthenticationInput {
  cert?: PeerCertificate;
  /** The TokenReview's answer for an `Authorization: Bearer` token, when the webhook is enabled. */
  token?: { authenticated: true; user: UserInfo } | { authenticated: false; error: string };
  anonymous: boolean;
}

export type Authentication = { user: UserInfo } | { unauthorized: string };

/**
 * kubelet's union of authenticators: the first that succeeds names the user. Authenticated
 * users also get the group system:authenticated, as the apiserver's own authenticators add it.
 * A certificate from another CA is no one in particular: it falls through to the token and to
 * anonymous (kubelet's x509 authenticator fails, and the union tries the next).
 */
export function authenticate(input: AuthenticationInput): Authentication {
  const why: string[] = [];
  const c = input.cert;
  if (c?.verified && c.commonName) {
    return { user: withAuthenticated({ name: c.commonName, groups: c.organizations ?? [] }) };
  }
  if (c && !c.verified) why.push(`client certificate not trusted: ${c.error ?? 'unknown CA'}`);
  if (c?.verified && !c.commonName) why.push('client certificate has no common name');
  if (input.token?.authenticated) return { user: withAuthenticated(input.token.user) };
  if (input.token && !input.token.authenticated) why.push(`bearer token: ${input.token.error}`);
  if (input.anonymous) return { user: ANONYMOUS };
  if (why.length === 0) why.push('no client certificate or bearer token (anonymous requests are disabled)');
  return { unauthorized: why.join('; ') };
}

function withAuthenticated(u: UserInfo): UserInfo {
  return u.groups.includes('system:authenticated')
    ? u
    : { name: u.name, groups: [...u.groups, 'system:authenticated'] };
}

/** The SubjectAccessReview's resourceAttributes for a request to the node API. */
export interface ResourceAttributes {
  verb: string;
  group: '';
  version: 'v1';
  resource: 'nodes';
  subresource: string;
  name: string;
}

/** HTTP method -> API verb, as kubelet maps it (HEAD reads, like GET). */
export function verbFor(method: string | undefined): string {
  switch ((method ?? 'GET').toUpperCase()) {
    case 'POST':
      return 'create';
    case 'GET':
    case 'HEAD':
      return 'get';
    case 'PUT':
      return 'update';
    case 'PATCH':
      return 'patch';
    case 'DELETE':
      return 'delete';
    default:
      return 'get';
  }
}

/** /stats/summary is under /stats, /statsx is not (kubelet's isSubpath). */
function under(path: string, prefix: string): boolean {
  return path === prefix || path.startsWith(prefix + '/');
}

/**
 * The subresource of nodes/<name> a path needs. Everything else (/pods, /containerLogs, /exec,
 * /run, /attach, /portForward, /healthz...) is nodes/proxy, the broad permission.
 */
export function subresourceFor(path: string): string {
  if (under(path, '/stats')) return 'stats';
  if (under(path, '/metrics')) return 'metrics';
  if (under(path, '/logs')) return 'log';
  if (under(path, '/spec')) return 'spec';
  if (under(path, '/checkpoint')) return 'checkpoint';
  return 'proxy';
}

export function requestAttributes(method: string | undefined, path: string, nodeName: string): ResourceAttributes {
  return {
    verb: verbFor(method),
    group: '',
    version: 'v1',
    resource: 'nodes',
    subresource: subresourceFor(path),
    name: nodeName,
  };
}

/**
 * The checks a request may pass, any one sufficing, in order. kubelet 1.33+ (its
 * KubeletFineGrainedAuthz gate, on by default since then) first asks for a narrow permission on
 * /pods (nodes/pods), /healthz (nodes/healthz) and /configz (nodes/configz), so that a monitoring
 * agent needs no nodes/proxy, and falls back to nodes/proxy, which every older grant has.
 */
export function requestAttributesList(
  method: string | undefined,
  path: string,
  nodeName: string,
): ResourceAttributes[] {
  const broad = requestAttributes(method, path, nodeName);
  const fine = under(path, '/pods')
    ? 'pods'
    : under(path, '/healthz')
      ? 'healthz'
      : under(path, '/configz')
        ? 'configz'
        : undefined;
  return fine ? [{ ...broad, subresource: fine }, broad] : [broad];
}

/** kubelet's 403 text: who, and what they would need (any one of the subresources). */
export function forbiddenMessage(user: UserInfo, checks: ResourceAttributes[]): string {
  const a = checks[0]!;
  const sub =
    checks.length === 1
      ? `subresource=${a.subresource}`
      : `subresource(s)=[${checks.map((c) => c.subresource).join(' ')}]`;
  return `Forbidden (user=${user.name}, verb=${a.verb}, resource=${a.resource}, ${sub})`;
}

/**
 * Decisions of the authorization webhook, cached as kubelet caches them (its defaults:
 * --authorization-webhook-cache-authorized-ttl 5m, -unauthorized-ttl 30s), so `kubectl logs -f`
 * and the apiserver's repeated requests do not each cost a SubjectAccessReview.
 */
export class DecisionCache {
  private entries = new Map<string, { allowed: boolean; until: number }>();

  constructor(
    private readonly ttl = { allowedMs: 5 * 60_000, deniedMs: 30_000 },
    private readonly maxEntries = 10_000,
  ) {}

  static key(user: UserInfo, a: ResourceAttributes): string {
    return JSON.stringify([user.name, [...user.groups].sort(), a.verb, a.resource, a.subresource, a.name]);
  }

  get(key: string, nowMs: number): boolean | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.until <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return e.allowed;
  }

  set(key: string, allowed: boolean, nowMs: number): void {
    // Bounded: the oldest entry makes room (Map keeps insertion order).
    if (this.entries.size >= this.maxEntries && !this.entries.has(key))
      this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { allowed, until: nowMs + (allowed ? this.ttl.allowedMs : this.ttl.deniedMs) });
  }
}
