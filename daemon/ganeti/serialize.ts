// A config object's re-serialization (ganeti-confd-protocol.md §7.3): ganeti-confd parses
// config.data into typed objects and prints them back, and types 8, 9 and 10 answer from that
// print. Driven by the schema tables (schema.ts), it gives the Haskell field order, fills in
// defaults, omits absent optional fields, sorts UUID/free-form maps and tags, rounds integer
// fields and reproduces the ClockTime round trip of ctime/mtime. The same pass validates a value
// as strictly as Ganeti's loader does (unknown or missing keys, wrong JSON types): a failure is a
// GanetiLoadError.
import { compareBytes, sortedKeys } from './byte-order.js';
import { objectCheck } from './schema-check.js';
import { DRBD_LOGICAL_ID_LENGTH, HYPERVISOR_ORDER, type Field, type FieldType, type Schema } from './schema.js';

/** Why a document is not a loadable Ganeti config: Ganeti's own error text. */
export class GanetiLoadError {
  constructor(readonly message: string) {}
}

/** Own-property assignment that is safe for the key "__proto__". */
export function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

export function hasOwn(o: object, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

/** Haskell `round`: half to even. */
export function roundHalfEvenNum(x: number): number {
  const r = Math.abs(x - Math.trunc(x)) === 0.5 ? 2 * Math.round(x / 2) : Math.round(x);
  return r === 0 ? 0 : r; // no -0
}

/** ctime/mtime: Ganeti stores a ClockTime (seconds, picoseconds) and prints it back as a double. */
export function clockTimeRoundTrip(x: number): number {
  if (!Number.isFinite(x)) return x;
  if (Number.isInteger(x)) return x === 0 ? 0 : x;
  const ps = x * 1e12;
  if (!Number.isFinite(ps) || Math.abs(ps) >= 2 ** 1000) return x;
  const total = BigInt(Math.round(ps));
  const unit = 1_000_000_000_000n;
  let secs = total / unit;
  let pico = total % unit;
  if (pico < 0n) {
    pico += unit;
    secs -= 1n;
  }
  return Number(secs) + Number(pico) / 1e12;
}

export function isObj(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function fail(where: string, msg: string): never {
  throw new GanetiLoadError(`Can't parse value for '${where}': ${msg}`);
}

export function typeName(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

/**
 * The re-serialized value of `v` as field type `t`, checked as Ganeti's loader checks it. With
 * `build` false it is only checked (nothing is made) and `v` itself comes back.
 */
export function serValue(v: unknown, t: FieldType, where: string, build = true): unknown {
  switch (t) {
    case 'str':
      if (typeof v !== 'string') fail(where, `expected a string, got ${typeName(v)}`);
      return v;
    case 'bool':
      if (typeof v !== 'boolean') fail(where, `expected a boolean, got ${typeName(v)}`);
      return v;
    case 'int':
      if (typeof v !== 'number') fail(where, `expected an integer, got ${typeName(v)}`);
      return build ? roundHalfEvenNum(v) : v;
    case 'dbl':
      if (typeof v !== 'number') fail(where, `expected a number, got ${typeName(v)}`);
      return v === 0 ? 0 : v;
    case 'time':
      if (typeof v !== 'number') fail(where, `expected a time stamp, got ${typeName(v)}`);
      return build ? clockTimeRoundTrip(v) : v;
    case 'any':
      return v;
    case 'anymap': {
      if (!isObj(v)) fail(where, `expected an object, got ${typeName(v)}`);
      if (!build) return v;
      const out: Record<string, unknown> = {};
      for (const k of sortedKeys(v)) put(out, k, v[k]);
      return out;
    }
    case 'tags': {
      if (!Array.isArray(v)) fail(where, `expected a list of tags, got ${typeName(v)}`);
      for (const x of v) if (typeof x !== 'string') fail(where, 'a tag is not a string');
      return build ? [...new Set(v as string[])].sort(compareBytes) : v;
    }
    case 'lid':
      return serLogicalId(v, where, build);
  }
  if ('list' in t) {
    if (!Array.isArray(v)) fail(where, `expected a list, got ${typeName(v)}`);
    if (!build) {
      for (let i = 0; i < v.length; i++) serValue(v[i], t.list, where, false);
      return v;
    }
    const out = new Array(v.length);
    for (let i = 0; i < v.length; i++) out[i] = serValue(v[i], t.list, where);
    return out;
  }
  if ('map' in t || 'hvmap' in t) {
    if (!isObj(v)) fail(where, `expected an object, got ${typeName(v)}`);
    const keys = 'map' in t ? sortedKeys(v) : hypervisorOrder(Object.keys(v));
    const vt = 'map' in t ? t.map : t.hvmap;
    if (!build) {
      for (const k of keys) serValue(v[k], vt, k, false);
      return v;
    }
    const out: Record<string, unknown> = {};
    for (const k of keys) put(out, k, serValue(v[k], vt, k));
    return out;
  }
  return serObject(v, t.obj, where, build);
}

/** Hypervisor-keyed maps: Haskell's constructor order, then any other key in byte order. */
function hypervisorOrder(keys: string[]): string[] {
  return keys.sort((a, b) => {
    const x = HYPERVISOR_ORDER.indexOf(a);
    const y = HYPERVISOR_ORDER.indexOf(b);
    return (x < 0 ? HYPERVISOR_ORDER.length : x) - (y < 0 ? HYPERVISOR_ORDER.length : y) || compareBytes(a, b);
  });
}

/** DRBD logical ids carry integers (port, minors); the others are pairs of strings. */
function serLogicalId(v: unknown, where: string, build = true): unknown {
  if (!Array.isArray(v)) fail(where, `logical_id: expected a list, got ${typeName(v)}`);
  if (build && v.length === DRBD_LOGICAL_ID_LENGTH && typeof v[2] === 'number') {
    return [v[0], v[1], roundHalfEvenNum(v[2]), roundHalfEvenNum(v[3] as number), roundHalfEvenNum(v[4] as number), v[5]];
  }
  return v;
}

/**
 * The first check of an object against its schema: an object, with no key the schema does not
 * know ("__proto__" included).
 */
export function checkKeys(v: unknown, s: Schema, where: string): asserts v is Record<string, unknown> {
  if (!isObj(v)) fail(where, `expected an object, got ${typeName(v)}`);
  const keys = s.keys as Set<string>;
  let extra: string[] | undefined;
  for (const k in v) {
    if (!keys.has(k)) (extra ??= []).push(k);
  }
  if (hasOwn(v, '__proto__') && !keys.has('__proto__')) (extra ??= []).push('__proto__');
  if (extra) fail(where, `Superfluous dictionary keys: ${extra.join(', ')}`);
}

/** A field absent from an object: an error when required, its default when `out` is built. */
export function absentField(f: Field, where: string, out: Record<string, unknown> | undefined): void {
  if (f.m === 'req') fail(where, `key '${f.k}' not found`);
  if (f.m === 'def' && out) put(out, f.k, (f.d as () => unknown)());
}

/** A config object's re-serialization (checked as Ganeti checks it); with `build` false, only checked. */
export function serObject(v: unknown, s: Schema, where: string, build = true): Record<string, unknown> {
  // Checking only: the compiled check passes valid objects at once; anything else is checked below.
  if (!build && objectCheck(s)(v)) return v as Record<string, unknown>;
  checkKeys(v, s, where);
  const forthcoming = s.forthcoming === true && v.forthcoming === true;
  if (s.forthcoming && hasOwn(v, 'forthcoming') && typeof v.forthcoming !== 'boolean') fail(where, "'forthcoming' is not a boolean");
  const allOptional = s.partial === true || forthcoming;
  const out: Record<string, unknown> | undefined = build ? {} : undefined;
  for (const f of s.fields) {
    if (hasOwn(v, f.k) && v[f.k] !== undefined) {
      const x = serValue(v[f.k], f.t, f.k, build);
      if (out) put(out, f.k, x);
    } else if (!allOptional) {
      absentField(f, where, out);
    }
  }
  if (!out) return v;
  if (forthcoming) out.forthcoming = true;
  return out;
}
