// When a projected service-account token must be requested again, as kubelet's token manager
// decides (pkg/kubelet/token/token_manager.go): once 80% of its lifetime has passed, or 24 hours
// after it was issued whatever its expiry. The 24-hour bound matters because the apiserver may
// grant far more than was asked (with --service-account-extend-token-expiration, a token asked
// for 3607 s, as the admission plugin's kube-api-access volume does, lives a year).
import type { ServiceAccountToken } from './types.js';

export const TOKEN_MAX_AGE_MS = 24 * 60 * 60 * 1000;
/** The API's floor for serviceAccountToken.expirationSeconds. */
export const TOKEN_MIN_EXPIRATION_SECONDS = 600;
/** The API's default for serviceAccountToken.expirationSeconds. */
export const TOKEN_DEFAULT_EXPIRATION_SECONDS = 3600;

/** Up to this much earlier than due, at random, as kubelet: a node's pods do not all refresh in one instant. */
export const TOKEN_REFRESH_MAX_JITTER_MS = 10_000;

/** jitterMs (0 to TOKEN_REFRESH_MAX_JITTER_MS, the caller's random pick) brings the refresh forward. */
export function tokenNeedsRefresh(
  t: Pick<ServiceAccountToken, 'issuedAt' | 'expiresAt'>,
  now: Date,
  jitterMs = 0,
): boolean {
  const iat = t.issuedAt.getTime();
  const exp = t.expiresAt.getTime();
  const at = now.getTime() + jitterMs;
  if (at >= iat + TOKEN_MAX_AGE_MS) return true;
  return at >= iat + 0.8 * (exp - iat);
}

/** Still usable (a failed refresh keeps serving it until it expires, as kubelet does). */
export function tokenValid(t: Pick<ServiceAccountToken, 'expiresAt'>, now: Date): boolean {
  return now.getTime() < t.expiresAt.getTime();
}

/**
 * The issue time of a TokenRequest answer: its expiration minus the lifetime the apiserver
 * echoes in spec.expirationSeconds (which it may have extended), else the time of the request.
 */
export function issuedAt(expiresAt: Date, grantedSeconds: number | undefined, requestedAt: Date): Date {
  if (grantedSeconds && grantedSeconds > 0) return new Date(expiresAt.getTime() - grantedSeconds * 1000);
  return requestedAt;
}
