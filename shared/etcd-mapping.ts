/**
 * Pure mapping between an etcd key prefix and a qconf JSON document (no I/O).
 *
 * Key space
 * ---------
 * For a prefix `P` (trailing `/`s ignored, so `/qconf/app` and `/qconf/app/` are the same) the
 * document lives under the keys `P/<seg>/<seg>/...`; `etcdKeyPrefix(P)` returns `P/`, the
 * range/watch prefix a source must use (NOT `P`, which would also match `/qconf/app2/...`).
 * The key `P/a/b` holds the JSON text of the value at RFC 6901 pointer `/a/b`: each `/`-separated
 * segment after `P/` is one pointer segment, escaped as in RFC 6901 (`~1` = `/`, `~0` = `~`).
 *
 * Reading (kvsToDocument)
 * -----------------------
 *  - `bad_key`: the key is not under `P/`, has an empty segment (`P/`, `P//x`, `P/a/`, ...), has
 *    a `~` not followed by `0` or `1`, or the same key appears twice with different values (etcd
 *    never returns duplicates; this keeps the function order-independent for any input).
 *  - `too_deep` (only with a `maxDepth`, which the daemon sets to its document depth limit): the
 *    key's path has more segments than `maxDepth`, or its value nests so deep that the document
 *    would be deeper than `maxDepth` (the root object is depth 1, a key with n segments puts its
 *    value inside n objects, and a value's own objects and arrays add theirs). Decided from the
 *    key and the value's text alone, before the value is parsed (nesting is measured by a scan of
 *    the text that skips strings), so a value that is both too deep and not JSON is `too_deep`.
 *  - `not_json`: the value is not valid JSON text (`JSON.parse` fails).
 *  - Every other key is a LEAF holding one JSON value of any type: string, number, boolean,
 *    null, array, and also an object ("object leaf": the object is stored whole in one key).
 *  - `leaf_parent_conflict`, rule "THE SUBTREE WINS": a valid key whose path is a proper prefix
 *    of another valid key's path (e.g. `P/a` = `1` while `P/a/b` exists) is skipped; the deeper
 *    keys build the object at that path. Equivalently, the kept keys are exactly the valid keys
 *    that have no valid key below them. That set is a function of the SET of valid keys only, so
 *    every replica holding the same kvs skips the same keys, whatever order they arrive in.
 *    Object leaves are NOT merged with keys below them: they lose like any other leaf (so
 *    `P/a` = `{"x":1}` plus `P/a/y` = `2` gives `{"a":{"y":2}}` and skips `P/a`). Keys skipped as
 *    `bad_key`/`not_json` do not count as "keys below" (`P/a` = `1` with `P/a/b` = `oops` keeps
 *    `a: 1`; `too_deep` keys do not count either).
 *  - Output is canonical: every object (including objects inside leaf values and arrays) is
 *    built with its keys inserted in ascending UTF-16 code-unit order, so replicas with the same
 *    kvs produce byte-identical `JSON.stringify` output (as always in JS, integer-like keys such
 *    as "0", "10" are enumerated first, in numeric order; that is deterministic too). `skipped`
 *    is sorted by key, then reason. Keys such as `__proto__` are created as own data properties.
 *
 * Writing (documentToKvs), the inverse used by `publish`
 * -----------------------------------------------------
 *  - An object is split into one key per member; any other value is one key holding its compact
 *    `JSON.stringify` text.
 *  - An EMPTY object becomes one key holding `{}` (an object leaf), so it survives the round trip.
 *  - An object having a member name that cannot be a key segment (the empty string, or a string
 *    with unpaired UTF-16 surrogates, which would not survive etcd's UTF-8 keys) is written
 *    whole, as one object leaf at its own key.
 *  - The top-level document must be an object whose member names can all be segments (the root
 *    has no key of its own); otherwise documentToKvs throws a RangeError.
 *  Round trip: `kvsToDocument(P, documentToKvs(P, doc)).doc` deep-equals `doc`, with nothing
 *  skipped, for every such JSON object `doc` (property-tested in test/etcd/mapping.test.ts).
 *
 * Serial (serialFromRevision)
 * ---------------------------
 * See the comment on serialFromRevision.
 */

import { depthBeyondText } from './json-depth.js';

export type SkipReason = 'not_json' | 'leaf_parent_conflict' | 'bad_key' | 'too_deep';

export interface SkippedKey {
  key: string;
  reason: SkipReason;
}

export interface KvsToDocumentResult {
  doc: Record<string, unknown>;
  skipped: SkippedKey[];
}

/** The etcd key prefix of the document's key space: `P` without trailing `/`s, plus one `/`. */
export function etcdKeyPrefix(prefix: string): string {
  return `${prefix.replace(/\/+$/, '')}/`;
}

/** RFC 6901 segment escaping: `~` -> `~0`, then `/` -> `~1`. */
export function escapeSegment(segment: string): string {
  return segment.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** RFC 6901 segment unescaping; null if the segment holds a `~` not followed by `0`/`1`. */
export function unescapeSegment(raw: string): string | null {
  if (/~(?![01])/.test(raw)) return null;
  // One pass, so `~01` becomes `~1` (not `/`), as RFC 6901 requires.
  return raw.replace(/~[01]/g, (m) => (m === '~0' ? '~' : '/'));
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Whether a member name can be one key segment (non-empty, well-formed UTF-16). */
export function isEncodableSegment(name: string): boolean {
  return name.length > 0 && !LONE_SURROGATE.test(name);
}

/** The path (unescaped segments) of an etcd key under `prefix`, or null for a bad key. */
export function pathForKey(prefix: string, key: string): string[] | null {
  const p = etcdKeyPrefix(prefix);
  if (!key.startsWith(p)) return null;
  const raws = key.slice(p.length).split('/');
  const path: string[] = [];
  for (const raw of raws) {
    if (raw.length === 0) return null;
    const seg = unescapeSegment(raw);
    if (seg === null) return null;
    path.push(seg);
  }
  return path;
}

/** JSON.pointer string (RFC 6901) for a path, e.g. ['a', 'b/c'] -> '/a/b~1c'. */
export function pointerForPath(path: readonly string[]): string {
  return path.map((s) => `/${escapeSegment(s)}`).join('');
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** Deep copy with every object's keys inserted in code-unit order (own data properties only). */
export function canonicalize(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonicalize);
  if (isPlainObject(v)) {
    const keys = Object.keys(v).sort(byCodeUnits);
    // Object.fromEntries uses CreateDataProperty, so "__proto__" stays an ordinary own key.
    return Object.fromEntries(keys.map((k) => [k, canonicalize(v[k])]));
  }
  return v;
}

interface TrieNode {
  children: Map<string, TrieNode>;
  /** The kept leaf at exactly this path, if any. */
  leaf?: { key: string; value: unknown };
}

/** Whether a key of path `path` holding the JSON text `value` keeps a document within `maxDepth` levels. */
export function withinDepth(path: readonly string[], value: string, maxDepth: number): boolean {
  return path.length <= maxDepth && (maxDepth === Infinity || depthBeyondText(value, maxDepth - path.length) < 0);
}

/**
 * Builds the document from the kvs under `prefix` (see the module comment for the rules).
 * Pure and order-independent: any permutation of `kvs` gives the same `doc` and `skipped`.
 * Keys that would nest the document deeper than `maxDepth` are skipped (`too_deep`).
 */
export function kvsToDocument(prefix: string, kvs: Iterable<{ key: string; value: string }>, maxDepth = Infinity): KvsToDocumentResult {
  const skipped: SkippedKey[] = [];

  // 1. Deduplicate by key (identical duplicates collapse; conflicting ones are bad keys).
  const byKey = new Map<string, string | null>(); // null = conflicting duplicate
  for (const { key, value } of kvs) {
    if (!byKey.has(key)) byKey.set(key, value);
    else if (byKey.get(key) !== value) byKey.set(key, null);
  }

  // 2. Parse keys and values; keep the valid ones.
  const valid: Array<{ key: string; path: string[]; value: unknown }> = [];
  for (const [key, text] of byKey) {
    const path = text === null ? null : pathForKey(prefix, key);
    if (text === null || path === null) {
      skipped.push({ key, reason: 'bad_key' });
      continue;
    }
    if (!withinDepth(path, text, maxDepth)) {
      skipped.push({ key, reason: 'too_deep' });
      continue;
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      skipped.push({ key, reason: 'not_json' });
      continue;
    }
    valid.push({ key, path, value });
  }

  // 3. Insert every valid path into a trie. A leaf that ends at a node with children has a
  //    valid key below it: the subtree wins, the leaf is skipped.
  const root: TrieNode = { children: new Map() };
  for (const { key, path, value } of valid) {
    let node = root;
    for (const seg of path) {
      let next = node.children.get(seg);
      if (!next) {
        next = { children: new Map() };
        node.children.set(seg, next);
      }
      node = next;
    }
    node.leaf = { key, value };
  }
  const build = (node: TrieNode): Record<string, unknown> => {
    const names = [...node.children.keys()].sort(byCodeUnits);
    const entries: Array<[string, unknown]> = [];
    for (const name of names) {
      const child = node.children.get(name)!;
      if (child.children.size > 0) {
        if (child.leaf) skipped.push({ key: child.leaf.key, reason: 'leaf_parent_conflict' });
        entries.push([name, build(child)]);
      } else {
        entries.push([name, canonicalize(child.leaf!.value)]);
      }
    }
    return Object.fromEntries(entries);
  };
  const doc = build(root);

  skipped.sort((a, b) => byCodeUnits(a.key, b.key) || byCodeUnits(a.reason, b.reason));
  return { doc, skipped };
}

/**
 * The kvs that represent `doc` under `prefix` (see the module comment), as key -> JSON text,
 * in ascending key order. Throws RangeError if `doc` is not a plain object or has a top-level
 * member name that cannot be a key segment ("" or unpaired surrogates).
 */
export function documentToKvs(prefix: string, doc: Record<string, unknown>): Map<string, string> {
  if (!isPlainObject(doc)) throw new RangeError('the document must be a JSON object');
  for (const name of Object.keys(doc)) {
    if (!isEncodableSegment(name)) {
      throw new RangeError(`top-level member name ${JSON.stringify(name)} cannot be an etcd key segment`);
    }
  }
  const out: Array<[string, string]> = [];
  const base = etcdKeyPrefix(prefix);
  const walk = (obj: Record<string, unknown>, keyPrefix: string): void => {
    for (const name of Object.keys(obj).sort(byCodeUnits)) {
      const v = obj[name];
      if (v === undefined || typeof v === 'function' || typeof v === 'symbol' || typeof v === 'bigint') {
        throw new RangeError(`value at ${keyPrefix}${escapeSegment(name)} is not JSON`);
      }
      const key = keyPrefix + escapeSegment(name);
      if (isPlainObject(v) && Object.keys(v).length > 0 && Object.keys(v).every(isEncodableSegment)) {
        walk(v, `${key}/`);
      } else {
        out.push([key, JSON.stringify(canonicalize(v))]);
      }
    }
  };
  walk(doc, base);
  out.sort((a, b) => byCodeUnits(a[0], b[0]));
  return new Map(out);
}

/**
 * The replica serial for a snapshot that reflects the prefix as of etcd store revision `rev`.
 *
 * Which revision to pass (the contract a mirroring source must follow):
 *  - after the initial (or any re-)range read of `etcdKeyPrefix(P)`: the response's
 *    `header.revision` (the store revision the read was served at);
 *  - after applying a watch response that carries events: the `mod_revision` of the LAST event
 *    applied (for a delete event etcd reports the deletion revision there);
 *  - never after watch responses without events (progress notifications, which etcd3 requests
 *    by default, or a created response): their header revision moves with writes OUTSIDE the
 *    prefix and with timing, so replicas that applied the same events would disagree.
 *
 * Why not "max mod_revision of the live keys" after a range read: deletes leave no live key, so
 * that value can be lower than the revision of the last applied delete event. A replica forced
 * to re-read after ErrCompacted (or a restart) would then report a SMALLER serial than before, and
 * a watching replica and a freshly read one would disagree. The header revision of a range read
 * is >= every revision ever applied (linearizable read), and after ErrCompacted it is >= the
 * compact revision > anything the stale watcher applied, so the serial never decreases.
 * Event revisions are strictly increasing, so the serial only grows while watching. Put events
 * that do not change the document (same value written again, an invalid key or value that is
 * skipped) still advance the serial; every replica sees those events, so they stay in agreement.
 * Caveat: two replicas that bootstrapped at different header revisions with no prefix event in
 * between report different serials for the same document until the next prefix event.
 *
 * Revisions arrive as decimal strings from the etcd3 client (int64); a serial is a JS number,
 * so the revision must be a non-negative safe integer (2^53 revisions is far beyond reach).
 */
export function serialFromRevision(rev: string | number | bigint): number {
  let n: number;
  if (typeof rev === 'bigint') {
    if (rev < 0n || rev > BigInt(Number.MAX_SAFE_INTEGER)) throw new RangeError(`etcd revision out of range: ${rev}`);
    n = Number(rev);
  } else if (typeof rev === 'string') {
    if (!/^[0-9]+$/.test(rev)) throw new RangeError(`not an etcd revision: ${JSON.stringify(rev)}`);
    n = Number(rev);
  } else {
    n = rev;
  }
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`etcd revision out of range: ${String(rev)}`);
  return n;
}
