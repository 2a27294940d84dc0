// File system errors that name the file. Node's write errors carry only "ENOSPC: no space left on
// device, write" (the write goes to a descriptor, so the path is lost): an operator reading the
// log of a full disk must see which file under --root-dir could not be written.

/** `e` with the path in its message (kept once), and its errno code kept for callers that test it. */
export function namingPath(path: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const message = err?.message ?? String(e);
  if (message.includes(path)) return err instanceof Error ? err : new Error(message);
  const out = new Error(`${path}: ${message}`) as NodeJS.ErrnoException;
  if (err?.code) out.code = err.code;
  if (err?.syscall) out.syscall = err.syscall;
  out.path = path;
  return out;
}
