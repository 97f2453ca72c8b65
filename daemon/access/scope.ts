// What one class of keys may do: the document paths it may read (JSON-pointer prefixes on
// segment boundaries) and the ops it may use. Keys with the same paths and ops share one Scope
// (its `id`), and with it their cached replies: replies never cross from one scope to another.
import { formatPointer } from '../../shared/json-pointer.js';

/** The QCF1 ops a scope can allow. */
export const SCOPE_OPS = ['ping', 'get', 'mget', 'list', 'wait', 'stats'] as const;
export type ScopeOp = (typeof SCOPE_OPS)[number];

function isPrefix(p: readonly string[], of: readonly string[]): boolean {
  if (p.length > of.length) return false;
  for (let i = 0; i < p.length; i++) if (p[i] !== of[i]) return false;
  return true;
}

/** Prefixes with those covered by another one removed, in a stable order. */
export function normalisePrefixes(prefixes: ReadonlyArray<readonly string[]>): string[][] {
  const sorted = [...prefixes].map((p) => [...p]).sort((a, b) => a.length - b.length);
  const kept: string[][] = [];
  for (const p of sorted) if (!kept.some((k) => isPrefix(k, p))) kept.push(p);
  const key = (p: readonly string[]) => formatPointer(p);
  return kept.sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
}

export class Scope {
  /** Canonical text of the paths and ops: equal scopes have equal ids. */
  readonly id: string;
  /** Every path is in scope: answers need no filtering, and may carry proofs. */
  readonly allPaths: boolean;
  /** Every path and every op: the access a key has without an access file. */
  readonly full: boolean;
  readonly prefixes: readonly (readonly string[])[];
  readonly ops: ReadonlySet<string>;

  constructor(prefixes: ReadonlyArray<readonly string[]>, ops: Iterable<string>) {
    this.prefixes = normalisePrefixes(prefixes);
    this.allPaths = this.prefixes.some((p) => p.length === 0);
    if (this.allPaths) this.prefixes = [[]];
    const opList = SCOPE_OPS.filter((o) => new Set(ops).has(o));
    this.ops = new Set(opList);
    this.full = this.allPaths && opList.length === SCOPE_OPS.length;
    this.id = JSON.stringify([this.prefixes.map((p) => formatPointer(p)), opList]);
  }

  /** Whether `segments` is at or below one of the scope's paths (its value is readable whole). */
  covers(segments: readonly string[]): boolean {
    if (this.allPaths) return true;
    for (const p of this.prefixes) if (isPrefix(p, segments)) return true;
    return false;
  }

  /**
   * Whether a request may name `segments`: in scope, or an ancestor of a scope path (answered
   * from the filtered document). Anything else is forbidden, whether or not it exists.
   */
  allows(segments: readonly string[]): boolean {
    if (this.allPaths) return true;
    for (const p of this.prefixes) if (isPrefix(p, segments) || isPrefix(segments, p)) return true;
    return false;
  }

  allowsOp(op: string): boolean {
    return this.ops.has(op);
  }

  /** The paths as pointers, for messages and logs. */
  pointers(): string[] {
    return this.allPaths ? ['*'] : this.prefixes.map((p) => formatPointer(p));
  }
}

/** The scope of a key when no access file is given: everything. */
export const FULL_SCOPE = new Scope([[]], SCOPE_OPS);
