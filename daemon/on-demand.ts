// A value made by a step generator (the daemon's way of doing long work between requests): run
// in slices by whoever has time (`rest()` under runSliced), or finished at once by the first
// caller that cannot wait (`get()`). Either way the steps run once, in order.

/**
 * Read by the steps: true once the rest is being run at once (by `get()`), when a step can take
 * a way that is faster but cannot be sliced (one sort of a whole array, say).
 */
export interface Pace {
  readonly atOnce: boolean;
}

export class OnDemand<T> {
  private value: T | undefined;
  private failure: { error: unknown } | undefined;
  private finished = false;
  private readonly pace = { atOnce: false };
  private readonly steps: Generator<void, T>;

  constructor(make: (pace: Pace) => Generator<void, T>) {
    this.steps = make(this.pace);
  }

  /** Whether the value is made (or its steps failed). */
  get ready(): boolean {
    return this.finished;
  }

  /** Whether its steps threw (get() throws that). */
  get failed(): boolean {
    return this.failure !== undefined;
  }

  /** The value, running whatever steps are left first; throws what the steps threw. */
  get(): T {
    this.pace.atOnce = true;
    while (!this.step());
    if (this.failure) throw this.failure.error;
    return this.value as T;
  }

  /** The remaining steps, yielding between them (for runSliced); returns the value. */
  *rest(): Generator<void, T> {
    while (!this.step()) yield;
    return this.get();
  }

  /** One step; true once finished. */
  private step(): boolean {
    if (this.finished) return true;
    try {
      const r = this.steps.next();
      if (!r.done) return false;
      this.value = r.value;
    } catch (e) {
      this.failure = { error: e };
    }
    this.finished = true;
    return true;
  }
}
