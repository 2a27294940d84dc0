// PodLogOptions from the query of /containerLogs/{ns}/{pod}/{container}, as kubelet decodes and
// validates them (the apiserver forwards kubectl's options here unchanged): follow, previous,
// timestamps, tailLines (and the old "tail", where "all" means no limit), limitBytes,
// sinceSeconds, sinceTime (RFC 3339). Pure: query in, options or kubelet's error out.
// https://github.com/kubernetes/kubernetes/blob/master/pkg/kubelet/server/server.go (getContainerLogs)

export interface LogOptions {
  follow: boolean;
  previous: boolean;
  timestamps: boolean;
  tailLines?: number;
  limitBytes?: number;
  /** Lines written at or after this time (from sinceSeconds or sinceTime), in ms since the epoch. */
  sinceMs?: number;
}

/** kubelet's answer to a query it cannot use: 400 when it does not decode, 422 when it is invalid. */
export interface LogOptionsError {
  code: 400 | 422;
  message: string;
}

/** Query booleans as the API's parameter codec reads them: absent/false/0 are false. */
const flag = (v: string | null) => v !== null && v !== 'false' && v !== '0';

const INT = /^-?\d+$/;

export function parseLogOptions(q: URLSearchParams, nowMs: number): LogOptions | LogOptionsError {
  const decodeError = (field: string, v: string): LogOptionsError => ({
    code: 400,
    message: `Unable to decode query: ${field}=${JSON.stringify(v)} is not an integer`,
  });
  const invalid = (message: string): LogOptionsError => ({ code: 422, message: `Invalid request: ${message}` });
  const opts: LogOptions = {
    follow: flag(q.get('follow')),
    previous: flag(q.get('previous')),
    timestamps: flag(q.get('timestamps')),
  };

  // The old "tail" parameter, still honoured by kubelet; "all" is the same as leaving it out.
  let tail = q.get('tailLines');
  const old = q.get('tail');
  if (old !== null && old !== '') tail = old === 'all' ? null : old;
  if (tail !== null) {
    if (!INT.test(tail)) return decodeError('tailLines', tail);
    opts.tailLines = Number(tail);
    if (opts.tailLines < 0) return invalid('tailLines must be greater than or equal to 0');
  }
  const limit = q.get('limitBytes');
  if (limit !== null) {
    if (!INT.test(limit)) return decodeError('limitBytes', limit);
    opts.limitBytes = Number(limit);
    if (opts.limitBytes < 1) return invalid('limitBytes must be greater than 0');
  }
  const seconds = q.get('sinceSeconds');
  const time = q.get('sinceTime');
  if (seconds !== null && time !== null) return invalid('at most one of sinceTime or sinceSeconds may be specified');
  if (seconds !== null) {
    if (!INT.test(seconds)) return decodeError('sinceSeconds', seconds);
    if (Number(seconds) < 1) return invalid('sinceSeconds must be greater than 0');
    opts.sinceMs = nowMs - Number(seconds) * 1000;
  }
  if (time !== null) {
    // metav1.Time in a query is RFC 3339 (seconds precision, a zone or Z).
    if (!/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$/.test(time) || Number.isNaN(Date.parse(time))) {
      return {
        code: 400,
        message: `Unable to decode query: sinceTime=${JSON.stringify(time)} is not an RFC 3339 time`,
      };
    }
    opts.sinceMs = Date.parse(time);
  }
  return opts;
}

export function isLogOptionsError(o: LogOptions | LogOptionsError): o is LogOptionsError {
  return 'code' in o;
}
