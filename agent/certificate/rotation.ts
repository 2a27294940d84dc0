// When to renew a certificate: kubelet's certificate manager picks a random point between 70% and
// 90% of the certificate's lifetime (client-go util/certificate/certificate_manager.go,
// nextRotationDeadline with jitteryDuration), so a fleet of nodes issued at once does not renew at
// once, and a renewal failing early still leaves time to retry before expiry. Pure: the random
// number is an argument.

/** The rotation deadline for a certificate valid from notBefore to notAfter; random in [0, 1). */
export function rotationDeadline(notBefore: Date, notAfter: Date, random: number): Date {
  const total = notAfter.getTime() - notBefore.getTime();
  if (!(total > 0))
    throw new Error(
      `certificate validity: notAfter ${notAfter.toISOString()} is not after notBefore ${notBefore.toISOString()}`,
    );
  const percent = 70 + 20 * Math.min(Math.max(random, 0), 1); // in percent: 0.7 + 0.2 is not 0.9 in floating point
  return new Date(notBefore.getTime() + Math.floor((total * percent) / 100));
}

/** How long to wait before renewing: 0 when the deadline has passed. */
export function delayUntil(deadline: Date, now: Date): number {
  return Math.max(0, deadline.getTime() - now.getTime());
}
