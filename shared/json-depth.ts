// How deeply JSON text nests, measured without parsing it: a scan that skips strings and counts
// brackets. Objects and arrays count; the top-level object or array is depth 1. For limits that
// must hold before anything walks the value recursively. On text that is not JSON the answer is
// some depth, never an error: callers parse (or have parsed) the text as well.

/** JSON text nests deeper than a limit: `offset` is where it first goes deeper. */
export class JsonDepthError extends Error {
  constructor(
    readonly offset: number,
    readonly limit: number,
  ) {
    super(`nested deeper than ${limit} levels (at byte ${offset})`);
    this.name = 'JsonDepthError';
  }
}

/** Where the UTF-8 JSON text in `b` first nests deeper than `max`, or -1 when it never does. */
export function depthBeyondBytes(b: Uint8Array, max: number): number {
  let depth = 0;
  const n = b.length;
  for (let i = 0; i < n; i++) {
    const c = b[i];
    if (c === 0x22) {
      // A string: up to its closing quote (a backslash escapes the byte after it).
      for (i++; i < n; i++) {
        const d = b[i];
        if (d === 0x22) break;
        if (d === 0x5c) i++;
      }
    } else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return i;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
    }
  }
  return -1;
}

/**
 * Where the JSON text `s` first nests deeper than `max` (an offset into its UTF-8 bytes), or -1
 * when it never does. Brackets, quotes and backslashes are single bytes in UTF-8, so the bytes
 * nest exactly as the text does.
 */
export function depthBeyondText(s: string, max: number): number {
  return depthBeyondBytes(Buffer.from(s, 'utf8'), max);
}
