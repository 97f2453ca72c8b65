// One bucket of the replay memory (replay-guard.ts): an open-addressing set of 128-bit salts in
// typed arrays, with a randomly seeded slot hash, and the previous table a growing bucket still
// moves its salts out of.

export interface MovingTable {
  keys: Int32Array;
  used: Uint8Array;
  slots: number;
  mask: number;
  /** Slots below this have moved. */
  next: number;
}

export class Bucket {
  slots: number;
  mask: number;
  size = 0;
  keys: Int32Array;
  used: Uint8Array;
  /**
   * The table before the last growth, while its entries move over to `keys` a few slots per
   * insert, in slot order (a moved slot reads as empty): a salt is in one of the two.
   */
  old: MovingTable | undefined;
  /** Salts taken while stamped more than nearMs ahead. */
  pre = 0;
  /** Whether `pre` is part of the guard's `preLive` (the bucket is not behind the near zone). */
  counted = true;
  /** The least and greatest wall − monotonic offset under which salts were taken. */
  minOff: number;
  maxOff: number;
  /** Position in the guard's `live` list. */
  index = 0;
  constructor(
    readonly id: number,
    slots: number,
    keys: Int32Array,
    used: Uint8Array,
    off: number,
  ) {
    this.slots = slots;
    this.mask = slots - 1;
    this.keys = keys;
    this.used = used;
    this.minOff = off;
    this.maxOff = off;
  }
}

/**
 * Slots of the previous table moved per insert while a bucket grows. The move ends after
 * old slots / MOVE_PER_INSERT inserts, long before the new table (twice as large) is half full.
 */
export const MOVE_PER_INSERT = 8;

// A per-process random seed for slot placement, so that nobody can aim salts at one probe chain.
const SEED = (Math.random() * 0x1_0000_0000) | 0;

export function slotOf(w0: number, w1: number, w2: number, w3: number): number {
  let h = Math.imul(w0 ^ SEED, 0x9e3779b1);
  h = Math.imul(h ^ w1 ^ (h >>> 15), 0x85ebca6b);
  h = Math.imul(h ^ w2 ^ (h >>> 13), 0xc2b2ae35);
  h ^= w3;
  return (h ^ (h >>> 16)) >>> 0;
}

export function word(b: Uint8Array, o: number): number {
  return (b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3];
}

/**
 * Whether a growing bucket's previous table still holds the salt whose slot hash is h. Slots
 * below `next` have moved (they read as empty): an entry still here lies at `next` or after,
 * on its probe chain with the moved part left out, so the probe skips that part.
 */
export function stillHas(old: MovingTable, h: number, w0: number, w1: number, w2: number, w3: number): boolean {
  const { keys, used, next, slots } = old;
  let i = h & old.mask;
  if (i < next) i = next;
  for (let n = slots - next; n > 0; n--) {
    if (used[i] === 0) return false;
    const k = i << 2;
    if (keys[k] === w0 && keys[k + 1] === w1 && keys[k + 2] === w2 && keys[k + 3] === w3) return true;
    if (++i === slots) i = next;
  }
  return false;
}
