// The detached JWS the controller-manager's bootstrapsigner writes into kube-public/cluster-info
// (key jws-kubeconfig-<token-id>): "<protected header>..<signature>", HS256 with the bootstrap
// token's secret as the key, the header naming the token id as "kid"
// (k8s.io/cluster-bootstrap/token/jws). A node that knows the token checks with it that the CA
// it read anonymously is the one the token holder published (kubeadm's discovery/token). Pure.
import { createHmac, timingSafeEqual } from 'node:crypto';

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

export class JwsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'JwsError';
  }
}

/** The detached HS256 JWS of `content` for token `tokenId`.`tokenSecret`. */
export function signDetached(content: string, tokenId: string, tokenSecret: string): string {
  const header = b64url(JSON.stringify({ alg: 'HS256', kid: tokenId }));
  const signature = createHmac('sha256', tokenSecret)
    .update(`${header}.${b64url(content)}`)
    .digest('base64url');
  return `${header}..${signature}`;
}

/** Throws a JwsError saying what is wrong unless `jws` signs `content` with this token. */
export function verifyDetached(jws: string, content: string, tokenId: string, tokenSecret: string): void {
  const parts = jws.trim().split('.');
  if (parts.length !== 3 || parts[1] !== '')
    throw new JwsError('not a detached JWS (expected "<header>..<signature>")');
  const [headerB64, , signatureB64] = parts as [string, string, string];
  let header: { alg?: unknown; kid?: unknown };
  try {
    header = JSON.parse(Buffer.from(headerB64, 'base64url').toString('utf8')) as typeof header;
  } catch {
    throw new JwsError('the JWS protected header is not base64url JSON');
  }
  // Only HS256 is accepted: the algorithm is fixed by the protocol, never taken from the header.
  if (header.alg !== 'HS256')
    throw new JwsError(`the JWS algorithm is ${JSON.stringify(header.alg)}, expected "HS256"`);
  if (header.kid !== tokenId)
    throw new JwsError(`the JWS key id is ${JSON.stringify(header.kid)}, expected the token id "${tokenId}"`);
  const expected = createHmac('sha256', tokenSecret)
    .update(`${headerB64}.${b64url(content)}`)
    .digest();
  const got = Buffer.from(signatureB64, 'base64url');
  if (got.length !== expected.length || !timingSafeEqual(got, expected))
    throw new JwsError(
      'the JWS signature does not match the content with this token (wrong token, or the cluster-info was altered)',
    );
}
