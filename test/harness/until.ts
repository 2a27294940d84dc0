// Waiting for an observable condition in end-to-end tests: poll until the probe returns a value
// (not undefined/false) or the deadline passes, then fail naming what was awaited and the last
// error the probe threw. These are bounds on how long to wait, not timings being tested.
import { errorMessage } from '../../lib/errors.js';

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined | false>,
  everyMs = 300,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${errorMessage(last)}` : ''}`);
    await sleep(everyMs);
  }
}
