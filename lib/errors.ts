// The text of a caught value for a log line, an event or a status message. A catch clause gets
// `unknown`: usually an Error, but dockerode, the Kubernetes client and child processes also
// reject with plain objects carrying a message, and a callback may throw a bare string. A
// `(e as Error).message` cast reads undefined for the string and throws for undefined.
export function errorMessage(e: unknown): string {
  if (e instanceof Error) return e.message;
  if (typeof e === 'object' && e !== null && 'message' in e && typeof e.message === 'string') return e.message;
  try {
    return String(e);
  } catch {
    // An object without a prototype has no toString: String() throws on it.
    return Object.prototype.toString.call(e);
  }
}
