// A request's timestamp, its envelope's "salt" (ganeti-confd-protocol.md §2): read as Haskell's
// `reads` reads an Integer, with nothing left over, and accepted within ±CONFD_MAX_CLOCK_SKEW
// seconds of the daemon's clock.
import { CONFD_MAX_CLOCK_SKEW } from '../../shared/plj0/protocol.js';
import { isHaskellSpace } from './ganeti-json.js';

/** Longer salts are refused unread: no integer literal near the present is that long. */
const MAX_SALT_CHARS = 512;
/** Salts of up to this many decimal digits are read as plain numbers (exact: below 2^53). */
export const PLAIN_SALT_DIGITS = 15;

/** Parse the request's outer salt as Ganeti does; undefined if it is not an integer literal. */
export function parseHaskellInteger(s: string): bigint | undefined {
  let i = 0;
  const n = s.length;
  const skip = () => {
    while (i < n && isHaskellSpace(s.charCodeAt(i))) i++;
  };
  const parse = (): bigint | undefined => {
    skip();
    if (s[i] === '(') {
      i++;
      const v = parse();
      if (v === undefined) return undefined;
      skip();
      if (s[i] !== ')') return undefined;
      i++;
      return v;
    }
    let neg = false;
    if (s[i] === '-') {
      // A symbol token: a run of symbol characters must be exactly "-".
      if (i + 1 < n && '!#$%&*+./<=>?@\\^|-~:'.includes(s[i + 1])) return undefined;
      neg = true;
      i++;
      skip();
    }
    const m = /^(?:0[xX]([0-9a-fA-F]+)|0[oO]([0-7]+)|([0-9]+))/.exec(s.slice(i));
    if (!m) return undefined;
    // A decimal followed by a fraction or an exponent lexes as a non-integer number.
    const after = i + m[0].length;
    if (m[3] !== undefined && /^(\.[0-9]|[eE][+-]?[0-9])/.test(s.slice(after, after + 3))) return undefined;
    i = after;
    const v = m[1] !== undefined ? BigInt('0x' + m[1]) : m[2] !== undefined ? BigInt('0o' + m[2]) : BigInt(m[3]);
    return neg ? -v : v;
  };
  if (n > MAX_SALT_CHARS) return undefined;
  const v = parse();
  return v !== undefined && i === n ? v : undefined;
}

/** Whether a timestamp (seconds) lies within the skew of the clock's `nowSec`, bounds included. */
export function withinSkew(ts: number, nowSec: number): boolean {
  const d = ts - Math.floor(nowSec);
  return d <= CONFD_MAX_CLOCK_SKEW && d >= -CONFD_MAX_CLOCK_SKEW;
}

/** withinSkew for a timestamp of any size. */
export function withinSkewExact(ts: bigint, nowSec: number): boolean {
  const d = ts - BigInt(Math.floor(nowSec));
  return d <= BigInt(CONFD_MAX_CLOCK_SKEW) && d >= -BigInt(CONFD_MAX_CLOCK_SKEW);
}
