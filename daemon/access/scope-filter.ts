// The document as a scoped key sees it: the objects leading to its paths (always there, objects
// even where the document has an array or nothing) holding only the branches toward those
// paths, and at each path the document's value when it has one. It is a function of the values
// in scope and of the scope alone, so nothing a scoped key is answered from can tell it an
// out-of-scope name, value, size or existence. Made once per snapshot and scope; the values in
// scope are shared with the snapshot, not copied.
import { resolveSegments } from '../../shared/json-pointer.js';
import { Snapshot } from '../snapshot.js';
import type { Scope } from './scope.js';

type Obj = Record<string, unknown>;

/** A member defined as data (a name such as `__proto__` stays a member, never a prototype). */
function define(o: Obj, name: string, value: unknown): void {
  Object.defineProperty(o, name, { value, enumerable: true, writable: true, configurable: true });
}

/** The filtered document of `doc` for `scope` (the document itself when every path is in scope). */
export function filterDocument(doc: unknown, scope: Scope): unknown {
  if (scope.allPaths) return doc;
  const root: Obj = {};
  for (const p of scope.prefixes) {
    let node = root;
    for (let i = 0; i < p.length - 1; i++) {
      const seg = p[i];
      let next = Object.prototype.hasOwnProperty.call(node, seg) ? node[seg] : undefined;
      if (next === undefined) define(node, seg, (next = {}));
      node = next as Obj;
    }
    const value = resolveSegments(doc, p);
    if (value !== undefined) define(node, p[p.length - 1], value);
  }
  return root;
}

/** Views made per snapshot, by scope id; a scope count beyond this starts the map afresh. */
const MAX_VIEWS_PER_SNAPSHOT = 64;
const views = new WeakMap<Snapshot, Map<string, Snapshot>>();

/**
 * The snapshot a scoped key is answered from: the filtered document, the same serial, and no
 * signature (proofs would name neighbours and hash siblings out of scope).
 */
export function scopedSnapshot(snap: Snapshot, scope: Scope): Snapshot {
  if (scope.allPaths) return snap;
  let byScope = views.get(snap);
  if (byScope === undefined) views.set(snap, (byScope = new Map()));
  let v = byScope.get(scope.id);
  if (v === undefined) {
    if (byScope.size >= MAX_VIEWS_PER_SNAPSHOT) byScope.clear();
    v = new Snapshot({ doc: filterDocument(snap.doc, scope), serial: snap.serial, source: snap.source, loadedAt: snap.loadedAt, origin: snap.origin });
    byScope.set(scope.id, v);
  }
  return v;
}
