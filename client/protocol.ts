// Wire adapters the client speaks: each turns a request into signed bytes under a salt, and a
// datagram back into (salt, normalised reply) — or nothing, if it is not an authentic reply.
import { randomBytes } from 'node:crypto';
import type { Keyring } from '../shared/keyring.js';
import { KIND_REPLY, KIND_REQUEST, decodeBody, encodeDatagram, verifyDatagram } from '../shared/qcf1.js';
// normaliseReply lives with the lean codec, which must not import this module's msgpackr.
import { normaliseReply } from './qcf1-lean.js';
import type { Reply, Request } from './types.js';

export { normaliseReply };

export interface ClientProtocol {
  /** A fresh salt for one transmission, as a string key. */
  newSalt(): string;
  encode(request: Request, salt: string): Buffer;
  decode(datagram: Buffer): { salt: string; reply: Reply } | undefined;
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
