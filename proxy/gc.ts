// A full sync is a burst: tens of MB of rule text at 10,000 Services, all garbage a moment
// later. V8 grows the heap to fit the burst and gives the memory back only slowly, so the
// proxy's resident size would sit at two or three times what it really holds. Asking for one
// collection right after a full sync (tens of ms, once per --sync-period) lets it shrink back.
// The gc() function is taken from a fresh context after enabling --expose-gc, the usual way to
// get it without a command-line flag.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

let gc: (() => void) | undefined;

export function collectGarbage(): void {
  if (!gc) {
    setFlagsFromString('--expose-gc');
    gc = runInNewContext('gc') as () => void;
  }
  gc();
}
