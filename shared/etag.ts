// Etags: an opaque tag per JSON value, equal for equal values on every replica (protocol.md,
// "Reply body"). A value's tag is the hash of its canonical JSON (keys sorted by code unit) in
// which each large nested container (INLINE_VALUES values or more, or a long text) is written as
// its own tag instead: so a large container is hashed once, and tagging a value whose large
// subtrees were tagged before (by another request, another path, another held wait) costs only
// the rest. Those tags are remembered weakly by identity (a snapshot's values never change), and
// the work can be done in steps (`etagSteps`) so that a tag over a whole large document never
// holds the event loop.
import { createHash, hash, type Hash } from 'node:crypto';
import { hasLoneSurrogate, jsonTextWithoutLoneSurrogates, withoutLoneSurrogates } from './lone-surrogates.js';

/** A missing value's etag (a wait for a path to appear waits on it). */
export const ABSENT_ETAG = '';

/** Tags of large containers already computed, by identity. */
const known = new WeakMap<object, string>();
/** A nested container of fewer values, and of a short text, is written out in its parent's text. */
const INLINE_VALUES = 64;
const INLINE_CHARS = 4096;
/** Canonical text is fed to the hash in pieces of about this many characters. */
const PIECE = 16 * 1024;

function tagOfDigest(h: Hash): string {
  return h.digest().subarray(0, 16).toString('base64url');
}

/** The tag of a text: its SHA-256's first 16 bytes (one call: no Hash object). */
function tagOfText(text: string): string {
  return hash('sha256', text, 'buffer').subarray(0, 16).toString('base64url');
}

/** What canonical JSON writes for a scalar (undefined: null). */
function scalarText(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? 'null' : jsonTextWithoutLoneSurrogates(s);
}

/** The tag of a scalar: the hash of its JSON text (what canonical JSON writes for it). */
function scalarTag(v: unknown): string {
  return tagOfText(scalarText(v));
}

/**
 * The canonical text of a small container — fewer than INLINE_VALUES values in all (`c` counts
 * them as etagSteps does: each container, and each member or element, an undefined member too)
 * and a shorter text than INLINE_CHARS — the same text etagSteps hashes for it; undefined for
 * anything larger, holding a container already tagged, or a lone surrogate (whose escape the
 * text would show): those are left to etagSteps. Most answers are small: their tag is then one
 * string and one hash.
 */
function smallText(v: object, c: { work: number }): string | undefined {
  c.work++;
  const isArray = Array.isArray(v);
  // The default order is by UTF-16 code unit (byCodeUnit's), and the fastest sort.
  const keys = isArray ? undefined : Object.keys(v).sort();
  const n = isArray ? (v as unknown[]).length : (keys as string[]).length;
  let text = isArray ? '[' : '{';
  let wrote = false;
  for (let i = 0; i < n; i++) {
    const key = keys?.[i];
    const child = isArray ? (v as unknown[])[i] : (v as Record<string, unknown>)[key as string];
    let repr: string | undefined;
    if (child !== null && typeof child === 'object') {
      if (known.has(child)) return undefined;
      repr = smallText(child, c);
      if (repr === undefined) return undefined;
    } else {
      c.work++;
      // As in JSON: an undefined member is left out (and an undefined element is null).
      if (child === undefined && !isArray) continue;
      repr = JSON.stringify(child) ?? 'null';
    }
    if (c.work >= INLINE_VALUES) return undefined;
    if (wrote) text += ',';
    wrote = true;
    if (key !== undefined) text += JSON.stringify(key) + ':';
    text += repr;
    if (text.length >= INLINE_CHARS) return undefined;
  }
  return text + (isArray ? ']' : '}');
}

interface Frame {
  value: object;
  isArray: boolean;
  keys: string[] | undefined;
  n: number;
  i: number;
  /** Made once the text grows long: the text so far is fed to it. */
  hash: Hash | undefined;
  text: string;
  /** Values tagged under this container so far (itself included). */
  work: number;
  /** Whether an entry has been written (for the separator). */
  wrote: boolean;
}

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

function open(value: object): Frame {
  const isArray = Array.isArray(value);
  const keys = isArray ? undefined : sortedKeys(value);
  return { value, isArray, keys, n: isArray ? (value as unknown[]).length : (keys as string[]).length, i: 0, hash: undefined, text: isArray ? '[' : '{', work: 1, wrote: false };
}

/** An object's keys in canonical order: by code unit of the key as a client receives it (lone surrogates as U+FFFD). */
function sortedKeys(value: object): string[] {
  const keys = Object.keys(value);
  if (!keys.some(hasLoneSurrogate)) return keys.sort(byCodeUnit);
  return keys.sort((a, b) => byCodeUnit(withoutLoneSurrogates(a), withoutLoneSurrogates(b)));
}

/** Write one entry's text into its container's canonical text. */
function put(f: Frame, key: string | undefined, repr: string): void {
  if (f.wrote) f.text += ',';
  f.wrote = true;
  if (key !== undefined) f.text += jsonTextWithoutLoneSurrogates(JSON.stringify(key)) + ':';
  f.text += repr;
  if (f.text.length >= PIECE) {
    (f.hash ??= createHash('sha256')).update(f.text);
    f.text = '';
  }
}

/**
 * The tag of `value`, computed in steps: the generator yields after about `every` values, so a
 * caller can spread a large document's tag over several turns of the event loop.
 */
export function* etagSteps(value: unknown, every = 2048): Generator<void, string> {
  if (value === null || typeof value !== 'object') return scalarTag(value);
  const done = known.get(value);
  if (done !== undefined) return done;
  const stack: Frame[] = [open(value)];
  let budget = every;
  for (;;) {
    const f = stack[stack.length - 1];
    if (f.i === f.n) {
      f.text += f.isArray ? ']' : '}';
      stack.pop();
      const parent = stack[stack.length - 1];
      const inline = parent !== undefined && f.hash === undefined && f.work < INLINE_VALUES && f.text.length < INLINE_CHARS;
      let repr = f.text;
      if (!inline) {
        const tag = tagOfDigest((f.hash ?? createHash('sha256')).update(f.text));
        if (f.work >= INLINE_VALUES) known.set(f.value, tag);
        if (parent === undefined) return tag;
        repr = '#' + tag;
      }
      const p = parent as Frame;
      p.work += f.work;
      put(p, p.isArray ? undefined : (p.keys as string[])[p.i], repr);
      p.i++;
      continue;
    }
    const key = f.isArray ? undefined : (f.keys as string[])[f.i];
    const child = f.isArray ? (f.value as unknown[])[f.i] : (f.value as Record<string, unknown>)[key as string];
    if (--budget <= 0) {
      budget = every;
      yield;
    }
    if (child !== null && typeof child === 'object') {
      const tag = known.get(child);
      if (tag === undefined) {
        stack.push(open(child));
        continue;
      }
      put(f, key, '#' + tag);
    } else if (child === undefined && !f.isArray) {
      // As in JSON: an undefined member is left out (and an undefined element is null).
    } else {
      const s = JSON.stringify(child);
      put(f, key, s === undefined ? 'null' : jsonTextWithoutLoneSurrogates(s));
    }
    f.work++;
    f.i++;
  }
}

/** The tag of `value`, at once. */
export function etagOf(value: unknown): string {
  if (value !== null && typeof value === 'object') {
    const small = smallText(value, { work: 0 });
    if (small !== undefined && !small.includes('\\ud')) return tagOfText(small);
  }
  const gen = etagSteps(value, Infinity);
  for (;;) {
    const r = gen.next();
    if (r.done) return r.value;
  }
}

/** The tag of `value` if it is known or takes at most `maxValues` values to compute, else undefined. */
export function etagWithin(value: unknown, maxValues: number): string | undefined {
  const gen = etagSteps(value, maxValues);
  const r = gen.next();
  if (r.done) return r.value;
  gen.return('');
  return undefined;
}
