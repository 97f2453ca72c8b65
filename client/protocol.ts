// Wire adapters the client speaks: each turns a request into signed bytes under a salt, and a
// datagram back into (salt, normalised reply) — or nothing, if it is not an authentic reply.
import { randomFillSync } from 'node:crypto';
import type { Keyring } from '../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_REQUEST, frame, verifyDatagram } from '../shared/qcf1-frame.js';
import { normaliseReply, packBody, unpackBody } from './qcf1-lean.js';
import type { Reply, Request } from './types.js';

export interface ClientProtocol {
  /** A fresh salt for one transmission, as a string key. */
  newSalt(): string;
  encode(request: Request, salt: string): Buffer;
  decode(datagram: Buffer): { salt: string; reply: Reply } | undefined;
}

/** A QCF1 body codec: one MessagePack map, written, or read from `start` to the datagram's end. */
export interface BodyCodec {
  pack(body: object): Buffer;
  unpack(datagram: Buffer, start: number): Record<string, unknown> | undefined;
}

/** The client's own codec (qcf1-lean.ts): msgpackr's bytes without loading msgpackr. */
const LEAN_CODEC: BodyCodec = { pack: packBody, unpack: unpackBody };

/**
 * Random bytes for salts, drawn 4 KB at a time: one call into the CSPRNG per 256 salts instead
 * of a call and a Buffer per datagram (a quorum query sends five).
 */
const saltPool = Buffer.allocUnsafeSlow(4096);
let saltAt = saltPool.length;

export class Qcf1ClientProtocol implements ClientProtocol {
  constructor(
    private readonly keyring: () => Keyring,
    private readonly clock: () => number = Date.now,
    private readonly codec: BodyCodec = LEAN_CODEC,
  ) {}

  newSalt(): string {
    if (saltAt + 16 > saltPool.length) {
      randomFillSync(saltPool);
      saltAt = 0;
    }
    saltAt += 16;
    return saltPool.toString('latin1', saltAt - 16, saltAt);
  }

  encode(request: Request, salt: string): Buffer {
    return frame(KIND_REQUEST, this.keyring().signer, this.clock(), Buffer.from(salt, 'latin1'), 0, this.codec.pack(request));
  }

  decode(datagram: Buffer): { salt: string; reply: Reply } | undefined {
    // Header and MAC (in constant time) before a byte of the body is looked at.
    const v = verifyDatagram(datagram, this.keyring(), KIND_REPLY);
    if (!v.ok) return undefined;
    const body = this.codec.unpack(datagram, HEADER_LEN);
    const reply = body && normaliseReply(body);
    if (!reply) return undefined;
    return { salt: v.header.salt.toString('latin1'), reply };
  }
}
