// The compiled schema checks (schema-check.ts) stand in front of serObject's own checks while a
// config is validated: they must pass exactly the objects serObject passes. Held against
// serObject on every object of generated configs (the unusual shapes included) and on many
// random damages of them: a key deleted, a value of another JSON type, an extra or "__proto__"
// key, "forthcoming" set, anywhere in an object, nested ones included. And the validation of a
// whole damaged config reports the same first error as the schema interpreter alone.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { objectCheck } from '../../daemon/ganeti/schema-check.js';
import { drain } from '../../daemon/slices.js';
import { serializeConfig, validateConfigSteps } from '../../daemon/ganeti/config-walk.js';
import { CLUSTER, DISK, INSTANCE, NETWORK, NODE, NODEGROUP, type Schema } from '../../daemon/ganeti/schema.js';
import { serObject } from '../../daemon/ganeti/serialize.js';
import { generateGanetiConfig, oddGanetiConfig } from '../../testkit/ganeti/generate-config.js';

type Obj = Record<string, unknown>;

function passes(v: unknown, s: Schema): boolean {
  try {
    serObject(v, s, '', true);
    return true;
  } catch {
    return false;
  }
}

/** JSON-made, as the daemon's documents are (key order, own properties only), with odd shapes. */
function baseConfig(): Obj {
  return JSON.parse(JSON.stringify(oddGanetiConfig())) as Obj;
}

const KINDS: Array<[string, Schema]> = [
  ['nodes', NODE],
  ['instances', INSTANCE],
  ['disks', DISK],
  ['nodegroups', NODEGROUP],
  ['networks', NETWORK],
];

/** Every object of `doc` with its schema. */
function objectsOf(doc: Obj): Array<[Obj, Schema]> {
  const out: Array<[Obj, Schema]> = [[doc.cluster as Obj, CLUSTER]];
  for (const [k, s] of KINDS) for (const o of Object.values(doc[k] as Record<string, Obj>)) out.push([o, s]);
  return out;
}

/** Paths to every object and array inside `v` (the empty path: `v` itself). */
function containers(v: unknown, path: Array<string | number> = []): Array<Array<string | number>> {
  if (v === null || typeof v !== 'object') return [];
  const out = [path];
  const entries: Array<[string | number, unknown]> = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
  for (const [k, x] of entries) out.push(...containers(x, [...path, k]));
  return out;
}

function at(v: unknown, path: Array<string | number>): Obj | unknown[] {
  let cur = v;
  for (const k of path) cur = (cur as Obj)[k as string];
  return cur as Obj | unknown[];
}

const OTHER_VALUES: unknown[] = ['x', '', 0, 1.5, -1, true, false, null, [], ['a'], [1], {}, { a: 1 }];

type Damage = (target: Obj | unknown[], key: string | number | undefined, pick: number) => void;

const DAMAGES: Damage[] = [
  // Delete a key (or an array element).
  (t, k) => {
    if (k === undefined) return;
    if (Array.isArray(t)) t.splice(k as number, 1);
    else delete t[k as string];
  },
  // Another JSON type in its place.
  (t, k, pick) => {
    if (k === undefined) return;
    (t as Obj)[k as string] = structuredClone(OTHER_VALUES[pick % OTHER_VALUES.length]);
  },
  // An unknown key; "__proto__" as JSON.parse makes it (an own property).
  (t, _k, pick) => {
    if (Array.isArray(t)) t.push(OTHER_VALUES[pick % OTHER_VALUES.length]);
    else if (pick % 2 === 0) t.extra_key = 1;
    else Object.defineProperty(t, '__proto__', { value: {}, enumerable: true, writable: true, configurable: true });
  },
  // "forthcoming", of either sort.
  (t, _k, pick) => {
    if (!Array.isArray(t)) t.forthcoming = [true, false, 'yes', 1, null][pick % 5];
  },
];

describe('compiled schema checks', () => {
  it('pass every object of generated configs, as serObject does', () => {
    for (const seed of [1, 2, 3]) {
      const doc = JSON.parse(JSON.stringify(generateGanetiConfig({ nodes: 4, instancesPerNode: 2, links: 2, seed }))) as Obj;
      for (const [o, s] of objectsOf(doc)) expect(objectCheck(s)(o)).toBe(true);
    }
    for (const [o, s] of objectsOf(baseConfig())) expect(objectCheck(s)(o)).toBe(true);
  });

  it('agree with serObject on damaged objects', () => {
    const base = baseConfig();
    const objects = objectsOf(base);
    let failing = 0;
    fc.assert(
      fc.property(fc.nat(), fc.nat(), fc.nat(), fc.nat(), (oi, ci, ki, pick) => {
        const [orig, s] = objects[oi % objects.length];
        const o = structuredClone(orig);
        const paths = containers(o);
        const target = at(o, paths[ci % paths.length]);
        const keys: Array<string | number> = Array.isArray(target) ? target.map((_, i) => i) : Object.keys(target);
        const key = keys.length ? keys[ki % keys.length] : undefined;
        DAMAGES[pick % DAMAGES.length](target, key, pick >> 2);
        const expected = passes(o, s);
        if (!expected) failing++;
        expect(objectCheck(s)(o)).toBe(expected);
      }),
      { numRuns: 4000, seed: 20261205 },
    );
    // Not vacuous: many of the damages are ones serObject refuses.
    expect(failing).toBeGreaterThan(1000);
  });

  it('leave the first error of a damaged config as it was', () => {
    const base = baseConfig();
    for (const [kind] of KINDS) {
      const map = base[kind] as Record<string, Obj>;
      const keys = Object.keys(map);
      // Damage the last object in document order and the first in key order: the check runs in
      // document order, the error must still be the first in key order.
      const sorted = [...keys].sort();
      const doc = structuredClone(base);
      const m = doc[kind] as Record<string, Obj>;
      m[keys[keys.length - 1]].unknown_a = 1;
      m[sorted[0]].unknown_b = 1;
      const r = drain(validateConfigSteps(doc, true));
      const whole = serializeConfig(doc);
      expect(r).toEqual(whole);
      expect((r as { message: string }).message).toMatch(/Superfluous dictionary keys: unknown_[ab]/);
      expect((r as { message: string }).message).toContain(sorted[0] === keys[keys.length - 1] ? 'unknown_a' : 'unknown_b');
    }
    expect(drain(validateConfigSteps(base, true))).not.toHaveProperty('message');
  });
});
