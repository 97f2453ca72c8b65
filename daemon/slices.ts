// Running step generators, the form of long work between requests: in slices of a few
// milliseconds, yielding to the event loop between slices, so that answers keep flowing while a
// large document is parsed, a view built or held waits settled; or at once, where nothing waits.
import { setImmediate as yieldToLoop } from 'node:timers/promises';
import { settleBeforeSlice } from './turn-end.js';

/**
 * Run a generator to completion in slices of about `sliceMs`, yielding to the event loop
 * between slices. `cancelled` is checked at every slice: when it says so, the run stops (and
 * resolves undefined).
 */
export async function runSliced<T>(gen: Generator<void, T>, sliceMs = 4, cancelled?: () => boolean): Promise<T | undefined> {
  for (;;) {
    // Replies this turn queued leave before the slice, not after it.
    settleBeforeSlice();
    const end = performance.now() + sliceMs;
    for (;;) {
      const r = gen.next();
      if (r.done) return r.value;
      if (performance.now() >= end) break;
    }
    await yieldToLoop();
    if (cancelled?.()) {
      gen.return(undefined as T);
      return undefined;
    }
  }
}

/** Run a step generator to its end at once (a caller that need not yield: tests, tools, small work). */
export function drain<T>(gen: Generator<void, T>): T {
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
  }
}
