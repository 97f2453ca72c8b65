// Proofs against a document's commitment (shared/commitment.ts), and their checking: that a
// value is at a path of the signed document, that nothing is, or that a container has exactly the
// names a listing gives. The daemon makes them (daemon/commitment-tree.ts); the client checks
// every answer it accepts with these functions, so a daemon holding the HMAC key still cannot
// make it accept a value the publisher did not sign.
import {
  EMPTY_TREE_HASH,
  HASH_BYTES,
  byCodeUnit,
  containerHash,
  isJsonValue,
  leafHash,
  objectEntry,
  rootFromPath,
  treeRoot,
  valueHash,
  wholeHash,
} from './commitment.js';

/** One large container on the way: array or object, its entry count, the entry's index and audit path. */
export interface PathStep {
  array: boolean;
  n: number;
  i: number;
  path: Uint8Array[];
}

/** An entry next to an absent key: its index, key, child hash and audit path. */
export interface Neighbour {
  i: number;
  key: string;
  hash: Uint8Array;
  path: Uint8Array[];
}

export interface PathProof {
  steps: PathStep[];
  /** The path leaves the large containers at this value (small, or a scalar), given whole. */
  whole?: unknown;
  /** The next key is absent: an array's size and root, or an object's neighbours around the key. */
  absent?: { n: number; root?: Uint8Array; before?: Neighbour; after?: Neighbour };
  /** The value at the path is a large container: its size and root (when its answer is not given). */
  tree?: { n: number; root: Uint8Array };
}

export interface ListProof {
  /** A small container, given whole. */
  whole?: unknown;
  /** A large container: its children's hashes, in its tree's order (32 bytes each). */
  hashes?: Uint8Array;
  /** Whether that container is an array (its names alone may not say). */
  array?: boolean;
  /**
   * A listing deeper than one level: the proof of every child, by name (a scalar given whole,
   * so that no child can be passed off as having nothing below it). A Map: names such as
   * "__proto__" are data here.
   */
  below?: Map<string, ListProof>;
}

// ---------------------------------------------------------------------------------------------
// On the wire: MessagePack maps and arrays of short keys (docs/protocol.md, "Verified answers").

type Wire = Record<string, unknown>;

function bytes(v: unknown): Uint8Array | undefined {
  return v instanceof Uint8Array && v.length === HASH_BYTES ? v : undefined;
}

function hashList(v: unknown): Uint8Array[] | undefined {
  if (!Array.isArray(v) || v.length > 64) return undefined;
  const out: Uint8Array[] = [];
  for (const x of v) {
    const b = bytes(x);
    if (b === undefined) return undefined;
    out.push(b);
  }
  return out;
}

const count = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

export function pathProofToWire(p: PathProof): Wire {
  const w: Wire = { s: p.steps.map((s) => [s.array ? 'a' : 'o', s.n, s.i, s.path]) };
  if ('whole' in p) w.w = p.whole === undefined ? null : p.whole;
  if (p.absent) {
    const nb = (x: Neighbour | undefined) => (x === undefined ? null : [x.i, x.key, x.hash, x.path]);
    w.a = p.absent.root ? [p.absent.n, p.absent.root] : [p.absent.n, nb(p.absent.before), nb(p.absent.after)];
  }
  if (p.tree) w.t = [p.tree.n, p.tree.root];
  return w;
}

function neighbourFromWire(v: unknown): Neighbour | undefined | null {
  if (v === null) return undefined;
  if (!Array.isArray(v) || v.length !== 4 || !count(v[0]) || typeof v[1] !== 'string') return null;
  const hash = bytes(v[2]);
  const path = hashList(v[3]);
  return hash && path ? { i: v[0], key: v[1], hash, path } : null;
}

export function pathProofFromWire(w: unknown): PathProof | undefined {
  if (w === null || typeof w !== 'object' || Array.isArray(w)) return undefined;
  const o = w as Wire;
  if (!Array.isArray(o.s) || o.s.length > 600) return undefined;
  const steps: PathStep[] = [];
  for (const s of o.s) {
    if (!Array.isArray(s) || s.length !== 4 || (s[0] !== 'a' && s[0] !== 'o') || !count(s[1]) || !count(s[2])) return undefined;
    const path = hashList(s[3]);
    if (!path) return undefined;
    steps.push({ array: s[0] === 'a', n: s[1], i: s[2], path });
  }
  const p: PathProof = { steps };
  if ('w' in o) {
    if (!isJsonValue(o.w)) return undefined;
    p.whole = o.w;
  }
  if (o.a !== undefined) {
    const a = o.a;
    if (!Array.isArray(a) || !count(a[0])) return undefined;
    if (a.length === 2) {
      const root = bytes(a[1]);
      if (!root) return undefined;
      p.absent = { n: a[0], root };
    } else if (a.length === 3) {
      const before = neighbourFromWire(a[1]);
      const after = neighbourFromWire(a[2]);
      if (before === null || after === null) return undefined;
      p.absent = { n: a[0], before, after };
    } else return undefined;
  }
  if (o.t !== undefined) {
    const t = o.t;
    if (!Array.isArray(t) || t.length !== 2 || !count(t[0]) || !bytes(t[1])) return undefined;
    p.tree = { n: t[0], root: t[1] as Uint8Array };
  }
  return p;
}

export function listProofToWire(p: ListProof): Wire {
  const w: Wire = {};
  if ('whole' in p) w.w = p.whole === undefined ? null : p.whole;
  if (p.hashes) w.h = p.hashes;
  if (p.array) w.a = true;
  if (p.below) {
    const b: Wire = {};
    for (const [k, v] of p.below) Object.defineProperty(b, k, { value: listProofToWire(v), enumerable: true, writable: true, configurable: true });
    w.b = b;
  }
  return w;
}

export function listProofFromWire(w: unknown, depth = 0): ListProof | undefined {
  if (w === null || typeof w !== 'object' || Array.isArray(w) || depth > 16) return undefined;
  const o = w as Wire;
  const p: ListProof = {};
  if ('w' in o) {
    if (!isJsonValue(o.w)) return undefined;
    p.whole = o.w;
  }
  if (o.h !== undefined) {
    if (!(o.h instanceof Uint8Array) || o.h.length % HASH_BYTES !== 0) return undefined;
    p.hashes = o.h;
  }
  if (o.a === true) p.array = true;
  if (o.b !== undefined) {
    if (o.b === null || typeof o.b !== 'object' || Array.isArray(o.b)) return undefined;
    p.below = new Map();
    for (const [k, v] of Object.entries(o.b as Wire)) {
      const c = listProofFromWire(v, depth + 1);
      if (!c) return undefined;
      p.below.set(k, c);
    }
  }
  return p;
}

// ---------------------------------------------------------------------------------------------
// Checking.

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** What a path proof is checked against: the value found (and its hash), or nothing at the path. */
export type Claim = { found: true; value: unknown } | { found: false } | { found: true; hash: Uint8Array };

function resolve(v: unknown, segs: readonly string[]): { found: boolean; value: unknown } {
  let cur = v;
  for (const s of segs) {
    if (cur === null || typeof cur !== 'object') return { found: false, value: undefined };
    if (Array.isArray(cur)) {
      if (!ARRAY_INDEX.test(s) || Number(s) >= cur.length) return { found: false, value: undefined };
      cur = cur[Number(s)];
    } else {
      if (!Object.prototype.hasOwnProperty.call(cur, s)) return { found: false, value: undefined };
      cur = (cur as Record<string, unknown>)[s];
    }
  }
  return { found: true, value: cur };
}

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function eq(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.compare(a, b) === 0;
}

/** The hash of the node the steps lead to, given what the proof says is there (undefined: the claim fails). */
function endHash(p: PathProof, segments: readonly string[], claim: Claim): Uint8Array | undefined {
  const k = p.steps.length;
  const rest = segments.slice(k);
  if ('whole' in p) {
    // The rest of the path lies inside a value given whole.
    const r = resolve(p.whole, rest);
    if (claim.found !== r.found) return undefined;
    if ('value' in claim && !same(claim.value, r.value)) return undefined;
    if ('hash' in claim && !eq(claim.hash, valueHash(r.value).hash)) return undefined;
    return wholeHash(p.whole);
  }
  if (p.absent) {
    if (claim.found || rest.length === 0) return undefined;
    const seg = rest[0];
    const a = p.absent;
    if (a.root) {
      // An array: the index is not one of its n.
      if (ARRAY_INDEX.test(seg) && Number(seg) < a.n) return undefined;
      return containerHash(true, a.n, a.root);
    }
    // An object: the key falls between two adjacent entries (or before the first, after the last).
    let root: Uint8Array | undefined;
    const check = (x: Neighbour): boolean => {
      const r = rootFromPath(leafHash(objectEntry(x.key, x.hash)), x.i, a.n, x.path);
      if (r === undefined || (root !== undefined && !eq(root, r))) return false;
      root = r;
      return true;
    };
    const { before, after } = a;
    if (before && (!check(before) || byCodeUnit(before.key, seg) >= 0)) return undefined;
    if (after && (!check(after) || byCodeUnit(seg, after.key) >= 0)) return undefined;
    if (before && after && after.i !== before.i + 1) return undefined;
    if (!before && after && after.i !== 0) return undefined;
    if (before && !after && before.i !== a.n - 1) return undefined;
    if (!before && !after) {
      if (a.n !== 0) return undefined;
      root = EMPTY_TREE_HASH;
    }
    return containerHash(false, a.n, root as Uint8Array);
  }
  if (rest.length !== 0 || !claim.found) return undefined;
  if ('hash' in claim) return claim.hash;
  return valueHash(claim.value).hash;
}

/**
 * Whether `claim` holds at `segments` of the document whose commitment is `root`: the steps
 * fold the end's hash up through each large container to the root.
 */
export function verifyPath(root: Uint8Array, segments: readonly string[], p: PathProof, claim: Claim): boolean {
  // A step per segment at most: each step is a container the path goes through.
  if (p.steps.length > segments.length) return false;
  let h = endHash(p, segments, claim);
  if (h === undefined) return false;
  for (let j = p.steps.length - 1; j >= 0; j--) {
    const s = p.steps[j];
    const seg = segments[j];
    // An array's entry is its child's hash, at the index the segment names; an object's, the key and the hash.
    if (s.array && !(ARRAY_INDEX.test(seg) && Number(seg) === s.i)) return false;
    const r = rootFromPath(leafHash(s.array ? h : objectEntry(seg, h)), s.i, s.n, s.path);
    if (r === undefined) return false;
    h = containerHash(s.array, s.n, r);
  }
  return eq(h, root);
}

/**
 * The hash of a container from a listing of it to `depth`: `names` are the relative pointers
 * listed (depth 1: the children's names). Undefined when the proof does not fit the names.
 */
export function listedHash(isArray: boolean, names: readonly string[], p: ListProof, depth: number): Uint8Array | undefined {
  if ('whole' in p) {
    const w = p.whole;
    if (w === null || typeof w !== 'object' || Array.isArray(w) !== isArray) return undefined;
    // The same names (a deeper listing orders them as relative pointers, so compare sorted).
    if (!same(listing(w, depth).sort(byCodeUnit), [...names].sort(byCodeUnit))) return undefined;
    return wholeHash(w);
  }
  if (!p.hashes || (p.array === true) !== isArray) return undefined;
  // The children, and the names below each (a child's own name never holds a "/": it is escaped).
  const children: string[] = [];
  const below = new Map<string, string[]>();
  for (const name of names) {
    const slash = name.indexOf('/');
    if (slash < 0) {
      children.push(name);
      continue;
    }
    if (depth === 1) return undefined;
    const head = name.slice(0, slash);
    let l = below.get(head);
    if (!l) below.set(head, (l = []));
    l.push(name.slice(slash + 1));
  }
  // Names below a child that is not listed are names of nothing.
  const listed = new Set(children);
  for (const head of below.keys()) if (!listed.has(head)) return undefined;
  const unescaped = children.map(unescape);
  if (unescaped.includes(undefined)) return undefined;
  const childNames = unescaped as string[];
  const n = childNames.length;
  if (p.hashes.length !== n * HASH_BYTES) return undefined;
  // The tree's order: an array's indices 0..n-1 (a deeper listing sorts them as text), an
  // object's keys by code unit.
  const order = childNames.map((_, i) => i).sort(isArray ? (a, b) => Number(childNames[a]) - Number(childNames[b]) : (a, b) => byCodeUnit(childNames[a], childNames[b]));
  if (isArray && order.some((o, j) => childNames[o] !== String(j))) return undefined;
  const leaves: Uint8Array[] = [];
  for (let j = 0; j < n; j++) {
    const name = childNames[order[j]];
    const h: Uint8Array = p.hashes.subarray(j * HASH_BYTES, (j + 1) * HASH_BYTES);
    if (depth > 1) {
      // Every child is proven: what is below it is exactly what the listing names.
      const sub = p.below?.get(name);
      if (sub === undefined) return undefined;
      const hh = childHash(sub, below.get(children[order[j]]) ?? [], depth - 1);
      if (hh === undefined || !eq(hh, h)) return undefined;
    }
    leaves.push(leafHash(isArray ? h : objectEntry(name, h)));
  }
  return containerHash(isArray, n, treeRoot(leaves));
}

/** A listed child's hash from its proof: a scalar given whole has nothing below it. */
function childHash(sub: ListProof, names: readonly string[], depth: number): Uint8Array | undefined {
  if ('whole' in sub && (sub.whole === null || typeof sub.whole !== 'object')) return names.length === 0 ? wholeHash(sub.whole) : undefined;
  const isArray = 'whole' in sub ? Array.isArray(sub.whole) : sub.array === true;
  return listedHash(isArray, names, sub, depth);
}

/** The relative pointers a listing of `v` to `depth` gives (as the daemon makes them). */
function listing(v: unknown, depth: number, prefix?: string, out: string[] = []): string[] {
  if (v === null || typeof v !== 'object') return out;
  const keys = Array.isArray(v) ? v.map((_, i) => String(i)) : Object.keys(v).sort(byCodeUnit);
  for (const k of keys) {
    const rel = prefix === undefined ? escape(k) : `${prefix}/${escape(k)}`;
    out.push(rel);
    if (depth > 1) listing((v as Record<string, unknown>)[k], depth - 1, rel, out);
  }
  if (prefix === undefined && depth > 1) out.sort(byCodeUnit);
  return out;
}

function escape(s: string): string {
  return s.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** A listed name unescaped, or undefined when it is no escaped name (a "~" not followed by 0 or 1). */
function unescape(s: string): string | undefined {
  if (/~(?![01])/.test(s)) return undefined;
  return s.replace(/~1/g, '/').replace(/~0/g, '~');
}
