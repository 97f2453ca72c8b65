// Checking a daemon's answer against the publisher's signature (docs/protocol.md, "Verified
// answers"), for a client given trusted keys: the reply's signed commitment must come from a
// trusted key, be unexpired and not older than one already accepted, and the answer — a value, an
// absence, a listing, a serial — must be proven against it. A daemon that holds the HMAC key can
// still withhold or lag; it can no longer make the client accept what the publisher did not sign.
import { isJsonValue } from '../shared/commitment.js';
import { listProofFromWire, listedHash, pathProofFromWire, verifyPath } from '../shared/commitment-proof.js';
import { ABSENT_ETAG, etagOf } from '../shared/etag.js';
import { parsePointer } from '../shared/json-pointer.js';
import { whenMs, type SignedRoot, type TrustKeys } from '../shared/signing.js';
import type { Reply, Request } from './types.js';

/** An answer the proof holds, one that cannot be proven (an error such as busy), or a forgery and why. */
export type Verdict = { kind: 'verified'; serial: number } | { kind: 'unproven' } | { kind: 'forged'; why: string };

const FORGED = (why: string): Verdict => ({ kind: 'forged', why });
const uint = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;

function signedRoot(v: unknown): SignedRoot | undefined {
  if (v === null || typeof v !== 'object') return undefined;
  const o = v as Record<string, unknown>;
  if (!(o.root instanceof Uint8Array) || o.root.length !== 32 || !(o.sig instanceof Uint8Array)) return undefined;
  if (typeof o.key !== 'string' || !uint(o.serial) || !uint(o.expires)) return undefined;
  return { root: o.root, sig: o.sig, key: o.key, serial: o.serial, expires: o.expires };
}

/** Signatures already checked (a long-lived client checks each new serial's once), bounded. */
export class SignatureCache {
  private readonly ok = new Map<string, string | undefined>();
  constructor(private readonly trust: TrustKeys) {}

  /** Why the signed root is not trusted, or undefined. */
  check(s: SignedRoot, now: number): string | undefined {
    if (!(s.expires > now)) return `its signature expired at ${whenMs(s.expires)}`;
    const id = `${Buffer.from(s.sig).toString('base64')}:${Buffer.from(s.root).toString('base64')}:${s.serial}:${s.expires}:${s.key}`;
    if (this.ok.has(id)) return this.ok.get(id);
    const why = this.trust.check(s, now);
    if (this.ok.size >= 1024) this.ok.delete(this.ok.keys().next().value as string);
    this.ok.set(id, why);
    return why;
  }
}

function segmentsOf(path: unknown): string[] | undefined {
  if (typeof path !== 'string') return undefined;
  const p = parsePointer(path);
  return p.ok ? p.segments : undefined;
}

/**
 * A value's or an absence's proof, in a reply (or an mget entry) that is one or the other. What
 * else the reply says of the value must be the proven value's too: its etag (a wait's condition,
 * a change's test) is recomputed, and an absence carries neither an answer nor a value's etag.
 */
function checkValue(root: Uint8Array, segments: string[], status: number, answer: unknown, etag: unknown, proofWire: unknown): Verdict | undefined {
  if (status === 0) {
    // undefined, NaN or bytes hash as JSON text cannot tell them: no JSON value, nothing proven.
    if (!isJsonValue(answer)) return FORGED('its answer is not a JSON value');
    // Required: a missing one would read as "absent" to a wait's test of a change.
    if (etag !== etagOf(answer)) return FORGED('its etag is not its answer\'s');
  } else if (answer !== undefined || (etag !== undefined && etag !== ABSENT_ETAG)) {
    return FORGED('its "not found" carries a value');
  }
  const proof = pathProofFromWire(proofWire);
  if (!proof) return FORGED('no proof with its answer');
  const ok = status === 0 ? verifyPath(root, segments, proof, { found: true, value: answer }) : verifyPath(root, segments, proof, { found: false });
  return ok ? undefined : FORGED(status === 0 ? 'its answer does not match the signed document' : 'its "not found" is not proven by the signed document');
}

/** Whether a reply (or an mget entry) is a value (status 0) or an absence (not_found): what proofs prove. */
function provable(status: unknown, code: unknown): boolean {
  return status === 0 || (status === 1 && code === 'not_found');
}

/** The ops whose answers come from the document, and are proven. */
export const PROVEN_OPS: ReadonlySet<string> = new Set(['ping', 'get', 'mget', 'list', 'wait']);

/**
 * The verdict on `reply` to `request` (one of PROVEN_OPS). An older serial is no forgery (a
 * daemon may lag); the client's monotonic reads keep it from becoming the newest answer.
 */
export function verifyAnswer(request: Request, reply: Reply, sigs: SignatureCache, now: number): Verdict {
  // Only a value and an absence can be proven; any other error (busy, too_large, …) is no answer
  // from the document, whoever sends it: never a vote.
  if (!provable(reply.status, reply.error?.code)) return { kind: 'unproven' };
  const s = signedRoot(reply.signed);
  if (!s) return FORGED('its answer is not signed');
  const why = sigs.check(s, now);
  if (why !== undefined) return FORGED(why);
  if (reply.serial !== s.serial) return FORGED(`it answers for serial ${reply.serial} under a signature for serial ${s.serial}`);
  const op = request.op;
  const verified: Verdict = { kind: 'verified', serial: s.serial };
  if (op === 'ping') {
    const a = reply.answer as { serial?: unknown } | undefined;
    return reply.status === 0 && a?.serial === s.serial ? verified : FORGED('its serial is not the signed one');
  }
  if (op === 'get' || op === 'wait') {
    const segs = segmentsOf(request.path);
    if (!segs) return { kind: 'unproven' };
    return checkValue(s.root, segs, reply.status, reply.answer, reply.etag, reply.proof) ?? verified;
  }
  if (op === 'mget') {
    const paths = request.paths;
    const entries = reply.answer;
    if (reply.status !== 0) return { kind: 'unproven' };
    if (!Array.isArray(paths) || !Array.isArray(entries) || entries.length !== paths.length) return FORGED('its answer does not have one entry per path');
    for (let i = 0; i < paths.length; i++) {
      const e = entries[i] as { status?: unknown; answer?: unknown; etag?: unknown; error?: { code?: unknown }; proof?: unknown } | null;
      const segs = segmentsOf(paths[i]);
      if (e === null || typeof e !== 'object' || typeof e.status !== 'number') return FORGED('an entry of its answer is malformed');
      // An entry too large for the reply's room proves nothing and claims nothing but that: kept
      // as that error alone (the caller reads the path by itself), nothing else in it believed.
      if (segs && e.status !== 0 && e.error?.code === 'too_large') {
        entries[i] = { status: e.status, error: e.error };
        continue;
      }
      // Any other entry that is neither a value nor an absence (forbidden, …) cannot be proven:
      // nor can the answer (such an entry must not pass for an absence).
      if (!segs || !provable(e.status, e.error?.code)) return { kind: 'unproven' };
      const bad = checkValue(s.root, segs, e.status, e.answer, e.etag, e.proof);
      if (bad) return bad;
    }
    return verified;
  }
  if (op === 'list') {
    const segs = segmentsOf(request.path);
    if (!segs) return { kind: 'unproven' };
    if (reply.status !== 0) return checkValue(s.root, segs, reply.status, reply.answer, reply.etag, reply.proof) ?? verified;
    const w = reply.proof as { p?: unknown; l?: unknown } | undefined;
    const pathProof = pathProofFromWire(w?.p);
    const listProof = listProofFromWire(w?.l);
    const names = reply.answer;
    const depth = typeof request.depth === 'number' ? request.depth : 1;
    if (!pathProof || !listProof || !Array.isArray(names) || names.some((n) => typeof n !== 'string')) return FORGED('no proof with its listing');
    const h = listedHash(reply.container === 'array', names as string[], listProof, depth);
    if (h === undefined || !verifyPath(s.root, segs, pathProof, { found: true, hash: h })) return FORGED('its listing does not match the signed document');
    return verified;
  }
  // Counters (stats) are the daemon's own, not the document's: nothing to prove.
  return { kind: 'unproven' };
}

/** What a client given trusted keys takes of a reply: a vote, or none (and why, when forged). */
export type Admission = { vote: Reply; forged?: undefined } | { vote: undefined; forged?: string };

/**
 * The reply as a vote, or none. No value is taken unproven. An error (too_large, busy,
 * bad_argument…) is no value: it counts as the error it names, with nothing else in it believed
 * — no answer, etag or proof, and serial 0, so that it never passes for a newer document.
 */
export function admitted(request: Request, reply: Reply, sigs: SignatureCache): Admission {
  const v = verdictOn(request, reply, sigs);
  if (v.kind === 'verified') return { vote: reply };
  if (v.kind === 'forged') return { vote: undefined, forged: v.why };
  if (reply.status === 0) return { vote: undefined };
  const vote: Reply = { status: reply.status, serial: 0, error: reply.error };
  if (reply.node !== undefined) vote.node = reply.node;
  if (reply.instance !== undefined) vote.instance = reply.instance;
  return { vote };
}

/** verifyAnswer, with anything it throws on a malformed proof judged a forgery (never thrown into the socket's handler). */
function verdictOn(request: Request, reply: Reply, sigs: SignatureCache): Verdict {
  try {
    return verifyAnswer(request, reply, sigs, Date.now());
  } catch (e) {
    return { kind: 'forged', why: `its proof is malformed (${(e as Error).message})` };
  }
}
