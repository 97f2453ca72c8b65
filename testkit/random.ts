// A seeded random generator, for everything that must be random yet repeat itself run after
// run: generated configs, the load generator's request order, a relay's faults.

/** mulberry32: a small, fast, seeded PRNG with a full 2^32 period; numbers in [0, 1). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
