// The CNI specification's error result: {cniVersion, code, msg, details} on stdout with a non-zero
// exit. Codes 0-99 are the spec's well-known ones (SPEC.md, "Error"); 999 is what libcni uses for
// "internal error" when nothing more specific applies.

export const ErrorCode = {
  IncompatibleVersion: 1,
  UnsupportedField: 2,
  UnknownContainer: 3,
  InvalidEnvironment: 4,
  IOFailure: 5,
  DecodeFailure: 6,
  InvalidNetworkConfig: 7,
  TryAgainLater: 11,
  NotAvailable: 50,
  NotAvailableLimitedConnectivity: 51,
  Internal: 999,
} as const;
export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

export class CniError extends Error {
  constructor(
    readonly code: number,
    /** Short: what failed. */
    readonly msg: string,
    /** Longer: which object/field and why. */
    readonly details = '',
  ) {
    super(details ? `${msg}: ${details}` : msg);
    this.name = 'CniError';
  }

  toJSON(cniVersion: string): { cniVersion: string; code: number; msg: string; details?: string } {
    return { cniVersion, code: this.code, msg: this.msg, ...(this.details ? { details: this.details } : {}) };
  }
}

/** Turn anything thrown into a CniError; system errors from the file system become I/O failures. */
export function asCniError(e: unknown): CniError {
  if (e instanceof CniError) return e;
  const err = e as NodeJS.ErrnoException;
  if (err && typeof err.code === 'string' && typeof err.syscall === 'string') {
    return new CniError(ErrorCode.IOFailure, `I/O failure (${err.code})`, err.message);
  }
  return new CniError(
    ErrorCode.Internal,
    err?.message ? String(err.message).split('\n')[0]! : String(e),
    err?.message ?? '',
  );
}

/** Invalid network configuration, naming the field and the reason. */
export const invalidConfig = (field: string, reason: string): CniError =>
  new CniError(ErrorCode.InvalidNetworkConfig, 'invalid network configuration', `${field}: ${reason}`);
