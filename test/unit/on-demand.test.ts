// OnDemand: a step generator's value, made in slices (rest) or at once (get), its steps run once.
import { describe, expect, it } from 'vitest';
import { OnDemand } from '../../daemon/on-demand.js';

function* counted(log: number[], n: number, fail = false): Generator<void, string> {
  for (let i = 0; i < n; i++) {
    log.push(i);
    yield;
  }
  if (fail) throw new Error('broken');
  return `made after ${n}`;
}

describe('OnDemand', () => {
  it('runs its steps once, in order, partly in slices and the rest at once', () => {
    const log: number[] = [];
    const d = new OnDemand(() => counted(log, 5));
    const rest = d.rest();
    rest.next();
    rest.next();
    expect(d.ready).toBe(false);
    expect(log).toEqual([0, 1]);
    expect(d.get()).toBe('made after 5');
    expect(d.ready).toBe(true);
    expect(log).toEqual([0, 1, 2, 3, 4]);
    // The slices' generator now ends at once with the same value.
    expect(rest.next()).toEqual({ done: true, value: 'made after 5' });
    expect(d.get()).toBe('made after 5');
    expect(log).toEqual([0, 1, 2, 3, 4]);
  });

  it('keeps what its steps threw: failed, and thrown by every get and rest', () => {
    const d = new OnDemand(() => counted([], 2, true));
    expect(() => d.get()).toThrow('broken');
    expect(d.ready).toBe(true);
    expect(d.failed).toBe(true);
    expect(() => d.get()).toThrow('broken');
    expect(() => d.rest().next()).toThrow('broken');
  });

  it('a value with no steps left is ready at its first step', () => {
    const d = new OnDemand(() => counted([], 0));
    expect(d.rest().next()).toEqual({ done: true, value: 'made after 0' });
    expect(d.failed).toBe(false);
  });

  it('tells its steps whether they run at once: not in slices, yes from get() on', () => {
    const seen: boolean[] = [];
    const d = new OnDemand(function* (pace) {
      for (let i = 0; i < 4; i++) {
        seen.push(pace.atOnce);
        yield;
      }
      return seen.length;
    });
    const rest = d.rest();
    rest.next();
    rest.next();
    expect(d.get()).toBe(4);
    expect(seen).toEqual([false, false, true, true]);
  });
});
