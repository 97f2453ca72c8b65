// QCF1 op handlers: pure functions of (snapshot, request) → reply body. No sockets, clocks or
// files here; the server supplies everything through the context.
import { etagOf } from '../shared/canonical-json.js';
import type { WireErrorCode } from '../shared/errors.js';
import { escapeSegment, parsePointer, resolveSegments } from '../shared/json-pointer.js';
import type { Snapshot } from './snapshot.js';

export const MAX_MGET_PATHS = 64;
export const MAX_LIST_DEPTH = 16;

export interface ReplyBody {
  status: number;
  serial: number;
  node: string;
  answer?: unknown;
  etag?: string;
  timedOut?: boolean;
  error?: { code: WireErrorCode; message: string };
}

export interface QueryContext {
  node: string;
  version: string;
  snapshot: Snapshot | null;
  stale: boolean;
  /** Unix ms of the last contact with the source; 0 when not applicable. */
  lastContact: number;
  now: number;
  stats: () => Record<string, unknown>;
}

/** A validated `wait` request; the server holds it until `evaluateWait` says it is met. */
export interface WaitSpec {
  path: string;
  segments: string[];
  etag?: string;
  minSerial?: number;
  timeoutMs: number;
}

export type Outcome = { kind: 'reply'; body: ReplyBody; cacheable: boolean } | { kind: 'wait'; spec: WaitSpec };

export function errorBody(ctx: { node: string }, code: WireErrorCode, message: string, serial = 0, status = 1): ReplyBody {
  return { status, serial, node: ctx.node, error: { code, message } };
}

function okBody(ctx: QueryContext, answer: unknown, etag?: string): ReplyBody {
  const body: ReplyBody = { status: 0, serial: ctx.snapshot ? ctx.snapshot.serial : 0, node: ctx.node, answer };
  if (etag !== undefined) body.etag = etag;
  return body;
}

interface Lookup {
  found: boolean;
  value: unknown;
  etag: string;
}

const MISSING: Lookup = { found: false, value: undefined, etag: '' };

/** Look a pointer up in a snapshot, memoising the value and its etag per snapshot. */
export function lookup(snapshot: Snapshot, path: string, segments: readonly string[]): Lookup {
  return snapshot.memo.get('v' + path, () => {
    const value = resolveSegments(snapshot.doc, segments);
    if (value === undefined) return MISSING;
    return { found: true, value, etag: etagOf(value) };
  }) as Lookup;
}

type Parsed<T> = { ok: true; value: T } | { ok: false; message: string };

function pathArg(req: Record<string, unknown>, key = 'path'): Parsed<{ path: string; segments: string[] }> {
  const path = req[key];
  if (typeof path !== 'string') return { ok: false, message: `${key} must be a string` };
  const p = parsePointer(path);
  if (!p.ok) return { ok: false, message: p.message };
  return { ok: true, value: { path, segments: p.segments } };
}

function uintArg(req: Record<string, unknown>, key: string): Parsed<number | undefined> {
  const v = req[key];
  if (v === undefined || v === null) return { ok: true, value: undefined };
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) return { ok: false, message: `${key} must be an unsigned integer` };
  return { ok: true, value: v };
}

function listChildren(value: unknown, depth: number, prefix: string, out: string[]): void {
  if (value === null || typeof value !== 'object') return;
  const keys = Array.isArray(value) ? value.map((_, i) => String(i)) : Object.keys(value).sort();
  for (const k of keys) {
    const rel = prefix === '' ? escapeSegment(k) : prefix + '/' + escapeSegment(k);
    out.push(rel);
    if (depth > 1) listChildren((value as Record<string, unknown>)[k], depth - 1, rel, out);
  }
}

function handleGet(ctx: QueryContext, snap: Snapshot, req: Record<string, unknown>): ReplyBody {
  const p = pathArg(req);
  if (!p.ok) return errorBody(ctx, 'bad_argument', p.message, snap.serial);
  const l = lookup(snap, p.value.path, p.value.segments);
  if (!l.found) return errorBody(ctx, 'not_found', `no value at ${JSON.stringify(p.value.path)}`, snap.serial);
  return okBody(ctx, l.value, l.etag);
}

function handleMget(ctx: QueryContext, snap: Snapshot, req: Record<string, unknown>): ReplyBody {
  const paths = req.paths;
  if (!Array.isArray(paths)) return errorBody(ctx, 'bad_argument', 'paths must be an array of strings', snap.serial);
  if (paths.length > MAX_MGET_PATHS) return errorBody(ctx, 'bad_argument', `at most ${MAX_MGET_PATHS} paths`, snap.serial);
  const answer: Array<Record<string, unknown>> = [];
  for (const path of paths) {
    const p = pathArg({ path });
    if (!p.ok) {
      answer.push({ status: 1, error: { code: 'bad_argument', message: p.message } });
      continue;
    }
    const l = lookup(snap, p.value.path, p.value.segments);
    if (!l.found) answer.push({ status: 1, error: { code: 'not_found', message: `no value at ${JSON.stringify(path)}` } });
    else answer.push({ status: 0, answer: l.value, etag: l.etag });
  }
  return okBody(ctx, answer);
}

function handleList(ctx: QueryContext, snap: Snapshot, req: Record<string, unknown>): ReplyBody {
  const p = pathArg(req);
  if (!p.ok) return errorBody(ctx, 'bad_argument', p.message, snap.serial);
  const d = uintArg(req, 'depth');
  if (!d.ok) return errorBody(ctx, 'bad_argument', d.message, snap.serial);
  const depth = d.value ?? 1;
  if (depth < 1 || depth > MAX_LIST_DEPTH) return errorBody(ctx, 'bad_argument', `depth must be 1 to ${MAX_LIST_DEPTH}`, snap.serial);
  const l = lookup(snap, p.value.path, p.value.segments);
  if (!l.found) return errorBody(ctx, 'not_found', `no value at ${JSON.stringify(p.value.path)}`, snap.serial);
  if (l.value === null || typeof l.value !== 'object') {
    return errorBody(ctx, 'bad_argument', `${JSON.stringify(p.value.path)} is not an object or array`, snap.serial);
  }
  const out: string[] = [];
  listChildren(l.value, depth, '', out);
  // Depth 1 keeps the container's order (sorted keys, or array indices); deeper lists are
  // relative pointers sorted by code unit.
  if (depth > 1) out.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return okBody(ctx, out);
}

export function pingAnswer(ctx: QueryContext): Record<string, unknown> {
  const s = ctx.snapshot;
  const answer: Record<string, unknown> = {
    node: ctx.node,
    serial: s ? s.serial : 0,
    source: s ? s.source : 'none',
    loadedAt: s ? s.loadedAt : 0,
    stale: ctx.stale,
    version: ctx.version,
    ready: s !== null,
  };
  if (ctx.lastContact > 0) answer.lastContactAgeMs = Math.max(0, ctx.now - ctx.lastContact);
  return answer;
}

/** Validate a `wait` request (protocol.md: etag and/or minSerial, timeoutMs capped). */
export function parseWait(req: Record<string, unknown>, capMs: number): Parsed<WaitSpec> {
  const p = pathArg(req);
  if (!p.ok) return p;
  const etag = req.etag;
  if (etag !== undefined && etag !== null && typeof etag !== 'string') return { ok: false, message: 'etag must be a string' };
  const minSerial = uintArg(req, 'minSerial');
  if (!minSerial.ok) return minSerial;
  const timeout = uintArg(req, 'timeoutMs');
  if (!timeout.ok) return timeout;
  if ((etag === undefined || etag === null) && minSerial.value === undefined) {
    return { ok: false, message: 'wait needs etag or minSerial' };
  }
  return {
    ok: true,
    value: {
      path: p.value.path,
      segments: p.value.segments,
      etag: typeof etag === 'string' ? etag : undefined,
      minSerial: minSerial.value,
      timeoutMs: Math.min(timeout.value ?? capMs, capMs),
    },
  };
}

/**
 * The reply a wait gets on this snapshot if its condition holds, else null. A missing value
 * has the empty etag, so waiting for a path to appear uses etag "".
 */
export function evaluateWait(ctx: QueryContext, spec: WaitSpec, timedOut: boolean): ReplyBody | null {
  const snap = ctx.snapshot;
  let met = snap !== null;
  let l: Lookup = MISSING;
  if (snap) {
    l = lookup(snap, spec.path, spec.segments);
    if (spec.etag !== undefined && l.etag === spec.etag) met = false;
    if (spec.minSerial !== undefined && snap.serial < spec.minSerial) met = false;
  }
  if (!met && !timedOut) return null;
  if (!snap) return { ...errorBody(ctx, 'not_ready', 'no document loaded yet'), timedOut };
  const body: ReplyBody = l.found
    ? okBody(ctx, l.value, l.etag)
    : errorBody(ctx, 'not_found', `no value at ${JSON.stringify(spec.path)}`, snap.serial);
  if (!l.found) body.etag = '';
  body.timedOut = !met;
  return body;
}

export function handleQuery(ctx: QueryContext, req: Record<string, unknown>, waitCapMs: number): Outcome {
  const op = req.op;
  if (op === 'ping') return { kind: 'reply', body: okBody(ctx, pingAnswer(ctx)), cacheable: false };
  if (op === 'stats') return { kind: 'reply', body: okBody(ctx, ctx.stats()), cacheable: false };
  if (op === 'wait') {
    const w = parseWait(req, waitCapMs);
    if (!w.ok) return { kind: 'reply', body: errorBody(ctx, 'bad_argument', w.message, ctx.snapshot?.serial ?? 0), cacheable: false };
    return { kind: 'wait', spec: w.value };
  }
  const snap = ctx.snapshot;
  if (op !== 'get' && op !== 'mget' && op !== 'list') {
    // An op this daemon does not know is "not implemented" (status 2), as in Ganeti.
    if (typeof op === 'string') {
      const body = errorBody(ctx, 'bad_argument', `unknown op ${JSON.stringify(op.slice(0, 64))}`, snap?.serial ?? 0, 2);
      return { kind: 'reply', body, cacheable: false };
    }
    return { kind: 'reply', body: errorBody(ctx, 'bad_argument', 'op must be a string', snap?.serial ?? 0), cacheable: false };
  }
  if (!snap) return { kind: 'reply', body: errorBody(ctx, 'not_ready', 'no document loaded yet'), cacheable: false };
  const body = op === 'get' ? handleGet(ctx, snap, req) : op === 'mget' ? handleMget(ctx, snap, req) : handleList(ctx, snap, req);
  return { kind: 'reply', body, cacheable: true };
}
