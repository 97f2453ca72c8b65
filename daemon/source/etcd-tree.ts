// The etcd replica's document, maintained incrementally: each put or delete touches only the
// nodes on its key's path, and building the document reuses every untouched subtree from the
// previous build (snapshots are immutable, so sharing them is safe). The result equals
// kvsToDocument over the same keys and depth limit (shared/etcd-mapping.ts states the rules; a
// property test checks the equality). Keys that would nest the document deeper than
// MAX_DOCUMENT_DEPTH are skipped (`too_deep`): building the document, and everything the daemon
// does with it, walks it recursively.
import { canonicalize, pathForKey, withinDepth, type SkipReason, type SkippedKey } from '../../shared/etcd-mapping.js';
import { MAX_DOCUMENT_DEPTH } from './document-limits.js';

interface Node {
  children: Map<string, Node>;
  leaf?: { key: string; value: unknown };
  /** The built value of this subtree, until something below changes. */
  built?: Record<string, unknown>;
  /** Child names in code-unit order, until a child is added or removed. */
  names?: string[];
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

export class EtcdTree {
  private readonly root: Node = { children: new Map() };
  private readonly raw = new Map<string, string>();
  /** Keys that never enter the tree: bad keys, keys too deep and values that are not JSON. */
  private readonly invalid = new Map<string, SkipReason>();
  /** Leaves hidden by keys below them (the subtree wins). */
  private readonly conflicts = new Set<string>();

  /** The UTF-8 bytes of every key and value held: what the replica's size limit counts. */
  private bytes = 0;

  constructor(
    private readonly prefix: string,
    private readonly maxDepth = MAX_DOCUMENT_DEPTH,
  ) {}

  get size(): number {
    return this.raw.size;
  }

  /** The UTF-8 bytes of every key and value held (skipped ones too). */
  get sizeBytes(): number {
    return this.bytes;
  }

  entries(): Array<[string, string]> {
    return [...this.raw];
  }

  /** Set a key; returns whether anything changed. */
  put(key: string, value: string): boolean {
    if (this.raw.get(key) === value) return false;
    this.remove(key);
    this.raw.set(key, value);
    this.bytes += Buffer.byteLength(key) + Buffer.byteLength(value);
    const path = pathForKey(this.prefix, key);
    if (path === null) {
      this.invalid.set(key, 'bad_key');
      return true;
    }
    if (!withinDepth(path, value, this.maxDepth)) {
      this.invalid.set(key, 'too_deep');
      return true;
    }
    let parsed: unknown;
    try {
      parsed = canonicalize(JSON.parse(value));
    } catch {
      this.invalid.set(key, 'not_json');
      return true;
    }
    const nodes: Node[] = [this.root];
    let node = this.root;
    for (const seg of path) {
      let next = node.children.get(seg);
      if (!next) {
        next = { children: new Map() };
        node.children.set(seg, next);
        node.names = undefined;
      }
      node = next;
      nodes.push(node);
    }
    node.leaf = { key, value: parsed };
    this.touch(nodes);
    return true;
  }

  /** Remove a key; returns whether it was there. */
  delete(key: string): boolean {
    if (!this.raw.has(key)) return false;
    this.remove(key);
    return true;
  }

  /** Make the tree hold exactly `kvs` (a re-read), changing only what differs. */
  replaceAll(kvs: Iterable<[string, string]>): boolean {
    const next = new Map(kvs);
    let changed = false;
    for (const key of [...this.raw.keys()]) if (!next.has(key)) changed = this.delete(key) || changed;
    for (const [k, v] of next) changed = this.put(k, v) || changed;
    return changed;
  }

  private remove(key: string): void {
    const value = this.raw.get(key);
    if (value === undefined || !this.raw.delete(key)) return;
    this.bytes -= Buffer.byteLength(key) + Buffer.byteLength(value);
    this.invalid.delete(key);
    this.conflicts.delete(key);
    const path = pathForKey(this.prefix, key);
    if (path === null || path.length > this.maxDepth) return;
    const nodes: Node[] = [this.root];
    let node: Node | undefined = this.root;
    for (const seg of path) {
      node = node.children.get(seg);
      if (!node) return; // it was not JSON: never entered
      nodes.push(node);
    }
    if (node.leaf?.key !== key) return;
    node.leaf = undefined;
    // Prune nodes left with neither a leaf nor children.
    for (let i = nodes.length - 1; i > 0; i--) {
      const n = nodes[i];
      if (n.leaf || n.children.size > 0) break;
      nodes[i - 1].children.delete(path[i - 1]);
      nodes[i - 1].names = undefined;
      nodes.length = i;
    }
    this.touch(nodes);
  }

  /** Invalidate the built values along a path and re-decide its leaf/parent conflicts. */
  private touch(nodes: Node[]): void {
    for (const n of nodes) {
      n.built = undefined;
      if (!n.leaf) continue;
      if (n.children.size > 0) this.conflicts.add(n.leaf.key);
      else this.conflicts.delete(n.leaf.key);
    }
  }

  document(): Record<string, unknown> {
    return this.build(this.root);
  }

  private build(node: Node): Record<string, unknown> {
    if (node.built) return node.built;
    node.names ??= [...node.children.keys()].sort(byCodeUnits);
    const entries: Array<[string, unknown]> = new Array(node.names.length);
    for (let i = 0; i < node.names.length; i++) {
      const child = node.children.get(node.names[i]) as Node;
      entries[i] = [node.names[i], child.children.size > 0 ? this.build(child) : child.leaf?.value];
    }
    // Object.fromEntries defines own data properties: "__proto__" stays an ordinary key.
    node.built = Object.fromEntries(entries);
    return node.built;
  }

  skipped(): SkippedKey[] {
    const out: SkippedKey[] = [...this.invalid].map(([key, reason]) => ({ key, reason }));
    for (const key of this.conflicts) out.push({ key, reason: 'leaf_parent_conflict' });
    return out.sort((a, b) => byCodeUnits(a.key, b.key) || byCodeUnits(a.reason, b.reason));
  }
}
