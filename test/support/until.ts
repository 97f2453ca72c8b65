// Waiting in a test for what happens in another process: poll until a condition holds, or
// await a promise, and fail naming what did not happen once a deadline has passed.

/** Poll `cond` every `everyMs` until it holds; after `deadlineMs`, throw "timed out waiting for <what>". */
export async function until(cond: () => boolean | Promise<boolean>, what: string, deadlineMs = 20_000, everyMs = 20): Promise<void> {
  const deadline = Date.now() + deadlineMs;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** Probe every 50 ms until `pred` holds of the probed value, and return it; after `deadlineMs`, throw showing the last. */
export async function untilValue<T>(probe: () => Promise<T>, pred: (v: T) => boolean, what: string, deadlineMs = 30_000): Promise<T> {
  const deadline = Date.now() + deadlineMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await probe();
    if (pred(last)) return last;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${what} not reached within ${deadlineMs} ms; last: ${JSON.stringify(last)}`);
}

/** Resolve with the promise's value, or fail if it does not settle within `ms`. */
export async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, t]);
  } finally {
    clearTimeout(timer);
  }
}
