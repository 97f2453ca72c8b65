// The commitment a publisher signs (docs/protocol.md, "Verified answers"): one hash over a JSON
// document, built so that any part of it, or the absence of a key, can be proven against it with
// a short proof. Small values are hashed whole, from their JSON text; a large object or array
// is a Merkle tree (RFC 9162's tree hash) over its entries, objects' entries sorted by key, so a
// lookup's proof grows with the logarithm of each container's size and an absent key is proven
// by its two neighbours (as DNSSEC's NSEC does). Both sides need these rules: the daemon builds
// the tree once per snapshot, the client recomputes hashes of the answers it receives.
import { hash } from 'node:crypto';
import { QconfError } from './errors.js';
import { ShortSha256 } from './fast-hmac.js';
import { hasLoneSurrogate, jsonTextWithoutLoneSurrogates } from './lone-surrogates.js';

export const HASH_BYTES = 32;

/** Domain separation: what each hash is of (RFC 9162 uses 0x00 and 0x01 for its tree). */
const MTH_LEAF = 0x00;
const MTH_NODE = 0x01;
const VALUE = 0x02;
const CONTAINER = 0x03;
const VALUE_PREFIX = String.fromCharCode(VALUE);

/**
 * A container at most this large (values in its subtree, itself included) and with at most
 * STRING_UNITS code units of keys and strings in it is hashed whole, from its JSON text; a larger
 * one is a tree over its entries.
 */
export const WHOLE_VALUES = 128;
export const WHOLE_STRING_UNITS = 4096;

export function sha256(...parts: Uint8Array[]): Buffer {
  return hash('sha256', parts.length === 1 ? parts[0] : Buffer.concat(parts), 'buffer');
}

/** The root of a tree of no entries (RFC 9162: the hash of nothing). */
export const EMPTY_TREE_HASH = sha256(new Uint8Array(0));

/**
 * Whether `v` is a JSON value and nothing else: null, a boolean, a finite number, a string, or
 * arrays and plain objects of those. What a commitment is defined over: a decoded MessagePack
 * value may also be undefined, NaN, ±Infinity or bytes, which JSON text cannot tell from null or
 * from an absent member, so an answer or a proof holding one is no JSON value and proves nothing.
 */
export function isJsonValue(v: unknown, depth = 0): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (typeof v !== 'object' || depth > 10_000) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!isJsonValue(v[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  for (const k in v) if (!isJsonValue((v as Record<string, unknown>)[k], depth + 1)) return false;
  return true;
}

/**
 * The hash of a value hashed whole: its JSON text (JSON.stringify: keys in the value's own
 * order). A lone surrogate reaches a client as U+FFFD (MessagePack strings are UTF-8), so it is
 * hashed as one: both sides hash the text the client can see.
 */
export function wholeHash(value: unknown): Buffer {
  const text = jsonTextWithoutLoneSurrogates(JSON.stringify(value) ?? 'null');
  // The VALUE byte is U+0002 in UTF-8: one string, hashed as its UTF-8 bytes (well-formed now).
  return hash('sha256', VALUE_PREFIX + text, 'buffer');
}

/** The data of an object entry in its container's tree: key length (u32), key (UTF-8), child hash. */
export function objectEntry(key: string, child: Uint8Array): Buffer {
  const k = Buffer.from(key, 'utf8');
  const b = Buffer.allocUnsafe(4 + k.length + HASH_BYTES);
  b.writeUInt32BE(k.length, 0);
  k.copy(b, 4);
  b.set(child, 4 + k.length);
  return b;
}

// Leaves and nodes are a few dozen bytes: hashed in plain TypeScript (one hasher, used within
// each call), where a node:crypto call would cost several times the hashing.
const SHORT = new ShortSha256();
const LEAF_PREFIX = new Uint8Array([MTH_LEAF]);
const NODE_PREFIX = new Uint8Array([MTH_NODE]);

export function leafHash(entry: Uint8Array): Buffer {
  return SHORT.begin().update(LEAF_PREFIX).update(entry).digest();
}

/** leafHash(objectEntry(key, child)), in one buffer. */
export function objectLeafHash(key: string, child: Uint8Array): Buffer {
  const klen = Buffer.byteLength(key, 'utf8');
  const b = Buffer.allocUnsafe(5 + klen + HASH_BYTES);
  b[0] = MTH_LEAF;
  b.writeUInt32BE(klen, 1);
  b.write(key, 5, 'utf8');
  b.set(child, 5 + klen);
  return SHORT.begin().update(b).digest();
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return SHORT.begin().update(NODE_PREFIX).update(left).update(right).digest();
}

/** The hash of a container that is a tree: its kind, its entry count and its tree's root. */
export function containerHash(isArray: boolean, n: number, root: Uint8Array): Buffer {
  const head = Buffer.allocUnsafe(6);
  head[0] = CONTAINER;
  head[1] = isArray ? 0x61 : 0x6f;
  head.writeUInt32BE(n, 2);
  return sha256(head, root);
}

/** The largest power of two below n (n ≥ 2): where RFC 9162 splits a tree of n leaves. */
export function split(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** RFC 9162's Merkle tree hash of leaf hashes [lo, hi). */
export function treeRoot(leaves: readonly Uint8Array[], lo = 0, hi = leaves.length): Buffer {
  const n = hi - lo;
  if (n === 0) return EMPTY_TREE_HASH;
  if (n === 1) return Buffer.from(leaves[lo]);
  const k = split(n);
  return nodeHash(treeRoot(leaves, lo, lo + k), treeRoot(leaves, lo + k, hi));
}

/** The root an inclusion proof (RFC 9162 2.1.3.2) gives for leaf `index` of `n`, or undefined if malformed. */
export function rootFromPath(leaf: Uint8Array, index: number, n: number, path: readonly Uint8Array[]): Buffer | undefined {
  if (!Number.isInteger(index) || !Number.isInteger(n) || index < 0 || index >= n) return undefined;
  let fn = index;
  let sn = n - 1;
  let r: Buffer = Buffer.from(leaf);
  for (const p of path) {
    if (p.length !== HASH_BYTES || sn === 0) return undefined;
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn === 0 ? r : undefined;
}

/** Whether a container is hashed whole (the rule both sides apply), from its subtree's counts. */
export function isWhole(values: number, stringUnits: number): boolean {
  return values <= WHOLE_VALUES && stringUnits <= WHOLE_STRING_UNITS;
}

/** Keys in the order a container's tree holds them: by UTF-16 code unit. */
export const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/**
 * A large object's keys must be well-formed Unicode: a lone surrogate reaches a client as U+FFFD
 * (MessagePack strings are UTF-8), which sorts elsewhere than the key the tree was built with,
 * so no proof about such a key, nor about an absent key beside it, would hold. Throws (code
 * `document`, naming the key) rather than commit to a tree whose order clients cannot check.
 */

export function requireWellFormedKeys(keys: readonly string[]): void {
  for (const k of keys) {
    if (hasLoneSurrogate(k)) throw new QconfError('document', `the key ${JSON.stringify(k)} has a lone surrogate: a signed document's keys must be well-formed Unicode`);
  }
}

/**
 * The counts of a value's subtree (values, itself included, and code units of keys and
 * strings) if it is small enough to be hashed whole, else undefined: the walk stops as soon as
 * either count is over, so deciding costs a bounded number of values.
 */
export function smallCounts(value: unknown): { values: number; units: number } | undefined {
  const c = { values: 0, units: 0 };
  return countWithin(value, c) && isWhole(c.values, c.units) ? c : undefined;
}

function countWithin(v: unknown, c: { values: number; units: number }): boolean {
  c.values++;
  if (typeof v === 'string') c.units += v.length;
  if (c.values > WHOLE_VALUES || c.units > WHOLE_STRING_UNITS) return false;
  if (v === null || typeof v !== 'object') return true;
  if (Array.isArray(v)) {
    for (const x of v) if (!countWithin(x, c)) return false;
    return true;
  }
  for (const k of Object.keys(v)) {
    c.units += k.length;
    if (!countWithin((v as Record<string, unknown>)[k], c)) return false;
  }
  return true;
}

/**
 * The hash of a value under the rules above, computed from the value alone (a client checks an
 * answer with it). Returns the counts too, for the caller's own decision one level up. A small
 * container is hashed whole without hashing what is in it: a client's answers are mostly such.
 */
export function valueHash(value: unknown): { hash: Buffer; values: number; units: number } {
  if (value === null || typeof value !== 'object') {
    return { hash: wholeHash(value), values: 1, units: typeof value === 'string' ? value.length : 0 };
  }
  const small = smallCounts(value);
  if (small) return { hash: wholeHash(value), ...small };
  const isArray = Array.isArray(value);
  const keys = isArray ? undefined : Object.keys(value).sort(byCodeUnit);
  if (keys) requireWellFormedKeys(keys);
  const n = isArray ? (value as unknown[]).length : (keys as string[]).length;
  let values = 1;
  let units = 0;
  const children: Buffer[] = new Array(n);
  for (let i = 0; i < n; i++) {
    const k = keys?.[i];
    const child = isArray ? (value as unknown[])[i] : (value as Record<string, unknown>)[k as string];
    const h = valueHash(child);
    values += h.values;
    units += h.units + (k?.length ?? 0);
    children[i] = h.hash;
  }
  // Larger than whole in its counts (smallCounts said so): a tree over its entries.
  const leaves = children.map((c, i) => leafHash(isArray ? c : objectEntry((keys as string[])[i], c)));
  return { hash: containerHash(isArray, n, treeRoot(leaves)), values, units };
}
