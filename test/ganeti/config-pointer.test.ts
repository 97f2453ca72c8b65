// Type 10 walks the document along the schema and re-serializes only where the pointer ends
// (config-pointer.ts); it must answer exactly as a walk of the whole re-serialized config
// (serializeConfig, the whole re-serialization the daemon served from before; the differential
// tests hold the daemon itself against the real ganeti-confd), for any
// pointer: deep ones, into defaulted and absent fields, forthcoming objects, lists and junk.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parseGanetiPointer, resolveConfigPointer } from '../../daemon/ganeti/config-pointer.js';
import { drain } from '../../daemon/slices.js';
import { serializeConfig, validateConfigSteps } from '../../daemon/ganeti/config-walk.js';
import { GanetiLoadError } from '../../daemon/ganeti/serialize.js';
import { generateGanetiConfig, oddGanetiConfig } from '../../testkit/ganeti/generate-config.js';

type Obj = Record<string, unknown>;

/** The plain walk (what type 10 did over the whole re-serialized config). */
function walk(root: unknown, tokens: string[]): { ok: true; value: unknown } | { ok: false } {
  let cur = root;
  for (const tok of tokens) {
    if (Array.isArray(cur)) {
      const m = /^[0-9]+/.exec(tok);
      const i = m ? Number(m[0]) : -1;
      if (!m || i >= cur.length || m[0].length > 15) return { ok: false };
      cur = cur[i];
    } else if (cur !== null && typeof cur === 'object') {
      if (!Object.prototype.hasOwnProperty.call(cur, tok)) return { ok: false };
      cur = (cur as Obj)[tok];
    } else return { ok: false };
  }
  return { ok: true, value: cur };
}

/** Pointers made from the re-serialized config's own keys, with junk mixed in. */
function pointersOf(full: unknown): fc.Arbitrary<string[]> {
  const step = (cur: unknown, depth: number): fc.Arbitrary<string[]> => {
    const junk = fc.constantFrom('nope', '', 'forthcoming', '0', '01', '-1', '99', '1x', '__proto__');
    if (depth > 6 || cur === null || typeof cur !== 'object') return fc.oneof(fc.constant([]), junk.map((j) => [j]));
    const keys = Array.isArray(cur) ? cur.map((_, i) => String(i)) : Object.keys(cur);
    if (keys.length === 0) return fc.oneof(fc.constant([]), junk.map((j) => [j]));
    return fc.oneof(
      { weight: 1, arbitrary: fc.constant([]) },
      { weight: 1, arbitrary: junk.map((j) => [j]) },
      { weight: 6, arbitrary: fc.constantFrom(...keys).chain((k) => step((cur as Obj)[k], depth + 1).map((rest) => [k, ...rest])) },
    );
  };
  return step(full, 0).filter((t) => t.length > 0);
}

describe('type 10 pointers without the whole re-serialized config', () => {
  for (const [name, make] of [
    ['a generated config', () => generateGanetiConfig({ nodes: 8, instancesPerNode: 4, links: 3, seed: 5 }) as Obj],
    ['a config with forthcoming, defaulted and odd objects', oddGanetiConfig],
  ] as const) {
    it(`answer as a walk of serializeConfig: ${name}`, () => {
      const doc = make();
      const valid = drain(validateConfigSteps(doc));
      expect(valid).toBe(doc);
      const full = serializeConfig(doc);
      if (full instanceof GanetiLoadError) throw new Error(full.message);
      fc.assert(
        fc.property(pointersOf(full), (tokens) => {
          expect(resolveConfigPointer(doc, tokens)).toEqual(walk(full, tokens));
        }),
        { numRuns: 3000 },
      );
      // Every top-level section, every object in it, and every field any object of its kind
      // may have (present, defaulted, absent), with one more step below.
      for (const [section, v] of Object.entries(full)) {
        expect(resolveConfigPointer(doc, [section])).toEqual({ ok: true, value: v });
        if (v === null || typeof v !== 'object') continue;
        const fields = new Set<string>(['forthcoming', 'nope']);
        for (const o of Object.values(v)) if (o !== null && typeof o === 'object') for (const f of Object.keys(o)) fields.add(f);
        for (const k of Object.keys(v)) {
          expect(resolveConfigPointer(doc, [section, k])).toEqual(walk(full, [section, k]));
          for (const f of fields) for (const rest of [[], ['0'], ['link'], ['nope']]) expect(resolveConfigPointer(doc, [section, k, f, ...rest])).toEqual(walk(full, [section, k, f, ...rest]));
        }
      }
    });
  }

  it('parses loose pointers as Ganeti does', () => {
    expect(parseGanetiPointer('/instances/x/nics/0')).toEqual(['instances', 'x', 'nics', '0']);
  });

  it('validation finds the first error serializeConfig finds, and builds nothing', () => {
    const doc = oddGanetiConfig();
    (Object.values(doc.nodes as Record<string, Obj>)[2] as Obj).drained = 'yes';
    const a = drain(validateConfigSteps(doc));
    const b = serializeConfig(doc);
    expect(a).toBeInstanceOf(GanetiLoadError);
    expect((a as GanetiLoadError).message).toBe((b as GanetiLoadError).message);
  });
});
