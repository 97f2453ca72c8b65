// The whole config checked (and, for tests, re-serialized) in steps: Ganeti's checks in Ganeti's
// order, so the same first error, yielding between the objects of the large maps (nodes,
// instances, disks, ...) so that a large config is checked in slices between requests. The large
// maps' keys are kept sorted for the view, which walks them in that order too.
import { drain } from '../slices.js';
import { sortBytesSteps } from './byte-order.js';
import { objectCheck } from './schema-check.js';
import { CONFIG, type Schema } from './schema.js';
import { GanetiLoadError, absentField, checkKeys, fail, hasOwn, isObj, put, serObject, serValue, typeName } from './serialize.js';

/**
 * The whole re-serialized ConfigData, or a load error. The daemon makes it piecewise instead
 * (validateConfigSteps, then serObject and config-pointer.ts where answers need it); whole, it
 * is the reference those pieces are tested against.
 */
export function serializeConfig(doc: unknown): Record<string, unknown> | GanetiLoadError {
  return drain(configSteps(doc, true, true));
}

/** Yield to the caller after this many objects of a large map. */
export const STEP_EVERY = 128;

/** The sorted keys of the large maps serializeConfig or validateConfigSteps went through. */
const SORTED_KEYS = new WeakMap<object, string[]>();

/** The keys of such a map in compareBytes order (the view walks them in that order too). */
export function sortedKeysOf(o: object): string[] | undefined {
  return SORTED_KEYS.get(o);
}

/** A {map: {obj}} field, one object at a time (same checks and order as serValue). */
function* serObjectMapSteps(v: unknown, s: Schema, where: string, build: boolean, atOnce: boolean): Generator<void, Record<string, unknown>> {
  if (!isObj(v)) fail(where, `expected an object, got ${typeName(v)}`);
  const out: Record<string, unknown> = build ? {} : v;
  const all = Object.keys(v);
  let n = 0;
  let passed = false;
  if (!build) {
    // Checking only: the compiled check first, in the document's order (the order the objects
    // lie in memory: half the time of key order). Only a failure needs key order, for the same
    // first error as Ganeti's.
    const check = objectCheck(s);
    passed = true;
    for (const k of all) {
      if (!check(v[k])) {
        passed = false;
        break;
      }
      if (++n % STEP_EVERY === 0) yield;
    }
  }
  const keys = yield* sortBytesSteps(all, atOnce);
  if (passed) {
    SORTED_KEYS.set(out, keys);
    return out;
  }
  for (const k of keys) {
    const o = serObject(v[k], s, k, build);
    if (build) put(out, k, o);
    if (++n % STEP_EVERY === 0) yield;
  }
  SORTED_KEYS.set(out, keys);
  return out;
}

/**
 * The same checks, in the same order and with the same first error, building nothing: the
 * document itself when Ganeti would load it. Its re-serialization is then made piecewise, as
 * answers need it (serObject, resolveConfigPointer).
 */
export function* validateConfigSteps(doc: unknown, atOnce = false): Generator<void, Record<string, unknown> | GanetiLoadError> {
  return yield* configSteps(doc, false, atOnce);
}

/**
 * The config's checks, in Ganeti's order (so the same first error), yielding between objects of
 * the large maps (nodes, instances, disks, ...) so that a large config is checked in slices;
 * `build` makes the re-serialization as well.
 */
function* configSteps(doc: unknown, build: boolean, atOnce: boolean): Generator<void, Record<string, unknown> | GanetiLoadError> {
  try {
    const s = CONFIG;
    const where = 'config';
    const v = doc;
    checkKeys(v, s, where);
    const out: Record<string, unknown> | undefined = build ? {} : undefined;
    for (const f of s.fields) {
      if (hasOwn(v, f.k) && v[f.k] !== undefined) {
        const t = f.t;
        const objMap = typeof t === 'object' && 'map' in t && typeof t.map === 'object' && 'obj' in t.map ? t.map.obj : undefined;
        const x = objMap ? yield* serObjectMapSteps(v[f.k], objMap, f.k, build, atOnce) : serValue(v[f.k], t, f.k, build);
        if (out) put(out, f.k, x);
      } else {
        absentField(f, where, out);
      }
    }
    return out ?? v;
  } catch (e) {
    if (e instanceof GanetiLoadError) return e;
    throw e;
  }
}
