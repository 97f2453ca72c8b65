// A snapshot's commitment (shared/commitment.ts), built once when a signed document loads, and
// the proofs its answers carry: the hash of every large container and its Merkle tree kept (two
// hashes an entry), small values hashed again from their JSON text when a proof needs them.
// Proofs are made per answer and cached with the reply, like the answers themselves.
import {
  EMPTY_TREE_HASH,
  HASH_BYTES,
  byCodeUnit,
  containerHash,
  isWhole,
  leafHash,
  nodeHash,
  objectLeafHash,
  requireWellFormedKeys,
  smallCounts,
  wholeHash,
} from '../shared/commitment.js';
import type { ListProof, PathProof, PathStep } from '../shared/commitment-proof.js';
import { drain } from './slices.js';
import { sortedIndices } from './sort-steps.js';

/** A large container: its entries' keys (objects, sorted), and its tree, level by level. */
interface Tree {
  isArray: boolean;
  keys: string[] | undefined;
  /**
   * levels[0]: the entries' leaf hashes; each level above pairs the one below, an odd last one
   * carried up. Each level is one buffer of hashes end to end: a few objects a container, not a
   * few an entry, so a large document's commitment costs the garbage collector little.
   */
  levels: Buffer[];
  /** The entries' own hashes (the children's), in tree order, end to end. */
  children: Buffer;
  n: number;
  hash: Buffer;
}

interface Counted {
  values: number;
  units: number;
  /** Set for a large container (or computed on demand for a small value). */
  hash: Buffer | undefined;
}

/** Hash `i` of a buffer of hashes. */
function at(list: Buffer, i: number): Buffer {
  return list.subarray(i * HASH_BYTES, (i + 1) * HASH_BYTES);
}

function countOf(list: Buffer): number {
  return list.length / HASH_BYTES;
}

function rootOf(levels: Buffer[]): Buffer {
  const top = levels[levels.length - 1];
  return countOf(top) === 0 ? EMPTY_TREE_HASH : at(top, 0);
}

/** The audit path of leaf `i` (RFC 9162 inclusion proof): siblings from the bottom up. */
function auditPath(levels: Buffer[], i: number): Buffer[] {
  const path: Buffer[] = [];
  for (let l = 0; l < levels.length - 1; l++) {
    const sib = i ^ 1;
    if (sib < countOf(levels[l])) path.push(at(levels[l], sib));
    i >>= 1;
  }
  return path;
}

/** The index of the first key not below `k` (binary search over sorted keys). */
function lowerBound(keys: readonly string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid] < k) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const ARRAY_INDEX = /^(0|[1-9][0-9]*)$/;

/** Values counted between yields while a tree is built in steps (a few milliseconds' work). */
const VALUES_PER_STEP = 2048;

/** Builds a document's trees: a step generator, so a large document is committed in slices. */
class Builder {
  readonly trees = new Map<object, Tree>();
  private work = 0;

  /** Count a value's subtree; large containers get their tree (and hash) made here. */
  *count(v: unknown): Generator<void, Counted> {
    if (v === null || typeof v !== 'object') return scalar(v);
    const isArray = Array.isArray(v);
    const keys = isArray ? undefined : Object.keys(v);
    const n = isArray ? (v as unknown[]).length : (keys as string[]).length;
    let values = 1;
    let units = 0;
    const counted: Counted[] = new Array(n);
    for (let i = 0; i < n; i++) {
      const k = keys?.[i];
      const child = isArray ? (v as unknown[])[i] : (v as Record<string, unknown>)[k as string];
      // Scalars and small containers counted at once (most of a document): a generator per
      // value would cost more than the counting. Only a large container is counted in steps.
      const c = child !== null && typeof child === 'object' ? (smallCounted(child) ?? (yield* this.count(child))) : scalar(child);
      counted[i] = c;
      values += c.values;
      units += c.units + (k?.length ?? 0);
      this.work += c.values;
      if (this.work >= VALUES_PER_STEP) {
        this.work = 0;
        yield;
      }
    }
    if (isWhole(values, units)) return { values, units, hash: undefined };
    // Large: a tree over the entries, objects' keys sorted.
    if (keys) requireWellFormedKeys(keys);
    const order = isArray ? undefined : yield* sortedIndices(keys as string[], byCodeUnit, VALUES_PER_STEP);
    const sortedKeys = order && Array.from(order, (i) => (keys as string[])[i]);
    const children = Buffer.allocUnsafe(n * HASH_BYTES);
    const leaves = Buffer.allocUnsafe(n * HASH_BYTES);
    for (let j = 0; j < n; j++) {
      const i = order ? order[j] : j;
      const child = isArray ? (v as unknown[])[i] : (v as Record<string, unknown>)[(sortedKeys as string[])[j]];
      const h = counted[i].hash ?? wholeHash(child);
      children.set(h, j * HASH_BYTES);
      leaves.set(sortedKeys ? objectLeafHash(sortedKeys[j], h) : leafHash(h), j * HASH_BYTES);
      // A small value's hash is its JSON text's: bounded, but many of them are work too.
      if (++this.work % VALUES_PER_STEP === 0) yield;
    }
    const levels = yield* this.levelsOf(leaves);
    const hash = containerHash(isArray, n, rootOf(levels));
    this.trees.set(v as object, { isArray, keys: sortedKeys, levels, children, n, hash });
    return { values, units, hash };
  }

  /** A tree's levels above its leaves, in steps too: a large container's are as many hashes again. */
  private *levelsOf(leaves: Buffer): Generator<void, Buffer[]> {
    const levels = [leaves];
    let cur = leaves;
    let m = countOf(cur);
    while (m > 1) {
      const half = m >> 1;
      const next = Buffer.allocUnsafe((half + (m & 1)) * HASH_BYTES);
      for (let i = 0; i < half; i++) {
        next.set(nodeHash(at(cur, 2 * i), at(cur, 2 * i + 1)), i * HASH_BYTES);
        if (++this.work % VALUES_PER_STEP === 0) yield;
      }
      if (m & 1) next.set(at(cur, m - 1), half * HASH_BYTES);
      levels.push(next);
      cur = next;
      m = countOf(cur);
    }
    return levels;
  }
}

/** A small container's counts (it is hashed whole), or undefined when it is large. */
function smallCounted(v: object): Counted | undefined {
  const c = smallCounts(v);
  return c === undefined ? undefined : { values: c.values, units: c.units, hash: undefined };
}

function scalar(v: unknown): Counted {
  return { values: 1, units: typeof v === 'string' ? v.length : 0, hash: undefined };
}

export class CommitmentTree {
  private constructor(
    readonly root: Buffer,
    private readonly trees: Map<object, Tree>,
  ) {}

  /** The commitment of `doc`, built in steps (run them sliced where requests must keep flowing). */
  static *build(doc: unknown): Generator<void, CommitmentTree> {
    const b = new Builder();
    const c = yield* b.count(doc);
    return new CommitmentTree(c.hash ?? wholeHash(doc), b.trees);
  }

  /** The commitment of `doc`, built at once (tests, tools, small documents). */
  static of(doc: unknown): CommitmentTree {
    return drain(CommitmentTree.build(doc));
  }

  /** The hash of a value of the document (its tree's, or its JSON text's). */
  private hashOfValue(v: unknown): Buffer {
    return (v !== null && typeof v === 'object' && this.trees.get(v)?.hash) || wholeHash(v);
  }

  /**
   * The proof for the value at `segments` (or its absence): a step per large container on the
   * way, ending where the path leaves the large containers (a small value given whole) or ends.
   */
  provePath(doc: unknown, segments: readonly string[]): PathProof {
    const steps: PathStep[] = [];
    let cur: unknown = doc;
    for (let s = 0; s < segments.length; s++) {
      const t = cur !== null && typeof cur === 'object' ? this.trees.get(cur) : undefined;
      // A small value (or a scalar) holds the rest of the path: it is the proof's end.
      if (t === undefined) return { steps, whole: cur };
      const seg = segments[s];
      const n = t.n;
      if (t.isArray) {
        const i = ARRAY_INDEX.test(seg) ? Number(seg) : -1;
        if (i < 0 || i >= n) return { steps, absent: { n, root: rootOf(t.levels) } };
        steps.push({ array: true, n, i, path: auditPath(t.levels, i) });
        cur = (cur as unknown[])[i];
        continue;
      }
      const keys = t.keys as string[];
      const i = lowerBound(keys, seg);
      if (i === n || keys[i] !== seg) {
        const neighbour = (j: number) => ({ i: j, key: keys[j], hash: at(t.children, j), path: auditPath(t.levels, j) });
        return { steps, absent: { n, before: i > 0 ? neighbour(i - 1) : undefined, after: i < n ? neighbour(i) : undefined } };
      }
      steps.push({ array: false, n, i, path: auditPath(t.levels, i) });
      cur = (cur as Record<string, unknown>)[seg];
    }
    const t = cur !== null && typeof cur === 'object' ? this.trees.get(cur) : undefined;
    return t === undefined ? { steps } : { steps, tree: { n: t.n, root: rootOf(t.levels) } };
  }

  /**
   * The proof of a listing of `value` to `depth`: for a large container, its children's hashes
   * (the names come with the answer) and the proofs of the children listed further; a small
   * container is given whole.
   */
  proveList(value: unknown, depth: number): ListProof {
    const t = value !== null && typeof value === 'object' ? this.trees.get(value) : undefined;
    if (t === undefined) return { whole: value };
    const hashes = t.children;
    const array = t.isArray ? { array: true } : {};
    if (depth <= 1) return { hashes, ...array };
    // Every child's proof, scalars too: the client learns that nothing is below them.
    const below = new Map<string, ListProof>();
    for (let j = 0; j < t.n; j++) {
      const k = t.isArray ? String(j) : (t.keys as string[])[j];
      below.set(k, this.proveList((value as Record<string, unknown>)[k], depth - 1));
    }
    return { hashes, ...array, below };
  }

  /** The hash of `v` as the commitment has it (for tests and tools). */
  hashFor(v: unknown): Buffer {
    return this.hashOfValue(v);
  }
}
