// Per-key request rates: a token bucket (burst = the rate, at least one request) and the rule
// that a key over its rate is told `busy` at most once a second, the rest dropped silently.

export type RateVerdict = 'admit' | 'busy' | 'drop';

export class TokenBucket {
  private tokens: number;
  private last: number;
  /** When the last `busy` was told (a key over its rate hears it at most once a second). */
  private lastBusy = -Infinity;
  readonly burst: number;

  constructor(
    readonly perSecond: number,
    now: number,
  ) {
    this.burst = Math.max(1, perSecond);
    this.tokens = this.burst;
    this.last = now;
  }

  /** Give back a token taken for a request no daemon answers (one dropped for another daemon). */
  giveBack(): void {
    this.tokens = Math.min(this.burst, this.tokens + 1);
  }

  /** Take one request's token: admitted, or over the rate (`busy` once a second, else `drop`). */
  take(now: number): RateVerdict {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.perSecond) / 1000);
      this.last = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 'admit';
    }
    if (now - this.lastBusy >= 1000) {
      this.lastBusy = now;
      return 'busy';
    }
    return 'drop';
  }
}
