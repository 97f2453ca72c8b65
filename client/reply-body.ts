// A QCF1 reply body as the client sees it (protocol.md, "Reply body"): the fields it uses,
// checked for type; anything else a newer daemon adds is ignored.
import type { Reply } from './types.js';

/** A reply body as the client sees it: undefined unless it has a numeric status and serial. */
export function normaliseReply(body: Record<string, unknown>): Reply | undefined {
  const { status, serial } = body;
  if (typeof status !== 'number' || typeof serial !== 'number') return undefined;
  const r: Reply = { status, serial };
  if (typeof body.node === 'string') r.node = body.node;
  if (typeof body.instance === 'string') r.instance = body.instance;
  if (body.cookie instanceof Uint8Array) r.cookie = body.cookie;
  if (body.container === 'object' || body.container === 'array') r.container = body.container;
  if (body.signed !== undefined) r.signed = body.signed;
  if (body.proof !== undefined) r.proof = body.proof;
  if ('answer' in body) r.answer = body.answer;
  if (typeof body.etag === 'string') r.etag = body.etag;
  if (typeof body.timedOut === 'boolean') r.timedOut = body.timedOut;
  const e = body.error as Record<string, unknown> | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    r.error = { code: e.code, message: typeof e.message === 'string' ? e.message : '' };
  }
  return r;
}
