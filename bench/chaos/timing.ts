// Small helpers for time in the harness: seeded uniform draws, sleeps a stop signal cuts short,
// and callbacks scheduled for later that can all be cancelled at once.

/** A uniform draw in [lo, hi). */
export function uniform(rand: () => number, lo: number, hi: number): number {
  return lo + rand() * (hi - lo);
}

/** Sleep `ms`, or less if `signal` aborts first (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const t = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Callbacks to run later; clear() cancels every one not yet run. */
export class Timers {
  private readonly pending = new Set<NodeJS.Timeout>();

  after(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.pending.delete(t);
      fn();
    }, ms);
    this.pending.add(t);
  }

  clear(): void {
    for (const t of this.pending) clearTimeout(t);
    this.pending.clear();
  }
}
