// What the QCF1 request path needs to answer a scoped key: its context (the filtered view of the
// snapshot, the scope to check paths and ops against), replies kept apart per scope, and which
// replies count as `forbidden`.
import type { QueryContext, ReplyBody } from '../qcf1/ops.js';
import { ReplyTable } from '../qcf1/reply-table.js';
import type { Scope } from './scope.js';
import { scopedSnapshot } from './scope-filter.js';

/**
 * A context for a key of `scope`: unchanged for full access; otherwise answered from the scope's
 * view of the snapshot (no signature, so no proofs), checking paths and ops against it.
 */
export function scopedContext(ctx: QueryContext, scope: Scope | undefined): QueryContext {
  if (scope === undefined || scope.full) return ctx;
  return { ...ctx, snapshot: ctx.snapshot === null ? null : scopedSnapshot(ctx.snapshot, scope), scope };
}

/** Whether a reply is `forbidden`, or an mget answer with a `forbidden` entry. */
export function forbiddenIn(body: ReplyBody): boolean {
  if (body.error?.code === 'forbidden') return true;
  if (!Array.isArray(body.answer)) return false;
  for (const e of body.answer as unknown[]) {
    if (e !== null && typeof e === 'object' && (e as { error?: { code?: unknown } }).error?.code === 'forbidden') return true;
  }
  return false;
}

/** Scoped reply tables per snapshot at most; later scopes are answered without one. */
const MAX_SCOPED_TABLES = 16;

/**
 * Replies by request bytes for the scopes other than full access, one table per distinct scope
 * (keys of one scope share it), each an eighth of the full-access table's bounds.
 */
export class ScopedTables {
  private readonly tables = new Map<string, ReplyTable>();

  constructor(
    private readonly maxBytes: number,
    private readonly maxEntries: number,
  ) {}

  of(scope: Scope): ReplyTable | undefined {
    let t = this.tables.get(scope.id);
    if (t === undefined && this.tables.size < MAX_SCOPED_TABLES) {
      t = new ReplyTable({ maxBytes: Math.max(1 << 20, this.maxBytes / 8), maxEntries: Math.max(1024, Math.floor(this.maxEntries / 8)) });
      this.tables.set(scope.id, t);
    }
    return t;
  }
}
