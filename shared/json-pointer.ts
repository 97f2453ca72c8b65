// RFC 6901 JSON pointers: parsing, formatting and resolution over plain JSON values.

/** A parsed pointer: its unescaped segments, or why it is not a pointer. */
export type PointerParse =
  | {
      /** It is a pointer. */
      ok: true;
      /** Its reference tokens, unescaped ("" is the whole document: no segment). */
      segments: string[];
    }
  | {
      /** It is not a pointer. */
      ok: false;
      /** Why not. */
      message: string;
    };

/** Parse an RFC 6901 JSON pointer ("" or "/a/b", with `~0` for `~` and `~1` for `/`). */
export function parsePointer(pointer: string): PointerParse {
  if (pointer === '') return { ok: true, segments: [] };
  if (pointer[0] !== '/') return { ok: false, message: `pointer must be empty or start with "/": ${JSON.stringify(pointer)}` };
  const raw = pointer.slice(1).split('/');
  const segments: string[] = new Array(raw.length);
  for (let i = 0; i < raw.length; i++) {
    const seg = raw[i];
    if (seg.indexOf('~') === -1) {
      segments[i] = seg;
      continue;
    }
    // "~" must be followed by 0 or 1; "~01" means "~1" literally, so decode ~1 before ~0.
    if (/~(?![01])/.test(seg)) return { ok: false, message: `bad escape in pointer segment ${JSON.stringify(seg)}` };
    segments[i] = seg.replace(/~1/g, '/').replace(/~0/g, '~');
  }
  return { ok: true, segments };
}

/** One segment as a pointer spells it: `~` as `~0`, `/` as `~1`. */
export function escapeSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** The pointer to these segments (escaped; none gives ""). */
export function formatPointer(segments: readonly string[]): string {
  let out = '';
  for (const s of segments) out += '/' + escapeSegment(s);
  return out;
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** Resolve parsed segments; `undefined` means the path does not exist. */
export function resolveSegments(doc: unknown, segments: readonly string[]): unknown {
  let cur: unknown = doc;
  for (const seg of segments) {
    if (cur === null || typeof cur !== 'object') return undefined;
    if (Array.isArray(cur)) {
      if (!ARRAY_INDEX.test(seg)) return undefined;
      const i = Number(seg);
      if (i >= cur.length) return undefined;
      cur = cur[i];
    } else {
      if (!Object.prototype.hasOwnProperty.call(cur, seg)) return undefined;
      cur = (cur as Record<string, unknown>)[seg];
    }
  }
  return cur;
}
