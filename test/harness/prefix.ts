// Names that tests create carry a per-run prefix, so that a test can only ever remove what it
// made, and leftovers (if clean-up ever breaks) are recognisable: "kt" + 4 hex characters.
// Kept short because Linux interface names have at most 15 characters.
import { randomBytes } from 'node:crypto';

export function runPrefix(): string {
  return 'kt' + randomBytes(2).toString('hex');
}
