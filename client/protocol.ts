// Wire adapters the client speaks: each turns a request into signed bytes under a salt, and a
// datagram back into (salt, normalised reply) — or nothing, if it is not an authentic reply.
import { randomBytes } from 'node:crypto';
import type { Keyring } from '../shared/keyring.js';
import { KIND_REPLY, KIND_REQUEST, decodeBody, encodeDatagram, verifyDatagram } from '../shared/qcf1.js';
import type { Reply, Request } from './types.js';

export interface ClientProtocol {
  /** A fresh salt for one transmission, as a string key. */
  newSalt(): string;
  encode(request: Request, salt: string): Buffer;
  decode(datagram: Buffer): { salt: string; reply: Reply } | undefined;
}

export function normaliseReply(body: Record<string, unknown>): Reply | undefined {
  const { status, serial } = body;
  if (typeof status !== 'number' || typeof serial !== 'number') return undefined;
  const r: Reply = { status, serial };
  if (typeof body.node === 'string') r.node = body.node;
  if ('answer' in body) r.answer = body.answer;
  if (typeof body.etag === 'string') r.etag = body.etag;
  if (typeof body.timedOut === 'boolean') r.timedOut = body.timedOut;
  const e = body.error as Record<string, unknown> | undefined;
  if (e && typeof e === 'object' && typeof e.code === 'string') {
    r.error = { code: e.code, message: typeof e.message === 'string' ? e.message : '' };
  }
  return r;
}

export class Qcf1ClientProtocol implements ClientProtocol {
  constructor(
    private readonly keyring: () => Keyring,
    private readonly clock: () => number = Date.now,
  ) {}

  newSalt(): string {
    return randomBytes(16).toString('latin1');
  }

  encode(request: Request, salt: string): Buffer {
    return encodeDatagram(KIND_REQUEST, this.keyring().signer, this.clock(), Buffer.from(salt, 'latin1'), request);
  }

  decode(datagram: Buffer): { salt: string; reply: Reply } | undefined {
    const v = verifyDatagram(datagram, this.keyring(), KIND_REPLY);
    if (!v.ok) return undefined;
    const body = decodeBody(datagram);
    const reply = body && normaliseReply(body);
    if (!reply) return undefined;
    return { salt: v.header.salt.toString('latin1'), reply };
  }
}
