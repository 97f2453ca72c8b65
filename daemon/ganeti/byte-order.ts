// The order of Ganeti's maps and tag sets: strings by the bytes of their UTF-8 (Haskell's
// ByteString and String order), which differs from JavaScript's UTF-16 order only for astral
// characters. Sorted at once, or in steps for maps of many thousands of keys.

/** Whether a UTF-16 code unit is half of a surrogate pair (an astral character). */
function isSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdfff;
}

/** Byte order of the UTF-8 encodings (Haskell's ByteString/String map order). */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Surrogates (astral code points) sort after U+E000–U+FFFF in code point/UTF-8 order.
    const xs = isSurrogate(x);
    const ys = isSurrogate(y);
    if (xs !== ys) return xs ? 1 : -1;
    return x - y;
  }
  return a.length - b.length;
}

/** An object's keys in compareBytes order. */
export function sortedKeys(o: object): string[] {
  return Object.keys(o).sort(compareBytes);
}

/** Sort strings in place as compareBytes does (the engine's native sort when it agrees). */
export function sortBytes(keys: string[]): string[] {
  // Without surrogates, code unit order is code point and UTF-8 byte order.
  return hasSurrogate(keys) ? keys.sort(compareBytes) : keys.sort();
}

function hasSurrogate(keys: string[]): boolean {
  for (const k of keys) {
    for (let i = 0; i < k.length; i++) if (isSurrogate(k.charCodeAt(i))) return true;
  }
  return false;
}

/** Keys sorted by the engine at once, and merged between yields, in sortBytesSteps. */
const SORT_CHUNK = 4096;

/**
 * sortBytes in steps: runs of SORT_CHUNK sorted by the engine, then merged pairwise, yielding
 * between runs and every SORT_CHUNK merged keys, so a sort of many thousands of keys never holds
 * the event loop for long. The same order as sortBytes (a stable merge of sorted runs). With
 * `atOnce` (a caller draining the steps at once), sortBytes itself: the engine's sort of the
 * whole array takes half the time of the runs and the merge.
 */
export function* sortBytesSteps(keys: string[], atOnce = false): Generator<void, string[]> {
  if (atOnce || keys.length <= SORT_CHUNK) return sortBytes(keys);
  const surrogates = hasSurrogate(keys);
  const less = surrogates ? (a: string, b: string) => compareBytes(a, b) < 0 : (a: string, b: string) => a < b;
  let runs: string[][] = [];
  for (let i = 0; i < keys.length; i += SORT_CHUNK) {
    const run = keys.slice(i, i + SORT_CHUNK);
    runs.push(surrogates ? run.sort(compareBytes) : run.sort());
    yield;
  }
  while (runs.length > 1) {
    const next: string[][] = [];
    for (let r = 0; r < runs.length; r += 2) {
      const a = runs[r];
      const b = runs[r + 1];
      if (b === undefined) {
        next.push(a);
        continue;
      }
      const out = new Array<string>(a.length + b.length);
      let i = 0;
      let j = 0;
      let k = 0;
      while (i < a.length && j < b.length) {
        // b before a only when strictly less: equal keys keep their run order (stable).
        out[k++] = less(b[j], a[i]) ? b[j++] : a[i++];
        if ((k & (SORT_CHUNK - 1)) === 0) yield;
      }
      while (i < a.length) out[k++] = a[i++];
      while (j < b.length) out[k++] = b[j++];
      next.push(out);
      yield;
    }
    runs = next;
  }
  return runs[0];
}
