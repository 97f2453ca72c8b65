// Type 10's pointers (ganeti-confd-protocol.md §4.5) into the re-serialized config, which is
// not kept whole: the pointer walks the document along the schema, and only the value it ends
// at is re-serialized. Same answers as a walk of serializeConfig(doc), without making the rest.
import { MAX_UDP_DATA_SIZE } from '../../shared/plj0/protocol.js';
import { sortedKeysOf } from './config-walk.js';
import { CONFIG, type Field, type FieldType, type Schema } from './schema.js';
import { hasOwn, serValue } from './serialize.js';

type Resolved = { ok: true; value: unknown } | { ok: false; tooLarge?: true };
const MISSING: Resolved = { ok: false };
const TOO_LARGE: Resolved = { ok: false, tooLarge: true };

/**
 * Whether the JSON of `raw`'s re-serialization surely takes more than `limit` characters,
 * decided with work bounded by `limit` (not by the value's size): a type 10 answer that cannot
 * fit in a reply is refused before it is made, however large the subtree it points at. The
 * count is a lower bound: re-serializing keeps every key (and adds defaults), numbers count one
 * character, and strings inside arrays none (tags lose their duplicates). Large maps are walked
 * through the sorted keys the load kept for them, never enumerated here.
 */
export function surelyLarger(raw: unknown, limit: number): boolean {
  let n = 0;
  const stack: unknown[] = [raw];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === 'string') n += v.length + 2;
    else if (v === null || typeof v !== 'object') n += 1;
    else if (Array.isArray(v)) {
      n += 2;
      for (let i = 0; i < v.length && n <= limit; i++) if (typeof v[i] !== 'string') stack.push(v[i]);
    } else {
      n += 2;
      const keys = sortedKeysOf(v);
      if (keys !== undefined) {
        for (let i = 0; i < keys.length && n <= limit; i++) {
          n += keys[i].length + 3;
          stack.push((v as Record<string, unknown>)[keys[i]]);
        }
      } else {
        for (const k in v) {
          if (n > limit) break;
          n += k.length + 3;
          stack.push((v as Record<string, unknown>)[k]);
        }
      }
    }
    if (n > limit) return true;
  }
  return false;
}

/** The longest answer text a type 10 reply can carry. */
const ANSWER_LIMIT = MAX_UDP_DATA_SIZE;

/** Type 10: Ganeti's loose JSON pointer (§4.5); undefined means argument error. */
export function parseGanetiPointer(path: string): string[] | undefined {
  // char '/' *> (token `sepBy1` char '/'), where token = many1 (~0 | ~1 | [^~/]) <|> ("" at the
  // end of input); parseOnly ignores whatever follows.
  const token = (i: number): [string, number] | undefined => {
    let tok = '';
    let j = i;
    while (j < path.length) {
      const c = path[j];
      if (c === '~' && (path[j + 1] === '0' || path[j + 1] === '1')) {
        tok += path[j + 1] === '1' ? '/' : '~';
        j += 2;
      } else if (c !== '~' && c !== '/') {
        tok += c;
        j++;
      } else break;
    }
    if (j > i) return [tok, j];
    return i === path.length ? ['', i] : undefined;
  };
  if (path[0] !== '/') return undefined;
  let t = token(1);
  if (!t) return undefined;
  const tokens: string[] = [];
  for (;;) {
    tokens.push(t[0]);
    const i = t[1];
    if (path[i] !== '/') return tokens;
    const next = token(i + 1);
    if (!next) return tokens;
    t = next;
  }
}

/** Attoparsec `decimal :: Int` on the token's leading digits (wrapping like a 64-bit Int). */
function readIndex(tok: string): number | undefined {
  const m = /^[0-9]+/.exec(tok);
  if (!m) return undefined;
  const v = BigInt.asIntN(64, BigInt(m[0]));
  return v < 0n || v > BigInt(Number.MAX_SAFE_INTEGER) ? -1 : Number(v);
}

function resolveGanetiPointer(root: unknown, tokens: string[]): Resolved {
  let cur = root;
  for (const tok of tokens) {
    if (Array.isArray(cur)) {
      const i = readIndex(tok);
      if (i === undefined || i < 0 || i >= cur.length) return MISSING;
      cur = cur[i];
    } else if (cur !== null && typeof cur === 'object') {
      if (!hasOwn(cur, tok)) return MISSING;
      cur = (cur as Record<string, unknown>)[tok];
    } else {
      return MISSING;
    }
  }
  return { ok: true, value: cur };
}

/**
 * resolveGanetiPointer(serializeConfig(doc), tokens) for a document validateConfigSteps has
 * accepted, re-serializing only the value the pointer ends at.
 */
export function resolveConfigPointer(doc: Record<string, unknown>, tokens: string[]): Resolved {
  let raw: unknown = doc;
  let t: FieldType = { obj: CONFIG };
  for (let n = 0; n < tokens.length; n++) {
    const tok = tokens[n];
    if (t === 'any' || t === 'anymap') {
      // Untyped values are answered as they are (an anymap's keys sorted): resolve in place, and
      // only the part pointed at must fit.
      const r = resolveGanetiPointer(raw, tokens.slice(n));
      return r.ok && surelyLarger(r.value, ANSWER_LIMIT) ? TOO_LARGE : r;
    }
    if (typeof t === 'string') return resolveGanetiPointer(serValue(raw, t, ''), tokens.slice(n));
    if ('obj' in t) {
      const s: Schema = t.obj;
      const o = raw as Record<string, unknown>;
      const forthcoming = s.forthcoming === true && o.forthcoming === true;
      const f: Field | undefined = s.fields.find((x) => x.k === tok);
      if (f !== undefined && hasOwn(o, tok) && o[tok] !== undefined) {
        raw = o[tok];
        t = f.t;
      } else if (f !== undefined && f.m === 'def' && s.partial !== true && !forthcoming) {
        return resolveGanetiPointer((f.d as () => unknown)(), tokens.slice(n + 1));
      } else if (tok === 'forthcoming' && forthcoming) {
        return resolveGanetiPointer(true, tokens.slice(n + 1));
      } else {
        return MISSING;
      }
    } else if ('list' in t) {
      const l = raw as unknown[];
      const i = readIndex(tok);
      if (i === undefined || i < 0 || i >= l.length) return MISSING;
      raw = l[i];
      t = t.list;
    } else {
      if (!hasOwn(raw as object, tok)) return MISSING;
      raw = (raw as Record<string, unknown>)[tok];
      t = 'map' in t ? t.map : t.hvmap;
    }
  }
  if (surelyLarger(raw, ANSWER_LIMIT)) return TOO_LARGE;
  return { ok: true, value: serValue(raw, t, '') };
}
