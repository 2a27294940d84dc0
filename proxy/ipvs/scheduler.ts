// --ipvs-scheduler: the IPVS schedulers Linux has (net/netfilter/ipvs/ip_vs_*.c). The kernel
// loads a scheduler's module when the first virtual server asks for it.
export const IPVS_SCHEDULERS: Readonly<Record<string, string>> = {
  rr: 'round robin',
  wrr: 'weighted round robin',
  lc: 'least connection',
  wlc: 'weighted least connection',
  lblc: 'locality-based least connection',
  lblcr: 'locality-based least connection with replication',
  dh: 'destination hashing',
  sh: 'source hashing',
  sed: 'shortest expected delay',
  nq: 'never queue',
  fo: 'weighted failover',
  ovf: 'weighted overflow',
  mh: 'maglev hashing',
};

export const DEFAULT_SCHEDULER = 'rr';

/** The scheduler to use, or an error naming the flag and the choices. '' means the default. */
export function parseScheduler(value: string | undefined): string {
  const v = (value ?? '').trim();
  if (v === '') return DEFAULT_SCHEDULER;
  if (!Object.hasOwn(IPVS_SCHEDULERS, v)) {
    throw new Error(
      `--ipvs-scheduler: ${JSON.stringify(v)} is not an IPVS scheduler (one of ${Object.keys(IPVS_SCHEDULERS).join(', ')})`,
    );
  }
  return v;
}
