// Long text cut for a message or a log line: what is kept, then how much was left out, so a
// reader knows the text went on (a probe's output, a mutated field of megabytes in an error).
export function truncate(s: string, max: number): string {
  return s.length <= max ? s : `${s.slice(0, max)}... (${s.length - max} more characters)`;
}
