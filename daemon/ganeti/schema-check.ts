// A fast yes/no in front of serObject's checks. Each config object schema is compiled, once, into
// a function with its field names written out: every field is then a named property load, which
// the engine caches for the objects JSON.parse made alike, where the schema interpreter's keyed
// loads (`v[f.k]`, every field of every schema through one site) go the slow, generic way.
// Checking a 10,000-node config takes a third of the time.
//
// The answer is true only where serObject (build false) passes; false says nothing more, and
// the caller runs serObject itself, which reports the first error exactly as before. The code is
// generated from the static schemas in schema.ts alone: no input ever reaches it.
import type { FieldType, Schema } from './schema.js';

export type ObjectCheck = (v: unknown) => boolean;

const compiled = new WeakMap<Schema, ObjectCheck>();

/** The compiled check of `s` (and of the schemas it contains), made on first use. */
export function objectCheck(s: Schema): ObjectCheck {
  return compiled.get(s) ?? compileAll(s);
}

function compileAll(root: Schema): ObjectCheck {
  // Schemas nest (and a disk's children are disks): each gets one function, called by index.
  const order: Schema[] = [];
  const index = new Map<Schema, number>();
  const sources: string[] = [];
  const fns: ObjectCheck[] = [];
  const visit = (s: Schema): number => {
    let i = index.get(s);
    if (i !== undefined) return i;
    i = order.length;
    index.set(s, i);
    order.push(s);
    sources.push('');
    sources[i] = objectSource(s, visit);
    return i;
  };
  visit(root);
  for (let i = 0; i < order.length; i++) {
    const s = order[i];
    const known = compiled.get(s);
    fns[i] = known ?? (new Function('F', 'K', `return function check_${i}(v) {\n${sources[i]}\n};`)(fns, s.keys) as ObjectCheck);
    if (!known) compiled.set(s, fns[i]);
  }
  return fns[0];
}

const isObjectExpr = (x: string) => `(${x} !== null && typeof ${x} === 'object' && !Array.isArray(${x}))`;

function objectSource(s: Schema, visit: (s: Schema) => number): string {
  let n = 0;
  const fresh = (p: string) => `${p}${n++}`;
  const lines = [`if (!${isObjectExpr('v')}) return false;`, 'let x;'];
  // serObject: a forthcoming object has every field optional, and "forthcoming" must be a boolean.
  if (s.forthcoming) {
    lines.push(`const fc = v.forthcoming;`, `if (fc !== undefined && typeof fc !== 'boolean') return false;`);
    lines.push(`const all = ${s.partial === true} || fc === true;`);
  } else {
    lines.push(`const all = ${s.partial === true};`);
  }
  for (const f of s.fields) {
    const k = JSON.stringify(f.k);
    // A key Object.prototype has would be read through the prototype: read it as own only.
    lines.push(f.k in Object.prototype ? `x = Object.prototype.hasOwnProperty.call(v, ${k}) ? v[${k}] : undefined;` : `x = v[${k}];`);
    lines.push(`if (x !== undefined) { ${typeSource(f.t, 'x', fresh, visit)} }${f.m === 'req' ? ' else if (!all) return false;' : ''}`);
  }
  // No key the schema does not know ("Superfluous dictionary keys"), "__proto__" included.
  lines.push('for (const k in v) if (!K.has(k)) return false;', 'return true;');
  return lines.join('\n');
}

function typeSource(t: FieldType, x: string, fresh: (p: string) => string, visit: (s: Schema) => number): string {
  switch (t) {
    case 'str':
      return `if (typeof ${x} !== 'string') return false;`;
    case 'bool':
      return `if (typeof ${x} !== 'boolean') return false;`;
    case 'int':
    case 'dbl':
    case 'time':
      return `if (typeof ${x} !== 'number') return false;`;
    case 'any':
      return '';
    case 'anymap':
      return `if (!${isObjectExpr(x)}) return false;`;
    case 'lid':
      return `if (!Array.isArray(${x})) return false;`;
    case 'tags':
      return typeSource({ list: 'str' }, x, fresh, visit);
  }
  if ('list' in t) {
    const i = fresh('i');
    const y = fresh('y');
    return `if (!Array.isArray(${x})) return false; for (let ${i} = 0; ${i} < ${x}.length; ${i}++) { const ${y} = ${x}[${i}]; ${typeSource(t.list, y, fresh, visit)} }`;
  }
  if ('map' in t || 'hvmap' in t) {
    const k = fresh('k');
    const y = fresh('y');
    const vt = 'map' in t ? t.map : t.hvmap;
    return `if (!${isObjectExpr(x)}) return false; for (const ${k} in ${x}) { const ${y} = ${x}[${k}]; ${typeSource(vt, y, fresh, visit)} }`;
  }
  return `if (!F[${visit(t.obj)}](${x})) return false;`;
}
