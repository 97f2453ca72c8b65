// The configuration document the chaos run publishes, and how it changes: a counter that
// changes with every publish, values that change now and then (a mode among three, a nested
// number, a list), and a subtree that appears and disappears — so that reads, waits and
// watches see every kind of change, including values that come back.
import { parsePointer, resolveSegments } from '../../shared/json-pointer.js';
import type { Digest } from './history.js';
import { digestOf } from './value-digest.js';

export interface ChaosDoc {
  cfg: { a: number; mode: string; nested: { x: number }; list: number[] };
  toggle?: { on: boolean; since: number };
  [k: string]: unknown;
}

export const MODES = ['red', 'green', 'blue'] as const;

/** The paths clients read (get, mget; "" is the whole document). */
export const READ_PATHS = ['/cfg/a', '/cfg/mode', '/cfg/nested/x', '/toggle', '/cfg/list', ''];
/** The paths watches follow, one per client process in turn. */
export const WATCH_PATHS = ['/cfg/mode', '/cfg/a', '/toggle', '/cfg/nested/x'];

export function initialDoc(): ChaosDoc {
  return { cfg: { a: 0, mode: 'red', nested: { x: 0 }, list: [1] } };
}

/** The next version of a document: `a` always changes, the rest now and then. */
export function nextDoc(prev: ChaosDoc, rand: () => number): ChaosDoc {
  const a = prev.cfg.a + 1;
  const mode = rand() < 0.3 ? MODES[Math.floor(rand() * MODES.length)] : prev.cfg.mode;
  const x = rand() < 0.5 ? Math.floor(rand() * 4) : prev.cfg.nested.x;
  let list = prev.cfg.list;
  const r = rand();
  if (r < 0.2 && list.length < 8) list = [...list, a];
  else if (r < 0.35 && list.length > 0) list = list.slice(1);
  const doc: ChaosDoc = { cfg: { a, mode, nested: { x }, list } };
  const keep = prev.toggle !== undefined;
  if (rand() < 0.25 ? !keep : keep) doc.toggle = { on: true, since: prev.toggle?.since ?? a };
  return doc;
}

/** The digest of the value at each path clients read or watch, in the document as served. */
export function valuesOf(served: unknown): Record<string, Digest> {
  const out: Record<string, Digest> = {};
  for (const p of new Set([...READ_PATHS, ...WATCH_PATHS])) {
    const parsed = parsePointer(p);
    if (!parsed.ok) throw new Error(parsed.message);
    out[p] = digestOf(resolveSegments(served, parsed.segments));
  }
  return out;
}
