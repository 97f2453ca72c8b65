// Values are recorded as digests: the same for equal values whatever their key order, and short
// enough to keep one per path of every publish and every read.
import { createHash } from 'node:crypto';
import { canonicalJson } from '../../shared/canonical-json.js';
import { ABSENT, type Digest } from './history.js';

/** The digest of a JSON value; ABSENT for undefined (no value at the path). */
export function digestOf(value: unknown): Digest {
  if (value === undefined) return ABSENT;
  return createHash('sha256').update(canonicalJson(value)).digest('hex').slice(0, 16);
}
