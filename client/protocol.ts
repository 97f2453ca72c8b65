// Wire adapters the client speaks: each turns a request into signed bytes under a salt, and a
// datagram back into (salt, normalised reply) — or nothing, if it is not an authentic reply.
import { randomFillSync } from 'node:crypto';
import type { Keyring } from '../shared/keyring.js';
import { HEADER_LEN, KIND_REPLY, KIND_REQUEST, KIND_SEALED_REPLY, KIND_SEALED_REQUEST, frame, frameInPlace, verifyDatagram } from '../shared/qcf1-frame.js';
import { SEAL_OVERHEAD, openBody, sealBody, sealKeys } from '../shared/seal.js';
import { packBody } from '../shared/msgpack-encode.js';
import { unpackBody } from '../shared/msgpack-decode.js';
import { normaliseReply } from './reply-body.js';
import type { Reply, Request } from './types.js';

/** Where one transmission goes, and what it carries for that daemon (QCF1; plj0 ignores it). */
export interface Transmission {
  /** The request's `to`: the address and port it is sent to (shared/destination.ts). */
  to: string;
  /** The daemon's cookie for this client's address, when it asked for one. */
  cookie?: Uint8Array;
  /** Pad the datagram to at least this many bytes (answers up to its size need no cookie). */
  padTo: number;
}

export interface ClientProtocol {
  /**
   * Whether every reply's serial is the document's (QCF1), so that a client can refuse to go
   * back in serial; Ganeti's answers carry some objects' own serials.
   */
  readonly documentSerials: boolean;
  /** A fresh salt for one transmission, as a string key. */
  newSalt(): string;
  encode(request: Request, salt: string, t: Transmission): Buffer;
  decode(datagram: Buffer): { salt: string; reply: Reply } | undefined;
}

/** A QCF1 body codec: one MessagePack map, written, or read from `start` to the datagram's end. */
export interface BodyCodec {
  pack(body: object): Buffer;
  unpack(datagram: Buffer, start: number): Record<string, unknown> | undefined;
}

const EMPTY = Buffer.alloc(0);

/**
 * A body ending in an empty `pad` (bin 8, length 0), padded to `size` bytes by growing that bin:
 * its zero bytes are covered by the MAC like the rest and ignored by the daemon.
 */
function padded(body: Buffer, size: number): Buffer {
  let n = size - body.length;
  if (n <= 0) return body;
  const bin16 = n >= 256;
  if (bin16) n -= 1;
  const head = bin16 ? Buffer.from([0xc5, n >> 8, n & 255]) : Buffer.from([0xc4, n]);
  return Buffer.concat([body.subarray(0, body.length - 2), head, Buffer.alloc(n)]);
}

/** The QCF1 body codec (shared/msgpack-encode.ts, shared/msgpack-decode.ts). */
const LEAN_CODEC: BodyCodec = { pack: packBody, unpack: unpackBody };

/**
 * Random bytes for salts, drawn 4 KB at a time: one call into the CSPRNG per 256 salts instead
 * of a call and a Buffer per datagram (a quorum query sends five).
 */
const saltPool = Buffer.allocUnsafeSlow(4096);
let saltAt = saltPool.length;

/**
 * QCF1, its bodies in clear or, with `seal`, sealed (docs/protocol.md, "Sealed traffic"): a
 * sealing client sends sealed requests and accepts only sealed replies, and the other way round.
 */
export class Qcf1ClientProtocol implements ClientProtocol {
  readonly documentSerials = true;

  constructor(
    private readonly keyring: () => Keyring,
    private readonly clock: () => number = Date.now,
    private readonly codec: BodyCodec = LEAN_CODEC,
    private readonly seal = false,
  ) {}

  newSalt(): string {
    if (saltAt + 16 > saltPool.length) {
      randomFillSync(saltPool);
      saltAt = 0;
    }
    saltAt += 16;
    return saltPool.toString('latin1', saltAt - 16, saltAt);
  }

  encode(request: Request, salt: string, t: Transmission): Buffer {
    const body: Record<string, unknown> = { ...request, to: t.to };
    if (t.cookie !== undefined) body.cookie = t.cookie;
    body.pad = EMPTY;
    const key = this.keyring().signer;
    const saltBytes = Buffer.from(salt, 'latin1');
    if (!this.seal) return frame(KIND_REQUEST, key, this.clock(), saltBytes, 0, padded(this.codec.pack(body), t.padTo - HEADER_LEN));
    // The plaintext is padded so that the sealed datagram is padTo bytes, as an unsealed one is.
    const plain = padded(this.codec.pack(body), t.padTo - HEADER_LEN - SEAL_OVERHEAD);
    return frameInPlace(sealBody(sealKeys(key).request, plain, 0, plain.length, HEADER_LEN), KIND_SEALED_REQUEST, key, this.clock(), saltBytes, 0);
  }

  decode(datagram: Buffer): { salt: string; reply: Reply } | undefined {
    // Header and MAC (in constant time) before a byte of the body is looked at.
    const v = verifyDatagram(datagram, this.keyring(), this.seal ? KIND_SEALED_REPLY : KIND_REPLY);
    if (!v.ok) return undefined;
    let at = datagram;
    if (this.seal) {
      const opened = openBody(sealKeys(v.key).reply, datagram, HEADER_LEN, datagram.length, HEADER_LEN);
      if (opened === undefined) return undefined;
      at = opened;
    }
    const body = this.codec.unpack(at, HEADER_LEN);
    const reply = body && normaliseReply(body);
    if (!reply) return undefined;
    return { salt: v.header.salt.toString('latin1'), reply };
  }
}
