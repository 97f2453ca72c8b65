// QCF1 op handlers: pure functions of (snapshot, request) → reply body. No sockets, clocks or
// files here; the server supplies everything through the context.
//
// Every answer is bounded before it is built: values are encoded with the room a reply
// datagram has (shared/msgpack-encode.ts stops at the limit), listings stop once their names
// would not fit, and etags are computed only for values that fit (or, for waits, once per
// container and snapshot: shared/etag.ts). So no request costs more than its reply's room,
// whatever the document's size (docs/limits.md).
import type { WireErrorCode } from '../../shared/errors.js';
import { ABSENT_ETAG, etagOf } from '../../shared/etag.js';
import { escapeSegment, parsePointer, resolveSegments } from '../../shared/json-pointer.js';
import { RawMsgpack, packBounded, type EncodeFailure } from '../../shared/msgpack-encode.js';
import { HEADER_LEN, MAX_REPLY_BYTES } from '../../shared/qcf1.js';
import { SEAL_OVERHEAD } from '../../shared/seal.js';
import { listProofToWire, pathProofToWire } from '../../shared/commitment-proof.js';
import type { Snapshot } from '../snapshot.js';
import type { Scope } from '../access/scope.js';

export const MAX_MGET_PATHS = 64;
export const MAX_LIST_DEPTH = 16;
/**
 * A reply body's room in a datagram: sealed or not, so that one encoded reply serves both (a
 * sealed body takes SEAL_OVERHEAD bytes more).
 */
export const MAX_BODY_BYTES = MAX_REPLY_BYTES - HEADER_LEN - SEAL_OVERHEAD;
/** An answer's room: the body less what its other fields (status, serial, node, etag…) take. */
export const ANSWER_BYTES = MAX_BODY_BYTES - 512;
/** An mget entry's fields besides its answer and the path its error may quote, at most. */
const MGET_ENTRY_BYTES = 100;

export interface ReplyBody {
  status: number;
  serial: number;
  node: string;
  /** This daemon's start: with `node`, what a client counts a quorum by. */
  instance: string;
  answer?: unknown;
  etag?: string;
  timedOut?: boolean;
  error?: { code: WireErrorCode; message: string };
  /** Address validation (docs/protocol.md): with the error `retry`. */
  cookie?: Buffer;
  /** list: whether the listed value is an object or an array (its names alone may not say). */
  container?: 'object' | 'array';
  /** A signed document's signature and commitment (docs/protocol.md, "Verified answers"). */
  signed?: Record<string, unknown>;
  /** The proof of the answer (or of the absence) against that commitment. */
  proof?: unknown;
}

/** Who answers: the node name and the instance id in every reply. */
export interface Identity {
  node: string;
  instance: string;
}

export interface QueryContext extends Identity {
  version: string;
  snapshot: Snapshot | null;
  stale: boolean;
  /** Unix ms of the last contact with the source; 0 when not applicable. */
  lastContact: number;
  now: number;
  stats: () => Record<string, unknown>;
  /**
   * The requesting key's scope (--access-file), when it is not full access: `snapshot` is then
   * the scope's filtered view, and paths and ops outside it are `forbidden`.
   */
  scope?: Scope;
}

/** A validated `wait` request; the server holds it until `evaluateWait` says it is met. */
export interface WaitSpec {
  path: string;
  segments: string[];
  etag?: string;
  minSerial?: number;
  timeoutMs: number;
  /** The scope it is evaluated in (its key's, when not full access): on the filtered view. */
  scope?: Scope;
}

export type Outcome = { kind: 'reply'; body: ReplyBody; cacheable: boolean } | { kind: 'wait'; spec: WaitSpec };

export function errorBody(who: Identity, code: WireErrorCode, message: string, serial = 0, status = 1): ReplyBody {
  return { status, serial, node: who.node, instance: who.instance, error: { code, message } };
}

/**
 * The message of `forbidden`: the key and what it asked for, nothing about the document (a path
 * outside the scope is forbidden whether or not it exists).
 */
export function forbiddenMessage(path: string): string {
  return `${JSON.stringify(path)} is outside this key's scope`;
}

/** Whether the request's scope keeps it from `segments`. */
function outOfScope(ctx: QueryContext, segments: readonly string[]): boolean {
  return ctx.scope !== undefined && !ctx.scope.allows(segments);
}

/** An mget entry with its proof (from a signed document). */
function proved(entry: Record<string, unknown>, proof: RawMsgpack | undefined): Record<string, unknown> {
  if (proof) entry.proof = proof;
  return entry;
}

function okBody(ctx: QueryContext, answer: unknown, etag?: string): ReplyBody {
  const body: ReplyBody = { status: 0, serial: ctx.snapshot ? ctx.snapshot.serial : 0, node: ctx.node, instance: ctx.instance, answer };
  if (etag !== undefined) body.etag = etag;
  return body;
}

function tooLargeMessage(path: string, why: EncodeFailure, room: number): string {
  return why === 'too_deep'
    ? `the value at ${JSON.stringify(path)} is nested too deeply to send`
    : `the value at ${JSON.stringify(path)} needs more than the ${room} bytes a reply has room for`;
}

/**
 * The proof of what is at `segments` (a value or an absence), encoded, when the snapshot is
 * signed; it takes its bytes from the answer's room.
 */
function pathProof(ctx: QueryContext, segments: readonly string[]): RawMsgpack | undefined {
  const signed = ctx.snapshot?.signed;
  if (signed === undefined || ctx.snapshot === null) return undefined;
  return new RawMsgpack(packBounded(pathProofToWire(signed.tree.provePath(ctx.snapshot.doc, segments)), MAX_BODY_BYTES) as Buffer);
}

function roomLeft(room: number, proof: RawMsgpack | undefined): number {
  return proof === undefined ? room : room - proof.bytes.length;
}

/**
 * The reply carrying `value` (found at `path`): encoded within `room`, or the error `too_large`
 * (with the value's etag when the caller has it: a wait can still tell a change). From a signed
 * document, with the value's proof.
 */
export function valueBody(ctx: QueryContext, path: string, segments: readonly string[], value: unknown, etag?: string, room = ANSWER_BYTES): ReplyBody {
  const proof = pathProof(ctx, segments);
  const bytes = packBounded(value, roomLeft(room, proof));
  const serial = ctx.snapshot ? ctx.snapshot.serial : 0;
  if (typeof bytes === 'string') {
    const body = errorBody(ctx, 'too_large', tooLargeMessage(path, bytes, room), serial);
    if (etag !== undefined) body.etag = etag;
    return body;
  }
  const body = okBody(ctx, new RawMsgpack(bytes), etag ?? etagOf(value));
  if (proof) body.proof = proof;
  return body;
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

/** Nothing at `path`: from a signed document, with the proof of the absence. */
function notFound(ctx: QueryContext, path: string, segments: readonly string[], serial: number): ReplyBody {
  const body = errorBody(ctx, 'not_found', `no value at ${JSON.stringify(path)}`, serial);
  const proof = pathProof(ctx, segments);
  if (proof) body.proof = proof;
  return body;
}

function handleGet(ctx: QueryContext, snap: Snapshot, req: Record<string, unknown>): ReplyBody {
  const p = pathArg(req);
  if (!p.ok) return errorBody(ctx, 'bad_argument', p.message, snap.serial);
  if (outOfScope(ctx, p.value.segments)) return errorBody(ctx, 'forbidden', forbiddenMessage(p.value.path), snap.serial);
  const value = resolveSegments(snap.doc, p.value.segments);
  if (value === undefined) return notFound(ctx, p.value.path, p.value.segments, snap.serial);
  return valueBody(ctx, p.value.path, p.value.segments, value);
}

function handleMget(ctx: QueryContext, snap: Snapshot, req: Record<string, unknown>): ReplyBody {
  const paths = req.paths;
  if (!Array.isArray(paths)) return errorBody(ctx, 'bad_argument', 'paths must be an array of strings', snap.serial);
  if (paths.length > MAX_MGET_PATHS) return errorBody(ctx, 'bad_argument', `at most ${MAX_MGET_PATHS} paths`, snap.serial);
  // The entries share one reply's room: each value is encoded within what is left of it.
  let room = ANSWER_BYTES;
  for (const p of paths) room -= MGET_ENTRY_BYTES + (typeof p === 'string' ? p.length * 6 : 0);
  const answer: Array<Record<string, unknown>> = [];
  for (const path of paths) {
    const p = pathArg({ path });
    if (!p.ok) {
      answer.push({ status: 1, error: { code: 'bad_argument', message: p.message } });
      continue;
    }
    if (outOfScope(ctx, p.value.segments)) {
      answer.push({ status: 1, error: { code: 'forbidden', message: forbiddenMessage(path) } });
      continue;
    }
    const value = resolveSegments(snap.doc, p.value.segments);
    const proof = pathProof(ctx, p.value.segments);
    room = roomLeft(room, proof);
    if (value === undefined) {
      answer.push(proved({ status: 1, error: { code: 'not_found', message: `no value at ${JSON.stringify(path)}` } }, proof));
      continue;
    }
    const bytes = packBounded(value, Math.max(0, room));
    if (typeof bytes === 'string') {
      answer.push({ status: 1, error: { code: 'too_large', message: `the value at ${JSON.stringify(path)} does not fit in the reply` } });
      continue;
    }
    room -= bytes.length;
    answer.push(proved({ status: 0, answer: new RawMsgpack(bytes), etag: etagOf(value) }, proof));
  }
  return okBody(ctx, answer);
}

/**
 * Sorted keys of large objects, by identity (a snapshot's values never change): sorting them
 * again for every listing would cost each request the object's size. An object with more keys
 * than a reply can name is remembered by its key count alone.
 */
const sortedKeysOf = new WeakMap<object, string[] | number>();
const REMEMBER_KEYS = 256;
/** A listing names at most this many entries (each takes two bytes at least). */
const MAX_LIST_ENTRIES = Math.floor(ANSWER_BYTES / 2);

const byCodeUnit = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** The keys of a container in listing order, or undefined when there are too many to list. */
function childNames(value: object): readonly string[] | undefined {
  if (Array.isArray(value)) {
    if (value.length > MAX_LIST_ENTRIES) return undefined;
    return Array.from({ length: value.length }, (_, i) => String(i));
  }
  const known = sortedKeysOf.get(value);
  if (typeof known === 'number') return undefined;
  if (known !== undefined) return known;
  const keys = Object.keys(value);
  if (keys.length > MAX_LIST_ENTRIES) {
    sortedKeysOf.set(value, keys.length);
    return undefined;
  }
  keys.sort(byCodeUnit);
  if (keys.length >= REMEMBER_KEYS) sortedKeysOf.set(value, keys);
  return keys;
}

/**
 * Relative pointers below `value` down to `depth`, within `room` bytes (false: too many). The
 * top level has no prefix (undefined); below a key "" the prefix is "" and names start with "/".
 */
function listChildren(value: unknown, depth: number, prefix: string | undefined, out: string[], room: { left: number }): boolean {
  if (value === null || typeof value !== 'object') return true;
  const names = childNames(value);
  if (names === undefined) return false;
  for (const k of names) {
    const rel = prefix === undefined ? escapeSegment(k) : prefix + '/' + escapeSegment(k);
    // A name's MessagePack string: its UTF-8 and a header.
    const n = Buffer.byteLength(rel, 'utf8');
    room.left -= n + (n < 32 ? 1 : n < 256 ? 2 : 3);
    if (room.left < 0) return false;
    out.push(rel);
    if (depth > 1 && !listChildren((value as Record<string, unknown>)[k], depth - 1, rel, out, room)) return false;
  }
  return true;
}

function handleList(ctx: QueryContext, snap: Snapshot, req: Record<string, unknown>): ReplyBody {
  const p = pathArg(req);
  if (!p.ok) return errorBody(ctx, 'bad_argument', p.message, snap.serial);
  const d = uintArg(req, 'depth');
  if (!d.ok) return errorBody(ctx, 'bad_argument', d.message, snap.serial);
  const depth = d.value ?? 1;
  if (depth < 1 || depth > MAX_LIST_DEPTH) return errorBody(ctx, 'bad_argument', `depth must be 1 to ${MAX_LIST_DEPTH}`, snap.serial);
  if (outOfScope(ctx, p.value.segments)) return errorBody(ctx, 'forbidden', forbiddenMessage(p.value.path), snap.serial);
  const value = resolveSegments(snap.doc, p.value.segments);
  if (value === undefined) return notFound(ctx, p.value.path, p.value.segments, snap.serial);
  if (value === null || typeof value !== 'object') {
    return errorBody(ctx, 'bad_argument', `${JSON.stringify(p.value.path)} is not an object or array`, snap.serial);
  }
  const out: string[] = [];
  if (!listChildren(value, depth, undefined, out, { left: ANSWER_BYTES })) {
    return errorBody(ctx, 'too_large', `the listing of ${JSON.stringify(p.value.path)} to depth ${depth} has more names than a reply has room for`, snap.serial);
  }
  // Depth 1 keeps the container's order (sorted keys, or array indices); deeper lists are
  // relative pointers sorted by code unit.
  if (depth > 1) out.sort(byCodeUnit);
  // From a signed document: the container's proof, and its listing's (its children's hashes).
  const signed = snap.signed;
  const proof = signed && new RawMsgpack(packBounded({ p: pathProofToWire(signed.tree.provePath(snap.doc, p.value.segments)), l: listProofToWire(signed.tree.proveList(value, depth)) }, MAX_BODY_BYTES) as Buffer);
  const bytes = packBounded(out, roomLeft(ANSWER_BYTES, proof));
  if (typeof bytes === 'string') return errorBody(ctx, 'too_large', tooLargeMessage(p.value.path, bytes, ANSWER_BYTES), snap.serial);
  const body = okBody(ctx, new RawMsgpack(bytes));
  body.container = Array.isArray(value) ? 'array' : 'object';
  if (proof) body.proof = proof;
  return body;
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
  if (etag !== undefined && etag !== null && (typeof etag !== 'string' || etag.length > 64)) return { ok: false, message: 'etag must be a string of at most 64 characters' };
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

/** The value a wait looks at on a snapshot, and its etag ('' when absent). */
export interface WaitState {
  found: boolean;
  value: unknown;
  etag: string;
}

/**
 * Whether a wait's condition holds on `snap`, given the value's state there. A missing value
 * has the empty etag, so waiting for a path to appear uses etag "".
 */
export function waitMet(spec: WaitSpec, snap: Snapshot | null, state: WaitState): boolean {
  if (snap === null) return false;
  if (spec.etag !== undefined && state.etag === spec.etag) return false;
  if (spec.minSerial !== undefined && snap.serial < spec.minSerial) return false;
  return true;
}

/** The reply to a wait on this snapshot: met, or (`timedOut`) the state when the hold ended. */
export function waitBody(ctx: QueryContext, spec: WaitSpec, state: WaitState, timedOut: boolean): ReplyBody {
  const snap = ctx.snapshot;
  if (!snap) return { ...errorBody(ctx, 'not_ready', 'no document loaded yet'), timedOut };
  let body: ReplyBody;
  if (state.found) {
    body = valueBody(ctx, spec.path, spec.segments, state.value, state.etag);
  } else {
    body = notFound(ctx, spec.path, spec.segments, snap.serial);
    body.etag = ABSENT_ETAG;
  }
  body.timedOut = timedOut;
  return attest(ctx, body);
}

/** A reply from a signed document carries its signature and commitment (the proofs' anchor). */
export function attest(ctx: QueryContext, body: ReplyBody): ReplyBody {
  const signed = ctx.snapshot?.signed;
  if (signed !== undefined && body.serial === ctx.snapshot?.serial) body.signed = signed.wire;
  return body;
}

const KNOWN_OPS: ReadonlySet<string> = new Set(['ping', 'get', 'mget', 'list', 'wait', 'stats']);

export function handleQuery(ctx: QueryContext, req: Record<string, unknown>, waitCapMs: number): Outcome {
  const out = answerQuery(ctx, req, waitCapMs);
  if (out.kind === 'reply') attest(ctx, out.body);
  return out;
}

function answerQuery(ctx: QueryContext, req: Record<string, unknown>, waitCapMs: number): Outcome {
  const op = req.op;
  if (ctx.scope !== undefined && typeof op === 'string' && KNOWN_OPS.has(op) && !ctx.scope.allowsOp(op)) {
    const body = errorBody(ctx, 'forbidden', `this key may not use the op ${JSON.stringify(op)}`, ctx.snapshot?.serial ?? 0);
    return { kind: 'reply', body, cacheable: op === 'get' || op === 'mget' || op === 'list' };
  }
  if (op === 'ping') return { kind: 'reply', body: okBody(ctx, pingAnswer(ctx)), cacheable: false };
  if (op === 'stats') return { kind: 'reply', body: okBody(ctx, ctx.stats()), cacheable: false };
  if (op === 'wait') {
    const w = parseWait(req, waitCapMs);
    if (!w.ok) return { kind: 'reply', body: errorBody(ctx, 'bad_argument', w.message, ctx.snapshot?.serial ?? 0), cacheable: false };
    if (outOfScope(ctx, w.value.segments)) return { kind: 'reply', body: errorBody(ctx, 'forbidden', forbiddenMessage(w.value.path), ctx.snapshot?.serial ?? 0), cacheable: false };
    return { kind: 'wait', spec: ctx.scope === undefined ? w.value : { ...w.value, scope: ctx.scope } };
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
